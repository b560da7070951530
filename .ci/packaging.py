"""Packaging, as a user meets it: the sdist and the wheel, built from a clean copy, installed fresh.

    python .ci/packaging.py --python PYTHON3.11 --python PYTHON3.13 [--without PKG ...]

1. A clean copy of the work tree: the files git tracks or would track (none it
   ignores: no virtual environment, build/ or caches).
2. ``python -m build`` there (in a throwaway environment): the sdist, then the
   wheel built from the sdist.
3. The wheel holds the package, ``py.typed``, the pytest11 entry point and
   the LICENSE, and no file of the stand-in backend (its own distribution, built
   from ``standin/`` and installed by the ``standin`` extra); its metadata says
   MIT, Python >= 3.11, the classifiers and URLs; the sdist holds every tracked
   file of the tests, their helpers, the example project and its cassettes, the
   stand-in's distribution, and the LICENSE.
4. For each ``--python``: a fresh virtual environment, ``pip install`` the
   wheel, import the plugin, and check that pytest loads it by its entry point
   (``pytest --help`` lists its options) and that the ``wandb-cassettes``
   command runs.
5. The sdist unpacked in a temporary folder, installed (with the ``test`` extra less
   ``--without``: torch and what needs it) into the first environment, and a fast part
   of its own tests (:data:`SDIST_TESTS`) run from there against the installed package.

Exit 0 when all holds. Needs PyPI (pip) for the dependencies.
"""

from __future__ import annotations

import argparse
import email.parser
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from requirements import extra  # noqa: E402  (.ci/requirements.py)

#: A fast part of the sdist's tests: the plugin beside pytest-recording end to end (conftest,
#: support/flows.py, the stand-in), cassette files (support/cassette_builders.py), the
#: committed cassettes.
SDIST_TESTS = [
    "tests/unit/test_interop.py",
    "tests/e2e/test_interop.py",
    "tests/unit/test_cassette.py",
    "tests/unit/test_cli.py",
    "tests/e2e/test_cli.py",
    "tests/unit/test_fidelity.py",
]
#: Folders whose every tracked file the sdist must hold.
SDIST_FOLDERS = ("tests", "examples", "cassettes", "standin")


def run(cmd: list[Any], quiet: bool = False, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run ``cmd``; ``quiet``: its output only if it fails."""
    print("+", " ".join(str(c) for c in cmd), flush=True)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", **kwargs.pop("env", {})}
    if quiet:
        kwargs["capture_output"] = True
    started = time.monotonic()
    try:
        return subprocess.run([str(c) for c in cmd], check=True, text=True, env=env, **kwargs)
    except subprocess.CalledProcessError as exc:
        if quiet:
            print(exc.stdout[-10000:], exc.stderr[-10000:], sep="\n")
        raise
    finally:
        print(f"  ({time.monotonic() - started:.1f} s)", flush=True)


def tracked(root: Path = ROOT) -> list[str]:
    """What a clean checkout holds: files git tracks or would track, present in the work tree."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        check=True,
        capture_output=True,
    ).stdout.decode()
    return sorted({p for p in out.split("\0") if p and (root / p).is_file()})


def clean_copy(into: Path, root: Path = ROOT) -> Path:
    for name in tracked(root):
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target)
    return into


def build(source: Path, out: Path, work: Path) -> tuple[Path, Path]:
    """``python -m build`` (sdist, then the wheel from it); returns (sdist, wheel)."""
    env = work / "build-env"
    run([sys.executable, "-m", "venv", env])
    run([env / "bin/python", "-m", "pip", "install", "--quiet", "build"])
    run([env / "bin/python", "-m", "build", "--outdir", out, source], quiet=True)
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return sdist, wheel


def check_wheel(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        (info,) = {n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info")}
        metadata = email.parser.Parser().parsestr(zf.read(f"{info}/METADATA").decode())
        entry_points = zf.read(f"{info}/entry_points.txt").decode()
        license_text = zf.read(f"{info}/licenses/LICENSE").decode()
    problems = []
    if "MIT License" not in license_text or "wandb-cassettes contributors" not in license_text:
        problems.append("LICENSE is not the MIT license of the wandb-cassettes contributors")
    expected = {
        "License-Expression": "MIT",
        "License-File": "LICENSE",
        "Requires-Python": ">=3.11",
    }
    for key, value in expected.items():
        if metadata.get(key) != value:
            problems.append(f"METADATA {key}: {metadata.get(key)!r}, expected {value!r}")
    classifiers = metadata.get_all("Classifier") or []
    for needed in (
        "Framework :: Pytest",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.13",
    ):
        if needed not in classifiers:
            problems.append(f"METADATA has no classifier {needed!r}")
    if not metadata.get_all("Project-URL"):
        problems.append("METADATA has no Project-URL")
    if "[pytest11]" not in entry_points or "wandb_cassettes = wandb_cassettes.plugin" not in (
        entry_points
    ):
        problems.append(f"no pytest11 entry point: {entry_points!r}")
    for needed in ("wandb_cassettes/plugin.py", "wandb_cassettes/py.typed"):
        if needed not in names:
            problems.append(f"the wheel has no {needed}")
    if stray := sorted({n.split("/")[0] for n in names} - {"wandb_cassettes", info}):
        problems.append(f"the wheel installs more than the package: {stray}")
    if standin := [n for n in names if "standin" in n.lower()]:
        problems.append(f"the wheel holds stand-in code (the standin extra's): {standin[:5]}")
    report("wheel", wheel, problems)


def check_sdist(sdist: Path, root: Path = ROOT) -> None:
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    needed = [
        p for p in tracked(root) if p.split("/")[0] in SDIST_FOLDERS and not p.endswith(".pyc")
    ]
    needed += ["LICENSE", "README.md", "pyproject.toml", "MANIFEST.in", "PKG-INFO"]
    problems = [f"the sdist has no {p}" for p in needed if p not in names]
    report("sdist", sdist, problems)


def report(what: str, path: Path, problems: list[str]) -> None:
    if problems:
        print(f"FAIL {what} {path.name}:")
        print("\n".join(f"  {p}" for p in problems))
        raise SystemExit(1)
    print(f"ok   {what} {path.name}", flush=True)


def fresh_env(python: str, where: Path) -> Path:
    run([python, "-m", "venv", where])
    run([where / "bin/python", "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    return where


def check_installed_wheel(env: Path, wheel: Path, work: Path) -> None:
    """Install the wheel, import the plugin, see pytest load it by its entry point."""
    run([env / "bin/python", "-m", "pip", "install", "--quiet", wheel])
    run(
        [
            env / "bin/python",
            "-c",
            "import sys, importlib.metadata as m, wandb_cassettes, wandb_cassettes.plugin\n"
            "eps = [e.value for e in m.entry_points(group='pytest11')]\n"
            "assert 'wandb_cassettes.plugin' in eps, eps\n"
            "assert 'site-packages' in wandb_cassettes.__file__, wandb_cassettes.__file__\n"
            "print(sys.version.split()[0], 'imports wandb_cassettes', wandb_cassettes.__version__)",
        ],
        cwd=work,  # not the repository: the installed package, not the source tree
    )
    empty = work / f"empty-{env.name}"
    empty.mkdir()
    helped = run([env / "bin/pytest", "--help"], cwd=empty, quiet=True).stdout
    if "--wandb-upstream" not in helped or "--record-mode" not in helped:
        raise SystemExit("pytest did not load the plugin (and pytest-recording) by entry point")
    print("pytest --help lists --wandb-upstream: the plugin loads by its entry point")
    run([env / "bin/wandb-cassettes", "--help"], quiet=True)


def run_sdist_tests(env: Path, sdist: Path, work: Path, without: list[str]) -> None:
    """Unpack the sdist, install it (the test extra less ``without``: what needs torch), run
    a fast part of its tests."""
    unpacked = work / "unpacked"
    with tarfile.open(sdist) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(unpacked, filter="data")
        else:  # pragma: no cover - Python < 3.11.4
            tar.extractall(unpacked)
    (top,) = unpacked.iterdir()
    requirements = work / "sdist-test-requirements.txt"
    # The sdist's own test extra, less torch and what requires it (the chosen tests need none;
    # pip would install torch for accelerate or lightning: a minute, or a CUDA download).
    requirements.write_text("\n".join(extra("test", without, root=top)))
    run([env / "bin/python", "-m", "pip", "install", "--quiet", top, "-r", requirements])
    run([env / "bin/python", "-m", "pip", "install", "--quiet", top / "standin"])
    # The pytest script, not `python -m pytest`: the unpacked folder is not on sys.path, so
    # the tests import the package pip installed from the sdist.
    started = time.monotonic()
    run([env / "bin/pytest", "-p", "no:randomly", "-q", *SDIST_TESTS], cwd=top)
    print(f"the sdist's tests ran from {top} ({time.monotonic() - started:.0f} s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--python",
        action="append",
        required=True,
        help="an interpreter to install the wheel with (repeat; the first runs the sdist tests)",
    )
    parser.add_argument(
        "--without",
        nargs="*",
        default=["torch"],
        help="packages of the test extra the sdist's tests go without (make: NEEDS_TORCH)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="wandb-cassettes-packaging-") as tmp:
        work = Path(tmp)
        source = clean_copy(work / "checkout")
        sdist, wheel = build(source, work / "dist", work)
        check_wheel(wheel)
        check_sdist(sdist)
        envs = []
        for i, python in enumerate(args.python):
            env = fresh_env(python, work / f"env{i}")
            check_installed_wheel(env, wheel, work)
            envs.append(env)
        run_sdist_tests(envs[0], sdist, work, args.without)
    print("OK: sdist and wheel")
    return 0


if __name__ == "__main__":
    sys.exit(main())
