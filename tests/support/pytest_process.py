"""pytest in a fresh process, as the end-to-end tests run it (the SDK reads its environment
once per process), with this suite's environment taken out and each recording's cassettes
searched for secrets."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from wandb_cassettes_standin import StandinBackend
from wandb_cassettes_standin.fidelity import ENV as FIDELITY_ENV

from support.polling import wait_until
from support.processes import descendants
from wandb_cassettes.audit import audit_file, audit_scrubber

_EMPTY_CONFIG_DIR = tempfile.mkdtemp(prefix="wandb-cassettes-tests-config-")
atexit.register(shutil.rmtree, _EMPTY_CONFIG_DIR, ignore_errors=True)

#: ``python -m pytest`` as the subprocess tests run it: fixed order, no cache files.
PYTEST = (sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider")


def subprocess_env(upstream: StandinBackend | None = None, /, **extra: str) -> dict[str, str]:
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
    # hypothesis's pytest plugin imports hypothesis (0.6 s, half a bare pytest's start-up);
    # the projects these tests run never use it, and the suite starts hundreds of them.
    env["PYTEST_ADDOPTS"] = "-p no:hypothesispytest"
    env[FIDELITY_ENV] = os.environ[FIDELITY_ENV]
    if upstream is not None:
        env.update(WANDB_API_KEY=upstream.api_key, WANDB_CASSETTES_UPSTREAM=upstream.base_url)
    env.update(extra)
    return env


def run_pytest(
    project: Path,
    *args: str,
    upstream: StandinBackend | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 300,
    keeps_secrets: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run pytest in ``project`` in a fresh process (the SDK reads its env once per process).

    With ``upstream``, recording goes to that stand-in with its API key. Every cassette the
    run writes is then searched for secrets (:func:`assert_no_secret_recorded`), unless
    ``keeps_secrets``: a test of what the audit says of a secret it cannot scrub.
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
    if not keeps_secrets:
        assert_no_secret_recorded(project, since=started, key=run_env.get("WANDB_API_KEY", ""))
    return result


def assert_no_secret_recorded(project: Path, *, since: float, key: str) -> None:
    """No cassette written under ``project`` since ``since`` holds a secret, by any rule.

    Every recording this suite makes passes through here: the rule catalogue must not
    take what its flows record (digests, ids, shas, the stand-in's storage URLs) for
    credentials, and recording must have left none of the real ones, the stand-in's
    ``key`` included. Findings name the rule, the place and the file, never the value.
    """
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
    proc = subprocess.Popen(
        [*PYTEST, "--record-mode=once", *args],
        cwd=project,
        env=subprocess_env(upstream, KILL_FLAG=str(flag), **env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    children: dict[int, int] = {}
    try:
        wait_for_checkpoint(proc, flag)
        children = descendants(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def wait_for_checkpoint(proc: subprocess.Popen[Any], flag: Path, timeout: float = 120) -> None:
    """Wait until the pytest ``proc`` runs reaches a checkpoint: a test touches ``flag``.

    Fails, with what the session printed (when it is piped), if it ends first.
    """
    wait_until(lambda: flag.exists() or proc.poll() is not None, timeout, "the test's checkpoint")
    if not flag.exists():
        printed = proc.communicate()[0] if proc.stdout is not None else ""
        raise AssertionError(f"the session ended before its checkpoint:\n{printed}")
