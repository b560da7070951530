"""Shared fixtures: a stand-in W&B per test, the SDK pointed at it, pytest in a subprocess."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time
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
    for name, value in sdk_env(standin.base_url, standin.api_key, tmp_path / "sdk").items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("WANDB_ENTITY", raising=False)
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    try:
        yield standin
    finally:
        wandb.finish()  # a run left open by a failed test must not outlive its backend
        wandb.teardown()


_EMPTY_CONFIG_DIR = tempfile.mkdtemp(prefix="wandb-cassettes-tests-config-")
atexit.register(shutil.rmtree, _EMPTY_CONFIG_DIR, ignore_errors=True)

#: ``python -m pytest`` as the subprocess tests run it: fixed order, no cache files.
PYTEST = (sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider")


def subprocess_env(upstream: StandinBackend | None = None, **extra: str) -> dict[str, str]:
    """This process's environment without its WANDB_/PYTEST_/CI variables, plus ``extra``.

    With ``upstream``, recording goes to that stand-in with its API key.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "PYTEST_"))}
    # pytest prints whole failure messages in its short summary when it believes it runs
    # on CI (``CI`` or ``BUILD_NUMBER`` set: _pytest/terminal.py running_on_ci), trimmed
    # to the terminal otherwise: the tests that count messages see one output everywhere.
    for name in ("CI", "BUILD_NUMBER"):
        env.pop(name, None)
    # The SDK's settings files (~/.config/wandb/settings: `wandb login --host` writes a
    # base_url there, which recording then uses) are this machine's, never the tests'.
    env["WANDB_CONFIG_DIR"] = _EMPTY_CONFIG_DIR
    env[FIDELITY_ENV] = os.environ[FIDELITY_ENV]
    if upstream is not None:
        env.update(WANDB_API_KEY=upstream.api_key, WANDB_CASSETTES_UPSTREAM=upstream.base_url)
    env.update(extra)
    return env


def descendants(pid: int) -> dict[int, int]:
    """``{pid: start time}`` of every descendant of ``pid`` (Linux /proc)."""
    from wandb_cassettes.runtime import _watchdog as reaper

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

    With ``upstream``, recording goes to that stand-in with its API key. Every cassette the
    run writes is then searched for secrets (:func:`assert_no_secret_recorded`).
    """
    started = time.time()
    run_env = subprocess_env(upstream, **(env or {}))
    result = subprocess.run(
        [*PYTEST, *args],
        cwd=project,
        env=run_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert_no_secret_recorded(project, since=started, key=run_env.get("WANDB_API_KEY", ""))
    return result


def assert_no_secret_recorded(project: Path, *, since: float, key: str) -> None:
    """No cassette written under ``project`` since ``since`` holds a secret, by any rule.

    Every recording this suite makes passes through here: the rule catalogue must not
    take what its flows record (digests, ids, shas, the stand-in's storage URLs) for
    credentials, and recording must have left none of the real ones, the stand-in's
    ``key`` included. Findings name the rule, the place and the file, never the value.
    """
    from wandb_cassettes.audit import audit_file, audit_scrubber

    scrubber = audit_scrubber({"WANDB_API_KEY": key} if key else {})
    found = [
        f"{path}: {secret}"
        for path in sorted(project.rglob("*.yaml"))
        if path.stat().st_mtime >= since - 1
        for secret in audit_file(path, scrubber).secrets
    ]
    assert not found, "secrets found in recorded cassettes:\n" + "\n".join(found)


def kill_when_flagged(
    project: Path, upstream: StandinBackend, flag: Path, *args: str, **env: str
) -> None:
    """Record ``args`` in ``project`` until a test touches ``flag``; SIGKILL pytest then.

    wandb-core outlives a SIGKILLed parent for a moment: the descendants this
    started are killed too (by PID), so that none outlives the test.
    """
    import contextlib
    import signal
    import time

    proc = subprocess.Popen(
        [*PYTEST, "--record-mode=once", *args],
        cwd=project,
        env=subprocess_env(upstream, KILL_FLAG=str(flag), **env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    children: dict[int, int] = {}
    try:
        deadline = time.monotonic() + 120
        while not flag.exists():
            assert proc.poll() is None, "the recording session ended early"
            assert time.monotonic() < deadline, "the test never reached its checkpoint"
            time.sleep(0.1)
        children = descendants(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


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
