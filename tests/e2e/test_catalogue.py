"""The credential catalogue in real sessions: compiled once into the project's pytest cache,
never by a replay that needs no scrubbing.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from support.paths import written_to_home
from support.pytest_process import PYTEST, subprocess_env
from wandb_cassettes_standin import StandinBackend

from wandb_cassettes.redact import (
    CACHE_ENV,
    CACHE_FOLDER,
)

TEST = """
import pytest, wandb


@pytest.mark.wandb_cassette
def test_plain():
    with wandb.init(project="plain") as run:
        run.log({"loss": 1.0})
"""


def test_rules_are_compiled_once_into_pytest_cache_and_a_plain_replay_compiles_none(
    tmp_path: Path,
):
    """Recording compiles the catalogue into the project's pytest cache folder (nothing
    in HOME); replaying a cassette that holds no replacement never compiles it."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_plain.py").write_text(TEST)
    (project / "pytest.ini").write_text("[pytest]\n")
    home = tmp_path / "home"
    home.mkdir()
    pytest_with_cache = [a for a in PYTEST if a not in ("-p", "no:cacheprovider")]
    pytest_with_cache = [*pytest_with_cache[:3], "-p", "no:randomly"]
    with StandinBackend() as upstream:
        env = subprocess_env(upstream, HOME=str(home))
        env.pop(CACHE_ENV, None)
        recorded = subprocess.run(
            [*pytest_with_cache, "--record-mode=once"], cwd=project, env=env, text=True,
            capture_output=True, timeout=300,
        )  # fmt: skip
        assert recorded.returncode == 0, recorded.stdout[-4000:]
    compiled = project / ".pytest_cache" / "d" / CACHE_FOLDER
    assert [p for p in compiled.iterdir() if p.is_file()], "no compiled rules kept"
    assert written_to_home(home) == []  # the journal key aside: no rules there
    empty = tmp_path / "rules"
    empty.mkdir()
    replayed = subprocess.run(
        [*PYTEST, "--block-network"], cwd=project, env=subprocess_env(**{CACHE_ENV: str(empty)}),
        text=True, capture_output=True, timeout=300,
    )  # fmt: skip
    assert replayed.returncode == 0, replayed.stdout[-4000:]
    assert list(empty.iterdir()) == [], "the replay compiled the catalogue"
    assert os.environ.get(CACHE_ENV)  # the suite's own shared folder is untouched
