"""docs/options.md names every option the code defines (issue 25, case 10): the markers and
the marker's keywords, the fixtures, the ini options, the pytest flags, the commands and
flags of ``wandb-cassettes``, and the environment variables the package reads."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from wandb_cassettes import cli, markers, plugin
from wandb_cassettes.runtime import CassetteOptions

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "options.md").read_text()
PLUGIN_SOURCE = Path(plugin.__file__).read_text()


def _named(name: str) -> bool:
    return f"`{name}" in DOC or f"{name}`" in DOC or f" {name} " in DOC


def test_every_marker_and_keyword():
    names = [line.split(":")[0].split("(")[0] for line in markers.MARKERS]
    missing = [n for n in [*names, *CassetteOptions.KEYS] if not _named(n)]
    assert not missing, missing


def test_every_fixture():
    missing = [n for n in plugin.__all__ if not _named(n)]
    assert not missing, missing


def test_every_ini_option_and_pytest_flag():
    ini = re.findall(r'addini\(\s*"(\w+)"', PLUGIN_SOURCE)
    flags = re.findall(r'addoption\(\s*"(--[\w-]+)"', PLUGIN_SOURCE)
    assert ini and flags
    missing = [n for n in [*ini, *flags] if not _named(n)]
    assert not missing, missing


def test_every_command_and_flag_of_the_cli():
    parser = cli.build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    missing = []
    for command, subparser in sub.choices.items():
        if f"wandb-cassettes {command}" not in DOC:
            missing.append(command)
        for action in subparser._actions:
            missing += [f"{command} {o}" for o in action.option_strings if o.startswith("--")
                        and o != "--help" and f"{command} {o}" not in DOC]  # fmt: skip
    assert not missing, missing


@pytest.mark.parametrize("package", ["wandb_cassettes", "standin/wandb_cassettes_standin"])
def test_every_environment_variable(package):
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        found |= set(re.findall(r'"((?:WANDB_CASSETTES|KF)_[A-Z_]+)"', path.read_text()))
    assert found
    missing = sorted(n for n in found if f"`{n}`" not in DOC)
    assert not missing, missing


def test_no_user_facing_extra_pulls_torch_and_the_readme_says_how_to_get_the_cpu_wheel():
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    pulling = {name for name, reqs in extras.items() if name != "test" and any(
        re.match(r"torch\b", r) for r in reqs)}  # fmt: skip
    assert not pulling, f"extras that fetch torch from PyPI (the CUDA build on Linux): {pulling}"
    readme = (ROOT / "README.md").read_text()
    assert "wandb-cassettes[torch]" not in readme
    assert "pip install torch --index-url https://download.pytorch.org/whl/cpu" in readme
