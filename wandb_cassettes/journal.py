"""Crash-safe record of what recording created upstream, and the sweep that deletes leftovers.

The ledger knows what a test created, but only in memory: a pytest process
killed mid-recording (SIGKILL, a CI timeout) would forget runs and artifacts
it left on W&B. So while recording, each create and delete the ledger sees is
appended (and flushed) to a JSON-lines journal under ``.wandb_cassettes/journal/``.
A session that ends normally removes its journal once nothing is left; the
next recording session (or ``wandb-cassettes sweep``) deletes what a dead
session's journal still lists.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .ledger import Event

JOURNAL_DIR = Path(".wandb_cassettes") / "journal"


@dataclass
class Leftover:
    """A resource a journal lists as created and not deleted."""

    kind: str
    name: str
    entity: str
    project: str
    local: str
    test: str = ""
    id: str = ""  # an artifact version's server id: its name changes once its version is known
    type: str | None = None  # artifact type, which collection lookups need

    @property
    def key(self) -> tuple[str, ...]:
        return (self.kind, self.entity, self.project, self.local, self.id)


@dataclass
class JournalFile:
    """One session's journal: its header and what it still lists."""

    path: Path
    pid: int
    host: str
    upstream: str
    leftovers: list[Leftover] = field(default_factory=list)

    def owner_alive(self) -> bool:
        """Whether the session that wrote it still runs (on this host)."""
        if self.host != socket.gethostname():
            return True  # cannot tell: leave it to its own host
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


class Journal:
    """Appends ledger events of one session to ``<dir>/<host>-<pid>.jsonl``."""

    def __init__(self, directory: str | os.PathLike[str], upstream: str) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / f"{socket.gethostname()}-{os.getpid()}.jsonl"
        self._open: dict[tuple[str, ...], Leftover] = {}
        self._fh: IO[str] | None = self.path.open("a", encoding="utf-8")
        self._write(
            {
                "journal": 1,
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "upstream": upstream,
                "started": time.time(),
            }
        )

    def record(self, events: Iterable[Event], test: str = "") -> None:
        """Append ``events`` (created/deleted resources) for ``test``, flushed to disk."""
        for e in events:
            r = e.resource
            server_id = r.ids[0] if r.kind == "artifact" and r.ids else ""
            entry = Leftover(r.kind, r.name, r.entity, r.project, r.local, test, server_id, r.type)
            if e.change == "created":
                self._open[entry.key] = entry
            else:
                self._open.pop(entry.key, None)
            self._write({"event": e.change, **entry.__dict__})

    @property
    def open(self) -> list[Leftover]:
        """What this session created and has not deleted yet."""
        return list(self._open.values())

    def close(self) -> None:
        """Close; remove the file when nothing is left open."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if not self._open:
            self.path.unlink(missing_ok=True)

    def _write(self, entry: dict[str, Any]) -> None:
        assert self._fh is not None, "journal is closed"
        self._fh.write(json.dumps(entry) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())


def read(path: str | os.PathLike[str]) -> JournalFile:
    """Parse one journal; a torn last line (the writer was killed) is ignored."""
    p = Path(path)
    header: dict[str, Any] = {}
    open_: dict[tuple[str, ...], Leftover] = {}
    for line in p.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if "journal" in entry:
            header = entry
            continue
        event = entry.pop("event", None)
        try:
            leftover = Leftover(**entry)
        except TypeError:
            continue
        if event == "created":
            open_[leftover.key] = leftover
        elif event == "deleted":
            open_.pop(leftover.key, None)
    return JournalFile(
        p,
        int(header.get("pid", 0)),
        str(header.get("host", "")),
        str(header.get("upstream", "")),
        list(open_.values()),
    )


def orphaned(directory: str | os.PathLike[str]) -> list[JournalFile]:
    """Journals of sessions that are no longer running."""
    d = Path(directory)
    if not d.is_dir():
        return []
    journals = [read(p) for p in sorted(d.glob("*.jsonl"))]
    return [j for j in journals if not j.owner_alive()]


def sweep(
    journals: Iterable[JournalFile], *, upstream: str | None = None, api_key: str | None = None
) -> tuple[list[str], list[str]]:
    """Delete every leftover of ``journals`` on its upstream (or ``upstream``).

    Returns (deleted, failed) descriptions. A journal whose leftovers are all
    gone is removed; one with failures stays for the next sweep.
    """
    from .cleanup import CleanupError, WandbArtifactCleaner, track_leftovers

    deleted: list[str] = []
    failed: list[str] = []
    for j in journals:
        if j.leftovers:
            api = _api(upstream or j.upstream, api_key)
            cleaner = WandbArtifactCleaner(api=api)
            track_leftovers(cleaner, j.leftovers)
            try:
                report = cleaner.cleanup_all()
            except CleanupError as exc:
                report = exc.report
                failed += [f"{f.resource}: {f.error}" for f in report.failed]
            deleted += report.deleted + report.already_gone
            if report.failed:
                continue
        j.path.unlink(missing_ok=True)
    return deleted, failed


def _api(base_url: str, api_key: str | None) -> Any:
    import wandb

    return wandb.Api(overrides={"base_url": base_url}, api_key=api_key)
