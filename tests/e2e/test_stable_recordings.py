"""Re-recording the README's quick start against a fresh server changes only the cassette's
recording line, and the README's review step (``wandb-cassettes diff``) says so (issue 23)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from support.pytest_process import subprocess_env
from support.readme import BIN, BLOCKS, FILES, sh
from wandb_cassettes_standin import StandinBackend

# -- the quick start, recorded twice ---------------------------------------------------------

(DIFF_BLOCK,) = [b for b in BLOCKS if "wandb-cassettes diff" in b.text and b.lang == "bash"]
CASSETTE = Path("cassettes/tests/test_training/test_logs_a_checkpoint.yaml")


def _env(upstream: StandinBackend | None = None) -> dict[str, str]:
    env = subprocess_env(upstream)
    env["PATH"] = BIN + ":" + env.get("PATH", "")
    return env


@pytest.fixture
def quick_start(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    for block in FILES:
        path = project / block.title  # type: ignore[operator]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(block.text)
    return project


def test_re_recording_the_quick_start_changes_only_the_recording_line(quick_start: Path):
    with StandinBackend() as upstream:
        first = subprocess.run(
            ["pytest", "-p", "no:randomly", "--record-mode=once"],
            cwd=quick_start,
            env=_env(upstream),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert first.returncode == 0, first.stdout[-4000:]
    before = (quick_start / CASSETTE).read_text().splitlines()
    # The README's review step, against the same server software started afresh: its
    # ports differ, and so would its answers' dates.
    with StandinBackend() as upstream:
        done = sh(DIFF_BLOCK, quick_start, _env(upstream))
    assert done.returncode == 0, f"{done.stdout[-6000:]}\n{done.stderr[-2000:]}"
    assert "0 added, 0 removed, 0 changed" in done.stdout, done.stdout[-4000:]
    after = (quick_start / CASSETTE).read_text().splitlines()
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert len(before) == len(after)
    assert [a.split(":", 1)[0] for a, _ in changed] == ["  recording"], changed
    replay = subprocess.run(
        ["pytest", "-p", "no:randomly", "--block-network", "--wandb-strict"],
        cwd=quick_start,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert replay.returncode == 0, replay.stdout[-4000:]
