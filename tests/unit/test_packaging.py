"""Packaging metadata that must stay true: the license, the Pythons, the bounds, the sdist's tests.

Offline and fast. Building and installing the sdist and the wheel (fresh
environments on the lowest and the newest Python, the sdist's own tests) is
CI's ``make package-check`` (``.ci/packaging.py``): it needs PyPI.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
from support.paths import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
#: The lowest and the newest Python CI runs the suite on (Makefile PYTHON_LOWEST / _NEWEST).
LOWEST, NEWEST = (3, 11), (3, 13)


def _ci_module(name: str) -> ModuleType:
    path = ROOT / ".ci" / f"{name}.py"
    if not path.exists():
        pytest.fail(f"{path} is missing (the sdist does not ship .ci/; run this from a checkout)")
    spec = importlib.util.spec_from_file_location(f"_ci_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_license_is_mit_and_names_the_contributors() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n")
    assert re.search(r"^Copyright \(c\) \d{4} wandb-cassettes contributors$", text, re.M)
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in text
    assert PROJECT["license"] == "MIT"  # PEP 639 expression, License-Expression in METADATA
    assert PROJECT["license-files"] == ["LICENSE"]
    # PEP 639: no "License ::" classifier beside the expression (setuptools refuses it).
    assert not [c for c in PROJECT["classifiers"] if c.startswith("License ::")]


def test_python_versions_agree_everywhere() -> None:
    assert PROJECT["requires-python"] == f">={LOWEST[0]}.{LOWEST[1]}"
    versions = sorted(
        tuple(int(p) for p in c.rsplit(" ", 1)[1].split("."))
        for c in PROJECT["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    )
    assert versions == [(3, minor) for minor in range(LOWEST[1], NEWEST[1] + 1)]
    assert PYPROJECT["tool"]["ruff"]["target-version"] == f"py3{LOWEST[1]}"
    assert PYPROJECT["tool"]["mypy"]["python_version"] == f"3.{LOWEST[1]}"
    makefile = (ROOT / "Makefile").read_text()
    assert f"PYTHON_LOWEST ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.{LOWEST[1]}*" in (
        makefile
    )
    assert f"PYTHON_NEWEST ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.{NEWEST[1]}*" in (
        makefile
    )
    assert sys.version_info[:2] >= LOWEST


def test_classifiers_and_urls() -> None:
    classifiers = PROJECT["classifiers"]
    for needed in ("Framework :: Pytest", "Programming Language :: Python :: 3 :: Only"):
        assert needed in classifiers
    assert "Typing :: Typed" in classifiers and (ROOT / "wandb_cassettes/py.typed").exists()
    assert len(classifiers) == len(set(classifiers))
    urls = PROJECT["urls"]
    assert {"Homepage", "Source", "Issues"} <= set(urls)
    assert all(u.startswith("https://") for u in urls.values())
    entry = PROJECT["entry-points"]["pytest11"]
    assert entry == {
        "wandb_cassettes": "wandb_cassettes.plugin",
        "wandb_cassettes_markers": "wandb_cassettes.markers",  # markers with the plugin off
    }  # `-p no:wandb_cassettes`


def test_every_dependency_has_a_lower_bound_ci_installs() -> None:
    requirements = _ci_module("requirements")
    pins = requirements.lowest(ROOT)
    assert len(pins) == len(PROJECT["dependencies"])
    for pin, requirement in zip(pins, PROJECT["dependencies"], strict=True):
        name, specifiers, _ = requirements.split(requirement)
        (bound,) = re.findall(r">=\s*([0-9][^,\s]*)", specifiers)
        assert pin == f"{name}=={bound}"
        # a full release number: `==8` would also match 8.0.0, but say what is tested
        assert bound.count(".") >= 1, requirement


def test_the_newest_python_gets_the_test_extra_without_torch() -> None:
    """Nothing left in it pulls torch in (pip would fetch a multi-GB CUDA build for it)."""
    import importlib.metadata as metadata

    makefile = (ROOT / "Makefile").read_text()
    (needs,) = re.findall(r"^NEEDS_TORCH \?= (.+)$", makefile, flags=re.M)
    assert "extra test --without $(NEEDS_TORCH)" in makefile
    assert f"--without {needs}" in (ROOT / "tox.ini").read_text()
    requirements = _ci_module("requirements")
    left = requirements.extra("test", needs.split(), ROOT)
    assert "torch" in str(PROJECT["optional-dependencies"]["test"]) and left
    for requirement in left:
        name = re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0]
        wanted = [r for r in metadata.requires(name) or [] if "extra ==" not in r.replace('"', " ")]
        assert not [r for r in wanted if re.match(r"torch\b", r)], (name, wanted)


# -- the sdist ---------------------------------------------------------------------------------


def _project_files() -> list[str]:
    """The files of a clean checkout (git), or of this unpacked sdist (no git)."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        ).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        return sorted(
            str(p.relative_to(ROOT))
            for p in ROOT.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        )
    return sorted(p for p in out.split("\0") if p and (ROOT / p).is_file())


def _manifest(files: list[str]) -> set[str]:
    """The files MANIFEST.in adds (the commands it uses; any other is an error here)."""
    chosen: set[str] = set()
    for raw in (ROOT / "MANIFEST.in").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        command, *args = line.split()
        for arg in args:
            if command == "include":
                chosen |= {f for f in files if fnmatch.fnmatch(f, arg)}
            elif command == "graft":
                chosen |= {f for f in files if f.startswith(arg.rstrip("/") + "/")}
            elif command == "prune":
                chosen = {f for f in chosen if not f.startswith(arg.rstrip("/") + "/")}
            elif command == "global-exclude":
                chosen = {f for f in chosen if not fnmatch.fnmatch(Path(f).name, arg)}
            else:
                pytest.fail(f"MANIFEST.in: {command!r} is not understood by this test")
    return chosen


def test_the_sdist_ships_the_tests_their_helpers_and_the_example() -> None:
    files = _project_files()
    shipped = _manifest(files)
    for folder in ("tests", "examples", "cassettes"):
        missing = [f for f in files if f.startswith(folder + "/") and f not in shipped]
        assert not missing, f"MANIFEST.in leaves out {missing}"
    for helper in ("tests/conftest.py", "tests/support/flows.py", "tests/support/__init__.py"):
        assert helper in shipped
    assert {"LICENSE", "README.md"} <= shipped
    assert not [f for f in shipped if f.endswith((".pyc", ".pyo"))]


# -- torch ------------------------------------------------------------------------------------


def _imports_torch_at_the_top(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, ast.Import) and any(
            a.name.split(".")[0] == "torch" for a in node.names
        ):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "torch":
            return True
    return False


def _marks_the_module_torch(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
        ):
            return "pytest.mark.torch" in ast.unparse(node.value)
    return False


def test_modules_that_import_torch_are_marked_torch() -> None:
    """Where torch is missing (CI's newest Python), such a module must be left out whole."""
    assert any(
        m.startswith("torch:") for m in PYPROJECT["tool"]["pytest"]["ini_options"]["markers"]
    )
    unmarked = []
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        tree = ast.parse(path.read_text())
        if _imports_torch_at_the_top(tree) and not _marks_the_module_torch(tree):
            unmarked.append(str(path.relative_to(ROOT)))
    assert not unmarked, (
        f"import torch at the top but no `pytestmark = pytest.mark.torch`: {unmarked}"
    )
