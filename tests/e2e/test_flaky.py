"""The flakiness job (issue 23): every flow the suite records, replayed many times under load.

A testing library must never be the reason a suite is flaky. Replay must be a
function of the test's requests, not of timing; these tests check it the way a
loaded CI machine would break it:

* every flow the suite records (the stand-in flows, transformers' Trainer and
  Lightning's WandbLogger, the plugin's end-to-end flows, the README's quick
  start) and the two that were flaky (``run.watch(model, log="all",
  log_freq=1)`` on a tiny torch model; a run in ``mode="shared"`` written by two
  processes) are recorded once against the stand-in;
* then replayed with ``--block-network --wandb-strict`` (every request answered,
  every recorded interaction that the test's code asks for played), each test
  :data:`ROUNDS` times in one session: once beside busy processes this test
  starts (one per core), once under ``pytest -n 2``; and the example project's
  committed cassettes the same way. Zero failures allowed.

``make flaky`` runs them with more rounds; CI's ``flaky`` job with fewer (it must
stay under 5 minutes), but the two flows that were flaky always get
:data:`TIMING_ROUNDS`. Outside those, the module is skipped (it takes minutes).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.flows import FLOW, write_project
from support.integrations import ENV as INTEGRATION_ENV
from support.integrations import LIGHTNING_PROJECT, TRANSFORMERS_PROJECT
from support.paths import ROOT
from support.pytest_process import run_pytest, subprocess_env
from support.readme import FILES as README_FILES
from support.recorded_flows import FLOWS
from wandb_cassettes_standin import StandinBackend

#: Replays of every test (the environment's ``WANDB_CASSETTES_FLAKY_ROUNDS``).
ROUNDS = int(os.environ.get("WANDB_CASSETTES_FLAKY_ROUNDS", "0"))
#: Replays of the two flows that were flaky, whatever ``ROUNDS`` says (issue 23: 20 of 20).
TIMING_ROUNDS = 20

pytestmark = [
    pytest.mark.torch,
    pytest.mark.skipif(
        ROUNDS < 1,
        reason="the flakiness job: `make flaky` (or WANDB_CASSETTES_FLAKY_ROUNDS=N) runs it",
    ),
]


#: The two flows that failed under load before issue 23. wandb-core sends the run's config
#: and telemetry updates as UpsertBucket whenever its timers fire; with ``watch`` and with a
#: second process writing the run, how many depends on timing.
TIMING = """
import os
import subprocess
import sys

import pytest
import torch
import wandb

FLAKY_ROUNDS = {rounds}

SECONDARY = '''
import sys, wandb
settings = wandb.Settings(mode="shared", x_primary=False, x_label="worker")
run = wandb.init(project="shared", id=sys.argv[1], settings=settings)
for step in range(3):
    run.log({{"worker": step}})
run.finish()
'''


@pytest.mark.wandb_cassette
def test_watch_logs_gradients_and_parameters():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    run = wandb.init(project="watch")
    run.watch(model, log="all", log_freq=1)
    for step in range(3):
        loss = model(torch.randn(8, 4)).pow(2).mean()
        loss.backward()
        run.log({{"loss": loss.item()}})
    run.finish()


@pytest.mark.wandb_cassette
def test_a_shared_run_written_by_two_processes():
    settings = wandb.Settings(mode="shared", x_primary=True, x_label="main")
    run = wandb.init(project="shared", settings=settings)
    # Its own wandb-core, as a process on another machine would have.
    env = {{k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}}
    subprocess.run([sys.executable, "-c", SECONDARY, run.id], check=True, env=env, timeout=120)
    for step in range(3):
        run.log({{"main": step}})
    run.finish()
"""

#: A pytest plugin for the replaying sessions: each test runs ``rounds`` times in a row
#: (``FLAKY_ROUNDS`` of its module when larger), each round reported, each a test of its
#: own: everything is torn down between rounds and set up again (the cassette too), as
#: pytest-rerunfailures reruns a test with ``runtestprotocol`` and a fresh request.
ROUNDS_PLUGIN = """
import os

import pytest
from _pytest.runner import runtestprotocol


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    rounds = int(os.environ["WANDB_CASSETTES_FLAKY_ROUNDS"])
    rounds = max(rounds, getattr(item.module, "FLAKY_ROUNDS", 0))
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    for done in range(rounds):
        if done:
            item._initrequest()  # fresh fixtures (pytest-rerunfailures does the same)
        last = done + 1 == rounds
        runtestprotocol(item, nextitem=nextitem if last else None, log=True)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True
"""


@dataclass
class Recorded:
    project: Path
    tests: int  # how many tests the project has
    timing_tests: int  # of which the two that were flaky


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    """Every flow recorded once, in one project (its modules as their own tests have them)."""
    project = tmp_path_factory.mktemp("flaky")
    modules = {
        "test_flows.py": FLOWS,
        "test_hf.py": TRANSFORMERS_PROJECT,
        "test_pl.py": LIGHTNING_PROJECT,
        "test_flow.py": FLOW,
        "test_timing.py": TIMING.format(rounds=TIMING_ROUNDS),
    }
    for block in README_FILES:  # the README's quick start, as its own file names it
        if block.title and block.title.startswith("tests/"):
            modules[Path(block.title).name] = block.text
    write_project(project, modules)
    (project / "flaky_rounds.py").write_text(ROUNDS_PLUGIN)
    with StandinBackend() as upstream:
        result = run_pytest(
            project, "--record-mode=once", upstream=upstream, env=INTEGRATION_ENV, timeout=900
        )
    assert result.returncode == 0, _out(result)
    tests = _passed(result)
    yield Recorded(project, tests, timing_tests=2)


def _out(result: subprocess.CompletedProcess[str]) -> str:
    return f"--- stdout ---\n{result.stdout[-15000:]}\n--- stderr ---\n{result.stderr[-4000:]}"


def _passed(result: subprocess.CompletedProcess[str]) -> int:
    found = re.search(r"(\d+) passed", result.stdout)
    return int(found.group(1)) if found else 0


@contextmanager
def busy_cores() -> Iterator[list[subprocess.Popen[bytes]]]:
    """One busy process per core, started here and stopped (by PID) on the way out."""
    spin = "import time\nend = time.monotonic() + 1800\nwhile time.monotonic() < end: pass\n"
    procs = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(os.cpu_count() or 2)]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait(timeout=30)


def _replay(project: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = subprocess_env(
        **INTEGRATION_ENV,
        WANDB_CASSETTES_FLAKY_ROUNDS=str(ROUNDS),
        PYTHONPATH=os.pathsep.join(filter(None, [str(project), os.environ.get("PYTHONPATH")])),
    )
    return subprocess.run(
        [
            sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider",
            "-p", "flaky_rounds", "--block-network", "--wandb-strict", "-q", *args,
        ],
        cwd=cwd or project,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )  # fmt: skip


def _expected(recorded: Recorded) -> int:
    other = recorded.tests - recorded.timing_tests
    return other * ROUNDS + recorded.timing_tests * max(ROUNDS, TIMING_ROUNDS)


def _check(result: subprocess.CompletedProcess[str], expected: int) -> None:
    assert result.returncode == 0, _out(result)
    assert " failed" not in result.stdout and " error" not in result.stdout, _out(result)
    assert _passed(result) == expected, _out(result)


def test_every_flow_replays_every_time_beside_busy_processes(recorded: Recorded) -> None:
    with busy_cores():
        result = _replay(recorded.project)
    _check(result, _expected(recorded))


def test_every_flow_replays_every_time_under_two_workers(recorded: Recorded) -> None:
    result = _replay(recorded.project, "-n", "2")
    _check(result, _expected(recorded))


def test_the_example_project_replays_every_time_beside_busy_processes(tmp_path: Path) -> None:
    # Its committed cassettes (recorded against the stand-in by `make record-example`).
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    (plugin / "flaky_rounds.py").write_text(ROUNDS_PLUGIN)
    with busy_cores():
        result = _replay(plugin, "examples/trainer", "-m", "fast", cwd=ROOT)
    assert result.returncode == 0, _out(result)
    assert " failed" not in result.stdout and _passed(result) % ROUNDS == 0, _out(result)
