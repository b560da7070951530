"""Shared fixtures: a stand-in W&B per test, the SDK pointed at it, pytest in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from wandb_cassettes.standin import StandinBackend, sdk_env
from wandb_cassettes.standin.fidelity import ENV as FIDELITY_ENV

pytest_plugins = ["pytester"]

# Every stand-in of this suite, subprocess ones included, checks each of its
# GraphQL answers against the SDK's own types and fails loudly on a violation.
os.environ[FIDELITY_ENV] = "1"


@pytest.fixture
def standin() -> Iterator[StandinBackend]:
    """A fresh stand-in W&B backend on loopback, stopped after the test."""
    with StandinBackend() as wb:
        yield wb


@pytest.fixture
def standin_sdk(standin: StandinBackend, tmp_path, monkeypatch) -> Iterator[StandinBackend]:
    """The stand-in, with this process's wandb SDK pointed at it."""
    import wandb

    # wandb reads WANDB_* once per process, at its first setup; teardown makes
    # the next wandb.init() read this test's backend address.
    wandb.teardown()
    for name, value in sdk_env(standin.base_url, standin.api_key, tmp_path / "sdk").items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("WANDB_ENTITY", raising=False)
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    try:
        yield standin
    finally:
        wandb.finish()  # a run left open by a failed test must not outlive its backend
        wandb.teardown()


#: ``python -m pytest`` as the subprocess tests run it: fixed order, no cache files.
PYTEST = (sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider")


def subprocess_env(upstream: StandinBackend | None = None, **extra: str) -> dict[str, str]:
    """This process's environment without its WANDB_/PYTEST_ variables, plus ``extra``.

    With ``upstream``, recording goes to that stand-in with its API key.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "PYTEST_"))}
    env[FIDELITY_ENV] = os.environ[FIDELITY_ENV]
    if upstream is not None:
        env.update(WANDB_API_KEY=upstream.api_key, WANDB_CASSETTES_UPSTREAM=upstream.base_url)
    env.update(extra)
    return env


def descendants(pid: int) -> dict[int, int]:
    """``{pid: start time}`` of every descendant of ``pid`` (Linux /proc)."""
    from wandb_cassettes import reaper

    table = reaper._table()
    found: dict[int, int] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, (_name, ppid, start) in table.items():
            if ppid == parent and child not in found:
                found[child] = start
                frontier.append(child)
    return found


def run_pytest(
    project: Path,
    *args: str,
    upstream: StandinBackend | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run pytest in ``project`` in a fresh process (the SDK reads its env once per process).

    With ``upstream``, recording goes to that stand-in with its API key.
    """
    return subprocess.run(
        [*PYTEST, *args],
        cwd=project,
        env=subprocess_env(upstream, **(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
