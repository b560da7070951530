"""The flows real W&B serves beyond runs and artifacts, recorded through the relay and replayed.

Run files (a download answered with a 302 to signed storage), history
(``scan_history``), a sweep with one agent trial, a model linked into a
registry and unlinked, an artifact download through a redirect: each is
recorded against the stand-in by a marked test that cleans up nothing itself,
leaves the stand-in empty (but for the sweep, which W&B's API cannot delete:
the cleanup cancels it and the audit says so), and replays with
``--block-network``, in random order and with ``-n 2``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.pytest_process import run_pytest, subprocess_env
from support.recorded_flows import FLOWS
from wandb_cassettes_standin import StandinBackend

from wandb_cassettes.cli import main as cli


@dataclass
class Recorded:
    project: Path


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    project = tmp_path_factory.mktemp("flows")
    (project / "test_flows.py").write_text(FLOWS)
    (project / "pytest.ini").write_text("[pytest]\n")
    with StandinBackend() as upstream:
        result = run_pytest(project, "--record-mode=once", upstream=upstream)
        assert result.returncode == 0, _out(result)
        live = upstream.live()
        sweeps = live.pop("sweeps", [])
        assert live == {"runs": [], "artifacts": [], "collections": []}, live
        # The sweep is what W&B's API cannot delete: the cleanup cancelled it.
        assert [s["state"] for s in sweeps] == ["CANCELED"], sweeps
        upstream.delete_sweep(f"{upstream.entity}/flows/{sweeps[0]['name']}")
    yield Recorded(project)


def _out(result: subprocess.CompletedProcess[str]) -> str:
    return f"--- stdout ---\n{result.stdout[-12000:]}\n--- stderr ---\n{result.stderr[-4000:]}"


def test_the_cassettes_audit_clean_the_sweep_left_by_design(recorded: Recorded, capsys):
    capsys.readouterr()
    code = cli(["audit", "--format", "json", str(recorded.project / "cassettes")])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, json.dumps(report, indent=1)[:4000]
    left = [r for c in report["cassettes"] for r in c["left_by_design"]]
    assert [r["kind"] for r in left] == ["sweep"]
    # The redirects were recorded as they came: the 302, then the storage GET.
    text = (
        (recorded.project / "cassettes" / "test_flows")
        .joinpath("test_run_file_is_listed_and_downloaded_through_a_redirect.yaml")
        .read_text()
    )
    assert "code: 302" in text


def test_replays_with_no_network(recorded: Recorded):
    result = run_pytest(recorded.project, "--block-network", "--wandb-strict")
    assert result.returncode == 0, _out(result)
    assert re.search(r"\b5 passed\b", result.stdout), _out(result)


def test_replays_in_random_order_with_two_workers(recorded: Recorded):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "randomly",
         "--randomly-seed=3", "--block-network", "-n", "2"],
        cwd=recorded.project,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, _out(result)
    assert re.search(r"\b5 passed\b", result.stdout), _out(result)
