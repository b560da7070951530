"""Beside pytest-recording and vcrpy, end to end: pytest in a subprocess on a throwaway
project, the real SDK against the stand-in, without torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from support.flows import VCR_AND_WANDB, write_project
from support.pytest_process import run_pytest
from wandb_cassettes_standin import StandinBackend

# -- pytest -p no:recording, -p no:wandb_cassettes --------------------------------------------

PLAIN = """
import os

def test_plain():
    assert True
"""

MARKED = """
import os

import pytest
import wandb


@pytest.mark.wandb_cassette
def test_marked():
    with wandb.init(project="interop") as run:
        run.log({"a": 1})
    wandb.Api().run(f"{run.entity}/interop/{run.id}").delete()


def test_environment_is_ours():
    assert os.environ["WANDB_BASE_URL"].startswith("http://127.0.0.1:")
"""


def _out(result: Any) -> str:
    return f"--- stdout ---\n{result.stdout[-8000:]}\n--- stderr ---\n{result.stderr[-4000:]}"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with W&B and vcr tests, recorded against the stand-in (then stopped)."""
    project = write_project(
        tmp_path_factory.mktemp("interop"),
        {"test_marked.py": MARKED, "test_plain.py": PLAIN, "test_vcr.py": VCR_AND_WANDB},
    )
    with StandinBackend() as wb:
        result = run_pytest(
            project, "--record-mode=once", upstream=wb, env={"E2E_LOCAL_SERVER": "1"}
        )
    assert result.returncode == 0, _out(result)
    return project


def test_replay_under_block_network_keeps_wandb_out_of_the_vcr_cassette(recorded: Path) -> None:
    result = run_pytest(recorded, "--block-network", "-q")
    assert result.returncode == 0, _out(result)
    assert "4 passed" in result.stdout, _out(result)
    own = yaml.safe_load((recorded / "cassettes/test_vcr/test_own_http_and_wandb.yaml").read_text())
    assert [i["request"]["uri"].split("/", 3)[3] for i in own["interactions"]] == ["hello?who=vcr"]


def test_pytest_recording_disabled(recorded: Path) -> None:
    """``-p no:recording``: no hook error, replay works without pytest-recording's options."""
    result = run_pytest(recorded, "-p", "no:recording", "-q", "test_marked.py", "test_plain.py")
    assert result.returncode == 0, _out(result)
    assert "3 passed" in result.stdout, _out(result)
    assert "PluginValidationError" not in result.stderr

    usage = run_pytest(recorded, "-p", "no:recording", "--record-mode=once", "test_plain.py")
    assert usage.returncode == 4 and "--record-mode" in usage.stderr, _out(usage)


def test_wandb_cassettes_disabled(tmp_path: Path) -> None:
    """``-p no:wandb_cassettes``: no marker, no option, no relay, no environment."""
    project = write_project(
        tmp_path,
        {
            "test_plain.py": PLAIN
            + "\n\ndef test_no_relay():\n    assert 'WANDB_BASE_URL' not in os.environ\n"
        },
    )
    result = run_pytest(project, "-p", "no:wandb_cassettes", "-q", "--block-network")
    assert result.returncode == 0, _out(result)
    assert "2 passed" in result.stdout, _out(result)

    marked = write_project(tmp_path / "marked", {"test_marked.py": MARKED})
    # The markers stay registered (their own plugin, issue 25): --strict-markers collects.
    strict = run_pytest(marked, "-p", "no:wandb_cassettes", "--strict-markers")
    assert "not found in `markers`" not in _out(strict) and "collected" in strict.stdout
    option = run_pytest(marked, "-p", "no:wandb_cassettes", "--wandb-strict")
    assert option.returncode == 4 and "--wandb-strict" in option.stderr, _out(option)
