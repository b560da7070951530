"""Tests sharing a cassette name replay their own session's recording (issue 23).

Under ``pytest -n 2 --dist each --record-mode=rewrite`` every worker records a
shared name, then its later tests replay it; a worker's replay once read the file
another worker had just rewritten (``variables.project: recorded "sharedgw0",
sent "sharedgw1"``). A session now replays the recording it wrote itself,
whatever is in the file by then. Here the "other worker" is a test of the same
session that overwrites the file between the two: deterministic, no race to win.
"""

from __future__ import annotations

import pytest
from support.projects import FAST_RETRIES, FLOW, make_project, output
from support.pytest_process import run_pytest

SHARED = (
    FLOW
    + """
from pathlib import Path

SAME = Path("cassettes/test_shared/same.yaml")


@pytest.mark.wandb_cassette("same")
def test_a(tmp_path):
    flow(tmp_path, project="mine", artifact=False)


def test_another_worker_rewrites_the_file():
    # Another session's recording of the same name (here: not even a cassette).
    assert SAME.is_file()
    SAME.write_text("another worker's recording\\n")


@pytest.mark.wandb_cassette("same")
def test_b(tmp_path):
    flow(tmp_path, project="mine", artifact=False)
"""
)


@pytest.mark.parametrize("mode", ["rewrite", "once"])
def test_a_later_test_replays_this_sessions_recording_not_the_file(tmp_path, standin, mode):
    project = make_project(tmp_path / "p", test_shared=SHARED)
    result = run_pytest(project, f"--record-mode={mode}", upstream=standin, env=FAST_RETRIES)
    assert result.returncode == 0, output(result)
    assert "3 passed" in result.stdout, output(result)
    # test_b was answered by the relay from memory: nothing reached the stand-in for it.
    runs = {path.split("/")[4] for _m, path, _op in standin.requests if "file_stream" in path}
    assert len(runs) == 1, runs
