"""The process runtime: where recording goes, with which key, and the SDK state it replaces."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support import login
from support.paths import written_to_home
from support.pytest_process import run_pytest
from wandb_cassettes_standin import StandinBackend

TEST = """
import pytest, wandb


@pytest.mark.wandb_cassette
def test_logs():
    with wandb.init(project="from-settings") as run:
        run.log({"x": 1})
"""


def test_recording_needs_nothing_but_what_wandb_login_left(tmp_path: Path):
    """No WANDB_API_KEY, no --wandb-upstream: the settings file's host and the netrc's key;
    and nothing outside the project is written (HOME's netrc, the settings file)."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_login.py").write_text(TEST)
    (project / "pytest.ini").write_text("[pytest]\n")
    home = tmp_path / "home"
    home.mkdir()
    with StandinBackend() as upstream:
        host = upstream.base_url.split("://", 1)[1]
        config = login.settings(tmp_path / "cfg", upstream.base_url)
        netrc = login.netrc(tmp_path / "netrc", host, upstream.api_key)
        before = {p: p.read_bytes() for p in (config / "settings", netrc)}
        result = run_pytest(
            project,
            "--record-mode=once",
            env={"WANDB_CONFIG_DIR": str(config), "NETRC": str(netrc), "HOME": str(home)},
        )
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
        assert re.search(r"\b1 passed\b", result.stdout)
        assert any(op == "UpsertBucket" for _m, _p, op in upstream.requests)
        assert upstream.live()["runs"] == []
    assert {p: p.read_bytes() for p in before} == before
    # Only the key that signs recording journals (kept outside any project by design).
    assert written_to_home(home) == [], "something was written to HOME"


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_conftest_that_sets_wandb_up_under_xdist(tmp_path: Path, workers: str):
    """xdist's controller imports the conftest too: its wandb-core (started without the
    relay's quiet settings) must not serve the workers."""
    pytest.importorskip("xdist")
    (tmp_path / "conftest.py").write_text("import wandb\n\nwandb.setup()\n")
    (tmp_path / "test_login.py").write_text(TEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    with StandinBackend() as upstream:
        recorded = run_pytest(tmp_path, "--record-mode=once", "-n", workers, upstream=upstream)
        assert recorded.returncode == 0, recorded.stdout[-6000:]
    text = next((tmp_path / "cassettes").rglob("*.yaml")).read_text()
    assert "/sdk/otel/" not in text  # the controller's service would have sent telemetry
    for replay_workers in ("0", "2"):
        replayed = run_pytest(tmp_path, "--block-network", "--wandb-strict", "-n", replay_workers)
        assert replayed.returncode == 0, replayed.stdout[-6000:]
