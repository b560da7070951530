"""The layers are checked by a tool (import-linter, ``make lint``), and the check can fail.

A scratch copy of the package gets one import that goes up a layer (the cassette format
importing the runtime, which imports it back: a cycle); the same contracts then fail on
it, naming the import. The real package keeps every contract.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from support.paths import ROOT


def _lint(project: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the package in ``project`` (its pyproject.toml's contracts)."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=project,
        env={"PYTHONPATH": f"{project}:{project / 'standin'}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _copy(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "pyproject.toml", project)
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "wandb_cassettes", project / "wandb_cassettes", ignore=ignore)
    shutil.copytree(ROOT / "standin", project / "standin", ignore=ignore)
    return project


def test_the_package_keeps_every_layer_contract(tmp_path: Path) -> None:
    done = _lint(_copy(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_an_import_up_a_layer_breaks_the_contracts(tmp_path: Path) -> None:
    project = _copy(tmp_path)
    cassette = project / "wandb_cassettes" / "store" / "_cassette.py"
    text = cassette.read_text()
    cassette.write_text(text.replace("\nimport ", "\nfrom ..runtime import RecordMode\nimport ", 1))

    done = _lint(project)

    assert done.returncode != 0
    assert "wandb_cassettes.store is not allowed to import wandb_cassettes.runtime" in done.stdout
    assert "No cycles are allowed in wandb_cassettes" in done.stdout


def test_a_private_module_imported_from_another_subpackage_breaks_them(tmp_path: Path) -> None:
    project = _copy(tmp_path)
    audit = project / "wandb_cassettes" / "audit.py"
    text = audit.read_text()
    audit.write_text(text.replace("\nimport ", "\nfrom .store import _blobs\nimport ", 1))

    done = _lint(project)

    assert done.returncode != 0
    assert "wandb_cassettes.store._blobs" in done.stdout
