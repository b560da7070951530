"""The README's code blocks, run as a newcomer would run them, so that they cannot drift.

Every fenced block of README.md is one of:

* a project file (a ``title="path"`` in its fence): written into the quick-start project;
* a ``bash`` block: run, in order, in that project (recording goes to a stand-in
  W&B: ``WANDB_CASSETTES_UPSTREAM`` and its key stand for the real service and yours);
* the ``yaml`` CI recipe: its ``run:`` steps, installs aside, with no key and no upstream;
* the ``text`` mismatch report: what pytest prints after the change the README describes;
* a ``python`` snippet: a test module (run with pytest: recorded, then replayed),
  a ``unittest`` case (run with ``python -m unittest``: recorded, then replayed) or a
  script (run against a stand-in);
* or it says why it is not run (``<!-- readme: not run (why) -->`` on the line before).
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.pytest_process import run_pytest, subprocess_env
from support.readme import BIN, CI_RECIPE, FILES, MISMATCH, README, SHELL, SNIPPETS, TRY, Block, sh
from wandb_cassettes_standin import StandinBackend

from wandb_cassettes.runtime import sdk_env

#: The change the README's "Reading a mismatch" describes, and the folder its text names.
CHANGE = ('"lr": 0.1', '"lr": 0.2')
SHOWN_PROJECT = "/home/ada/project"


def _env(upstream: StandinBackend | None = None) -> dict[str, str]:
    env = subprocess_env(upstream)
    env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
    return env


@pytest.fixture(scope="module")
def quick_start(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The quick-start project after the README's shell blocks ran in it, in order."""
    project = tmp_path_factory.mktemp("readme") / "project"
    for block in FILES:
        path = project / block.title  # type: ignore[operator]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(block.text)
    with StandinBackend() as upstream:
        for block in SHELL:
            done = sh(block, project, _env(upstream))
            assert done.returncode == 0, f"{block}:\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
        assert upstream.live() == {"runs": [], "artifacts": [], "collections": []}
    return project


def test_the_quick_start_records_replays_and_audits(quick_start: Path):
    cassette = "cassettes/tests/test_training/test_logs_a_checkpoint.yaml"
    assert cassette in README.read_text()
    assert (quick_start / cassette).is_file()
    assert (quick_start / ".wandb_cassettes").is_dir()


@pytest.mark.parametrize("block", TRY, ids=str)
def test_trying_it_without_an_account_records_replays_and_audits(block: Block, tmp_path: Path):
    project = tmp_path / "project"
    for file in FILES:
        path = project / file.title  # type: ignore[operator]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(file.text)
    done = sh(block, project, _env())  # no key, no upstream: the stand-in's own
    assert done.returncode == 0, f"{block}:\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
    assert (project / "cassettes/tests/test_training/test_logs_a_checkpoint.yaml").is_file()
    assert "recorded 1 cassette(s) (1 new, 0 replaced)" in done.stdout, done.stdout


def test_the_ci_recipe_passes_verbatim_with_no_key_and_no_network(quick_start: Path):
    steps = re.findall(r"^\s*- run: (.+)$", CI_RECIPE.text, flags=re.M)
    installs = [s for s in steps if s.startswith("pip install")]
    assert installs and all("wandb-cassettes" in s for s in installs), installs
    env = _env()
    for step in steps:
        if step in installs:
            continue
        done = subprocess.run(
            ["bash", "-e", "-c", step], cwd=quick_start, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, f"{step}:\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}"


def test_the_mismatch_report_is_what_pytest_prints(quick_start: Path, tmp_path: Path):
    project = tmp_path / "project"
    shutil.copytree(quick_start, project)
    test = project / "tests" / "test_training.py"
    assert CHANGE[0] in test.read_text()
    test.write_text(test.read_text().replace(*CHANGE))
    result = run_pytest(project)
    assert result.returncode == 1
    printed = result.stdout.splitlines()
    for line in MISMATCH.text.splitlines():
        if not line.strip():
            continue
        line = line.replace(SHOWN_PROJECT, str(project))
        pattern = re.sub(r"([\[\]?*])", r"[\1]", line).replace("...", "*")
        assert fnmatch.filter(printed, pattern), f"{MISMATCH}: not printed: {line}"


def _snippet_id(block: Block) -> str:
    return f"line{block.line}"


@pytest.mark.parametrize(
    "block",
    [
        pytest.param(b, marks=[pytest.mark.torch] if "checkpoint(" in b.text else [])
        for b in SNIPPETS
    ],
    ids=_snippet_id,
)
def test_the_python_snippets_run(block: Block, tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    with StandinBackend() as upstream:
        if "import pytest" in block.text:  # a test module: recorded once, then replayed
            (tmp_path / "test_snippet.py").write_text(block.text)
            runs = [
                run_pytest(tmp_path, "--record-mode=once", upstream=upstream),
                run_pytest(tmp_path, "--block-network"),
            ]
        elif "unittest" in block.text:  # a unittest case: recorded once, then replayed
            (tmp_path / "test_snippet.py").write_text(block.text)
            command = [sys.executable, "-m", "unittest", "test_snippet"]
            runs = [
                subprocess.run(
                    command, cwd=tmp_path, env=_env(upstream), capture_output=True, text=True
                ),
                subprocess.run(command, cwd=tmp_path, env=_env(), capture_output=True, text=True),
            ]
        else:  # a script, talking to W&B (here: the stand-in) itself
            env = {**_env(), **sdk_env(upstream.base_url, upstream.api_key, tmp_path / "sdk")}
            command = [sys.executable, "-c", block.text]
            runs = [subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)]
        for done in runs:
            assert done.returncode == 0, f"{block}:\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
        assert upstream.live() == {"runs": [], "artifacts": [], "collections": []}
