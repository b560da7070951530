"""Shared fixtures: a stand-in W&B per test, the SDK pointed at it; the session's checks.

Helpers that test modules import live in ``support/``; only fixtures and hooks live here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from wandb_cassettes_standin import StandinBackend
from wandb_cassettes_standin.fidelity import ENV as FIDELITY_ENV

from wandb_cassettes.redact import CACHE_ENV as RULE_CACHE_ENV
from wandb_cassettes.runtime import sdk_env

pytest_plugins = ["pytester"]

# Every stand-in of this suite, subprocess ones included, checks each of its
# GraphQL answers against the SDK's own types and fails loudly on a violation.
os.environ[FIDELITY_ENV] = "1"

# The credential catalogue compiles its rules in seconds: this process and every pytest
# it starts (without pytest's cache) share one compiled copy, in this checkout's cache.
os.environ.setdefault(
    RULE_CACHE_ENV,
    str(Path(__file__).resolve().parent.parent / ".pytest_cache" / "d" / "wandb-cassettes-rules"),
)


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
    before = {k: v for k, v in os.environ.items() if k.startswith("WANDB_")}
    for name, value in sdk_env(standin.base_url, standin.api_key, tmp_path / "sdk").items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("WANDB_ENTITY", raising=False)
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    try:
        yield standin
    finally:
        wandb.finish()  # a run left open by a failed test must not outlive its backend
        wandb.teardown()
        # What the SDK itself wrote into this process's environment goes too: wandb.agent
        # sets WANDB_ENTITY, WANDB_PROJECT, WANDB_SWEEP_ID, WANDB_RUN_ID... for good
        # (wandb/wandb_agent.py), which later tests of this worker would take for theirs.
        for name in [k for k in os.environ if k.startswith("WANDB_") and k not in before]:
            del os.environ[name]
        os.environ.update(before)


#: What no recording of this suite may hold: the stand-in user's personal data
#: (W&B's ``User.email``/``name``/``photoUrl``) and the API key's name.
_PERSONAL = (
    "ada.lovelace@standin.wandb-cassettes.dev",
    "Ada Lovelace",
    "avatars.standin.wandb-cassettes.dev",
    "ada-laptop",
)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the session if any cassette a test recorded kept the stand-in's personal data.

    A test that plants such values on purpose writes them to a file named
    ``planted*.yaml``, which the scan skips.
    """
    from wandb_cassettes_standin.graphql import STANDIN_EMAIL, STANDIN_FULL_NAME

    assert STANDIN_EMAIL in _PERSONAL and STANDIN_FULL_NAME in _PERSONAL
    if hasattr(session.config, "workerinput"):
        return  # xdist: the controller scans every worker's folders once, at the end
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None or getattr(factory, "_basetemp", None) is None:
        return
    found: list[str] = []
    for path in Path(factory.getbasetemp()).rglob("*.yaml"):
        if path.name.startswith("planted"):
            continue
        text = path.read_text(errors="replace")
        found += [f"{path}: {value!r}" for value in _PERSONAL if value in text]
    if found:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_line("cassettes holding the stand-in user's personal data:", red=True)
            for line in found:
                reporter.write_line("  " + line, red=True)
