"""The watchdog (``runtime/_watchdog.py``): it kills exactly the remembered service processes
once its parent is SIGKILLed, exits with its parent, never kills a reused PID; and the SIGTERM
handler is installed once, over the default action only.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support.polling import wait_until
from support.processes import kill, running, sleeping, stat, wait_gone

from wandb_cassettes.runtime import _watchdog as reaper

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

# -- the reaper on stand-in processes ------------------------------------------------------

PARENT = """
import os, subprocess, sys, time
from wandb_cassettes.runtime import _watchdog as reaper
core = subprocess.Popen([sys.argv[1], "60"])           # named wandb-core
other = subprocess.Popen([sys.argv[2], "60"])          # some other child: never touched
symon = subprocess.Popen([sys.argv[1] + "-x", "60"])   # a wandb-core-x: not a service name
reaper._start_watchdog()
print(core.pid, other.pid, symon.pid, reaper.watchdog_pid(), flush=True)
sys.stdin.readline()  # a normal exit once the test closes stdin (or a SIGKILL before)
"""


@pytest.fixture
def fake_binaries(tmp_path: Path) -> tuple[Path, Path]:
    sleep = shutil.which("sleep")
    assert sleep is not None
    core = tmp_path / "wandb-core"
    shutil.copy(sleep, core)
    shutil.copy(sleep, tmp_path / "wandb-core-x")
    other = tmp_path / "other"
    shutil.copy(sleep, other)
    return core, other


def _start_parent(fake_binaries: tuple[Path, Path]) -> tuple[subprocess.Popen[str], list[int]]:
    """PARENT with the fake binaries; it exits normally once its stdin is closed."""
    core, other = fake_binaries
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(core), str(other)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    pids = [int(x) for x in parent.stdout.readline().split()]
    return parent, pids


def test_reaper_kills_exactly_the_remembered_service_processes_after_a_sigkill(fake_binaries):
    parent, (core, other, not_core, watchdog) = _start_parent(fake_binaries)
    starts = {p: stat(p)[2] for p in (core, other, not_core, watchdog)}  # type: ignore[index]
    try:
        # The watchdog sleeps only between two looks at the processes: it has seen the core.
        wait_until(lambda: sleeping(watchdog), 30, "the watchdog's first look")
        assert running(watchdog, starts[watchdog])
        parent.kill()
        parent.wait(10)
        assert wait_gone({core: starts[core]}, 5) == {}, "the orphaned wandb-core survived"
        assert wait_gone({watchdog: starts[watchdog]}, 5) == {}, "the watchdog did not exit"
        assert running(other, starts[other]), "the reaper killed a process it must not touch"
        assert running(not_core, starts[not_core]), "the reaper matched a name only by prefix"
    finally:
        parent.kill()
        kill(starts)


def test_reaper_exits_with_its_parent_and_kills_nothing_after_a_normal_exit(fake_binaries):
    parent, (core, other, not_core, watchdog) = _start_parent(fake_binaries)
    starts = {p: stat(p)[2] for p in (core, other, not_core, watchdog)}  # type: ignore[index]
    try:
        # Stop the "service" as the SDK does at a normal exit, then let the parent end.
        os.kill(core, signal.SIGTERM)
        assert wait_gone({core: starts[core]}, 5) == {}
        assert parent.stdin is not None
        parent.stdin.close()  # the parent's readline() returns: it ends normally
        assert parent.wait(10) == 0
        assert wait_gone({watchdog: starts[watchdog]}, 5) == {}, "the watchdog outlived its parent"
        assert running(other, starts[other])
    finally:
        kill(starts)


def test_the_watchdog_is_never_one_of_a_cassettes_children(fake_binaries):
    # Started before the session's .pth is written, it reads it a moment later: its
    # environment must leave every session's hook off (runtime/_children.py NO_SESSION).
    from wandb_cassettes.runtime import _children as children

    parent, (core, other, not_core, watchdog) = _start_parent(fake_binaries)
    starts = {p: stat(p)[2] for p in (core, other, not_core, watchdog)}  # type: ignore[index]
    try:
        # posix_spawn returns once the child's exec has replaced its memory, a moment before
        # the kernel fills in the new environment (fs/exec.c wakes the vfork parent in
        # exec_mmap; binfmt_elf.c create_elf_tables sets env_end later): until then
        # /proc/PID/environ reads empty.
        environ_file = Path(f"/proc/{watchdog}/environ")
        raw = wait_until(environ_file.read_bytes, 10, "the watchdog's environment")
        named = f"{children.SESSION_ENV}={children.NO_SESSION}".encode()
        assert named in raw.split(b"\0")
    finally:
        assert parent.stdin is not None
        parent.stdin.close()
        parent.wait(10)
        kill(starts)


def test_reaper_never_kills_a_reused_pid():
    """A remembered PID whose process is now another one (other start time) is left alone."""
    child = subprocess.Popen(["sleep", "30"])
    try:
        start = stat(child.pid)[2]  # type: ignore[index]
        assert reaper.kill_remembered({child.pid: start + 1}) == []
        assert child.poll() is None
        assert reaper.kill_remembered({child.pid: start}) == [child.pid]
        assert child.wait(5) == -signal.SIGKILL
    finally:
        child.kill()


def test_reaper_refuses_a_bad_command_line():
    assert reaper.main([]) == 2
    assert reaper.main(["x"]) == 2


def test_sigterm_handler_is_installed_once_and_restored(monkeypatch):
    monkeypatch.setattr(reaper, "_start_watchdog", lambda: None)
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        reaper.guard()
        assert signal.getsignal(signal.SIGTERM) is reaper._sigterm
        with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
            reaper._sigterm(signal.SIGTERM, None)
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # a second one kills
        reaper.unguard()
        # A handler of the user's is never replaced.
        own = lambda *_: None  # noqa: E731
        signal.signal(signal.SIGTERM, own)
        reaper.guard()
        assert signal.getsignal(signal.SIGTERM) is own
        reaper.unguard()
        assert signal.getsignal(signal.SIGTERM) is own
    finally:
        reaper.unguard()
        signal.signal(signal.SIGTERM, previous)


def test_the_librarys_threads_leave_the_sessions_signals_to_the_main_thread():
    """SIGINT and SIGTERM sent to the process go to a thread that does not block them
    (signal(7)); taken by a background thread, they would wait for the main thread to run
    bytecode again (a test blocked in a call would not be interrupted)."""
    from wandb_cassettes.record import background_thread

    seen: list[set[int | signal.Signals]] = []
    thread = background_thread(
        lambda: seen.append(signal.pthread_sigmask(signal.SIG_BLOCK, [])), "t"
    )
    thread.start()
    thread.join(10)
    assert thread.daemon and {signal.SIGINT, signal.SIGTERM} <= seen[0]
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])  # the caller's
