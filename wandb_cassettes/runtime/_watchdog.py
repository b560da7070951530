"""No ``wandb-core`` outlives an interrupted pytest session.

The wandb SDK stops its Go service (``wandb-core``, and ``wandb-symon`` under
it) from an ``atexit`` hook. Python runs no ``atexit`` hook when SIGTERM's
default action kills it, and nothing at all on SIGKILL. wandb-core 0.31 is
started with ``--pid`` and has been seen to exit within a second of its
parent's death, but also (once, on this project's machines) to keep running, sending
heartbeats, for minutes. Two guards, both set up with the relay (:func:`guard`):

* **SIGTERM** becomes a :class:`KeyboardInterrupt`, as Ctrl-C is: pytest
  ends the session cleanly (fixture teardown, the recording kept as
  ``.failed``, the relay stopped) and the SDK's ``atexit`` shutdown runs.
  The handler fires once, then SIGTERM's default action is back, so a second
  SIGTERM still kills. It is installed only over the default action, never
  over a handler of the user's, and :func:`unguard` restores what was there.
* **SIGKILL** cannot be handled in-process, so a watchdog process
  (``python -m wandb_cassettes.runtime._watchdog PARENT_PID``, in its own session)
  remembers every half second which ``wandb-core`` / ``wandb-symon``
  processes descend from the pytest process, and once that process is gone,
  SIGKILLs exactly those that are still alive (same PID *and* same start
  time, so a reused PID is never hit), then exits. After a normal exit the
  SDK has already stopped them, and the watchdog finds nothing to kill.

Linux only (it reads ``/proc``); elsewhere :func:`guard` installs the SIGTERM
handler alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from ._children import NO_SESSION, SESSION_ENV, remove_pth

#: Process names (``/proc/PID/comm``) of the SDK's service processes.
NAMES = frozenset({"wandb-core", "wandb-symon"})
INTERVAL = 0.5
PROC = Path("/proc")

_watchdog: int | None = None
_previous_sigterm: Any = None
_installed = False


# -- in the pytest process --------------------------------------------------------------


def guard() -> None:
    """Install the SIGTERM handler and start the watchdog (once per process)."""
    _install_sigterm()
    _start_watchdog()


def unguard() -> None:
    """Restore the SIGTERM handler :func:`guard` replaced.

    The watchdog stays until this process ends: the SDK's service may outlive
    the pytest session (it stops at interpreter exit), and must be reaped if
    this process is killed before then.
    """
    global _installed
    if not _installed:
        return
    with contextlib.suppress(ValueError):  # not the main thread
        if signal.getsignal(signal.SIGTERM) is _sigterm:
            signal.signal(signal.SIGTERM, _previous_sigterm)
    _installed = False


def _sigterm(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, _previous_sigterm)  # once: a second SIGTERM kills
    raise KeyboardInterrupt(f"signal {signum} (SIGTERM)")


def _install_sigterm() -> None:
    global _installed, _previous_sigterm
    if _installed:
        return
    try:
        current = signal.getsignal(signal.SIGTERM)
        if current not in (signal.SIG_DFL, None):
            return  # the user's (or a runner's) own handler: leave it alone
        signal.signal(signal.SIGTERM, _sigterm)
    except ValueError:  # signals can only be set from the main thread
        return
    _previous_sigterm = current if current is not None else signal.SIG_DFL
    _installed = True


def _start_watchdog() -> None:
    """Spawn the watchdog, and keep only its PID.

    Not a ``subprocess.Popen``: it outlives this process on purpose (it reaps what
    is left after this process dies), and a ``Popen`` still running when the
    interpreter collects it warns ``ResourceWarning: subprocess N is still running``
    (CPython Lib/subprocess.py ``Popen.__del__``), which ``pytest -W error`` turns into
    an error at the end of every session. ``posix_spawn`` leaves no such object; the
    watchdog inherits no descriptor but its /dev/null standard streams (Python's own
    descriptors are not inheritable, PEP 446).
    """
    global _watchdog
    if _watchdog is not None or not _supported():
        return
    devnull = os.devnull
    _watchdog = os.posix_spawn(
        sys.executable,
        [sys.executable, "-m", "wandb_cassettes.runtime._watchdog", str(os.getpid())],
        {**os.environ, SESSION_ENV: NO_SESSION},  # never one of a cassette's children
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, devnull, os.O_WRONLY, 0),
            (os.POSIX_SPAWN_OPEN, 2, devnull, os.O_WRONLY, 0),
        ],
        setsid=True,  # a Ctrl-C to the terminal's process group spares it
    )


def watchdog_pid() -> int | None:
    """The PID of this process's watchdog, if one was started."""
    return _watchdog


def _supported() -> bool:
    return sys.platform.startswith("linux") and PROC.is_dir()


# -- /proc ------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[str, int, int] | None:
    """``(name, parent pid, start time in clock ticks)`` of ``pid``, or None if gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    name = text[text.find("(") + 1 : text.rfind(")")]
    fields = text[text.rfind(")") + 2 :].split()
    # fields[0] is field 3 (state) of proc(5): ppid is field 4, starttime field 22.
    return name, int(fields[1]), int(fields[19])


def _table() -> dict[int, tuple[str, int, int]]:
    table = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            table[int(entry.name)] = stat
    return table


def service_processes(parent: int) -> dict[int, int]:
    """``{pid: start time}`` of the SDK service processes that descend from ``parent``."""
    table = _table()
    children: dict[int, list[int]] = {}
    for pid, (_name, ppid, _start) in table.items():
        children.setdefault(ppid, []).append(pid)
    found: dict[int, int] = {}
    frontier = [parent]
    while frontier:
        for child in children.get(frontier.pop(), ()):
            name, _ppid, start = table[child]
            if name in NAMES:
                found[child] = start
            frontier.append(child)
    return found


def _alive(pid: int, start: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[2] == start


def kill_remembered(remembered: dict[int, int]) -> list[int]:
    """SIGKILL each remembered process that is still the same process; the PIDs killed."""
    killed = []
    for pid, start in remembered.items():
        if _alive(pid, start):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
    return killed


# -- the watchdog process -----------------------------------------------------------------


def watch(parent: int, interval: float = INTERVAL) -> list[int]:
    """Follow ``parent``'s service processes until it is gone; kill the survivors."""
    parent_stat = _stat(parent)
    if parent_stat is None:
        return []
    parent_start = parent_stat[2]
    remembered: dict[int, int] = {}
    while os.getppid() == parent and _alive(parent, parent_start):
        remembered = {p: s for p, s in remembered.items() if _alive(p, s)}
        remembered.update(service_processes(parent))
        time.sleep(interval)
    return kill_remembered(remembered)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].isdigit():
        print("usage: python -m wandb_cassettes.runtime._watchdog PARENT_PID", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        watch(int(args[0]))

    remove_pth(int(args[0]))  # a killed session leaves nothing in site-packages either
    return 0


if __name__ == "__main__":
    sys.exit(main())
