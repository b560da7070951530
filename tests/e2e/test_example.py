"""The example project end to end: one command re-records it against the stand-in."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.paths import ROOT
from support.pytest_process import subprocess_env

from wandb_cassettes.cli import main as cli


def _run(*args: str, cassettes: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*args, "-o", f"wandb_cassette_dir={cassettes}", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
@pytest.mark.torch
def test_rerecorded_example_cassettes_replay_offline_and_audit_clean(tmp_path):
    cassettes = tmp_path / "cassettes"
    pytest_cmd = (sys.executable, "-m", "pytest", "examples/trainer", "-p", "no:randomly", "-q")
    recorded = _run(
        sys.executable, "-m", "wandb_cassettes_standin", "--run", "--",
        *pytest_cmd, "--record-mode=rewrite",
        cassettes=cassettes,
    )  # fmt: skip
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    files = sorted(cassettes.rglob("*.yaml"))
    assert len(files) == 3
    assert all("stand-in" in f.read_text() for f in files)

    replayed = _run(*pytest_cmd, "-m", "fast", "--block-network", cassettes=cassettes)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "17 passed" in replayed.stdout
    assert cli(["audit", str(cassettes)]) == 0
