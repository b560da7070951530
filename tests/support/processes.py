"""Processes by PID and start time (Linux ``/proc``): what a session started, and whether
it is gone. A PID alone may be reused: a process is the same one only with the same start
time."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

from support.polling import poll
from wandb_cassettes.runtime import _watchdog as reaper


def descendants(pid: int) -> dict[int, int]:
    """``{pid: start time}`` of every descendant of ``pid`` (Linux /proc)."""
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


def stat(pid: int) -> tuple[str, str, int] | None:
    """``(name, state, start time)`` of ``pid`` or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()
    return text[text.find("(") + 1 : text.rfind(")")], fields[0], int(fields[19])


def running(pid: int, start: int) -> bool:
    """The same process (PID and start time) still runs: not gone, not a zombie."""
    found = stat(pid)
    return found is not None and found[2] == start and found[1] != "Z"


def wait_gone(processes: dict[int, int], seconds: float) -> dict[int, int]:
    """Wait until none of ``processes`` runs; those still running after ``seconds``."""

    def alive() -> dict[int, int]:
        return {p: s for p, s in processes.items() if running(p, s)}

    poll(lambda: not alive(), seconds)
    return alive()


def kill(processes: dict[int, int]) -> None:
    """SIGKILL each of ``processes`` that is still the same process."""
    for pid, start in processes.items():
        if running(pid, start):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


#: System call numbers of ``nanosleep`` and ``clock_nanosleep`` (Linux's syscall tables).
_SLEEP_CALLS = {"x86_64": {"35", "230"}, "aarch64": {"101", "115"}}


def sleeping(pid: int) -> bool:
    """Whether ``pid`` waits in ``time.sleep`` (``nanosleep``, ``clock_nanosleep``) now.

    ``/proc/PID/wchan`` names the kernel function a sleeping process waits in; where it
    says ``0`` (a kernel that hides it), ``/proc/PID/syscall`` gives the system call's
    number (proc(5)).
    """
    try:
        if "nanosleep" in Path(f"/proc/{pid}/wchan").read_text():
            return True
        call = Path(f"/proc/{pid}/syscall").read_text().split()[0]
    except (OSError, IndexError):
        return False
    return call in _SLEEP_CALLS.get(os.uname().machine, set())
