"""Shared fixtures: a stand-in W&B per test, the SDK pointed at it, pytest in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from wandb_cassettes.standin import StandinBackend, sdk_env

pytest_plugins = ["pytester"]


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
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "PYTEST_"))}
    if upstream is not None:
        full_env.update(WANDB_API_KEY=upstream.api_key, WANDB_CASSETTES_UPSTREAM=upstream.base_url)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider", *args],
        cwd=project,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
