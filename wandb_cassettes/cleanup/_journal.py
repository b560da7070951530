"""A write-ahead journal of what recording may create upstream, and the sweep of leftovers.

The ledger knows what a test created, but only in memory: a pytest process
killed mid-recording (SIGKILL, a CI timeout), or an answer lost on the way,
would forget runs and artifacts left on W&B. So while recording, every
change is appended (flushed and fsynced) to a JSON-lines journal under
``.wandb_cassettes/journal/<host>-<pid>.jsonl``:

* ``intended``: **before** a request that can create something is forwarded,
  what it may create, by the ids the client chose (a fresh run id, an
  artifact's ``clientID``);
* ``created`` / ``deleted``: what the answers confirmed, with server ids;
* ``absent``: an intent whose request was refused (nothing was created);
* ``keep``: a test's ``keep=`` patterns, written when its recording starts,
  so that what they name is kept even if the session dies before the test ends;
* ``kept``: created and kept on purpose (``keep=``): never swept;
* ``restore`` / ``restored``: what puts back a resource the test did not create
  but changed (:class:`~.foreign.Restore`, rewritten whenever it changes), and
  that it is back as it was; the sweep sends what is still listed.

No journal, no recording: a journal that cannot be opened or written raises
:class:`~.errors.JournalError` naming its path, and the relay then forwards
nothing more that could create. A session that ends normally removes its
journal once nothing is left open; the next recording session (or
``wandb-cassettes sweep``) deletes what a dead session's journal still lists.

A journal is read as untrusted input (it sits in a working folder, and a sweep acts on
it with the user's key): within :data:`JOURNAL_LIMITS`, and every line must be an
entry of the shapes above, signed by this user's sessions on this machine
(:mod:`._signature`), except a torn last line (the writer was killed mid-line). A
journal that is not is unusable (:class:`~.errors.JournalError` naming the file and
line), and nothing of it is swept.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import os
import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..errors import JournalError
from ..ownership import Event, ForeignChange, Ledger, Owned, Resource, Restore, spellings
from ..store import Limits, check_tree, read_capped
from . import _signature as signature

JOURNAL_DIR = Path(".wandb_cassettes") / "journal"
JOURNAL_VERSION = 2
#: What a journal may hold: a few hundred bytes per resource a test created, so 16 MiB
#: is tens of thousands of them; an entry is 3 levels deep (a restore's GraphQL
#: variables a few more).
JOURNAL_LIMITS = Limits(
    max_bytes=16 * 1024 * 1024, max_nodes=1_000_000, max_depth=16, max_scalar_bytes=1024 * 1024
)
_EVENTS = frozenset({"intended", "created", "deleted", "absent", "kept", "keep"})


@dataclass
class Leftover:
    """A resource a journal lists as (maybe) created and not deleted."""

    owned: Owned
    test: str = ""

    @property
    def name(self) -> str:
        return self.owned.name


@dataclass
class JournalFile:
    """One session's journal: its header and what it still lists."""

    path: Path
    pid: int
    host: str
    upstream: str
    started: float = 0.0
    leftovers: list[Leftover] = field(default_factory=list)
    kept: list[Leftover] = field(default_factory=list)
    #: Changes to resources the session did not create, not yet put back.
    restores: list[Restore] = field(default_factory=list)
    #: When the session first changed each of those (by name; 0: not said).
    changed_at: dict[str, float] = field(default_factory=dict)
    #: Changes to resources the session did not create that no API undoes, one sentence
    #: each (with its test): a killed session's cassette is never written, nor audited.
    lasting: list[str] = field(default_factory=list)

    @property
    def pending(self) -> int:
        """How many things a sweep has to do: leftovers to delete, changes to put back."""
        return len(self.leftovers) + len(self.restores)

    def owner_alive(self, dead_hosts: Sequence[str] = ()) -> bool:
        """Whether the session that wrote it still runs.

        A journal of another host cannot be checked from here: it counts as
        alive (its own host sweeps it) unless that host is named in
        ``dead_hosts`` (``wandb-cassettes sweep --host NAME``).
        """
        if self.host != socket.gethostname():
            return self.host not in dead_hosts and "*" not in dead_hosts
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


class Journal:
    """Appends one session's changes on ``upstream`` to ``<dir>/<host>-<pid>.jsonl``
    (``<host>-<pid>-<tag>.jsonl`` with a ``tag``: one journal per W&B server the session
    records to, each naming its server).

    Raises:
        JournalError: The folder or the file cannot be created or written (the
            message names the path).
    """

    def __init__(self, directory: str | os.PathLike[str], upstream: str, tag: str = "") -> None:
        self.directory = Path(directory)
        suffix = f"-{tag}" if tag else ""
        self.path = self.directory / f"{socket.gethostname()}-{os.getpid()}{suffix}.jsonl"
        self._open: dict[tuple[str, ...], Owned] = {}
        #: The open artifact versions and links as the ledger holds them, and the test that
        #: made each: what answers teach of them later (an alias given) is written again.
        self._versions: dict[tuple[str, ...], tuple[Resource, str]] = {}
        self._restores: dict[str, Restore] = {}
        self._lasting: set[tuple[str, str]] = set()
        #: Organizations written (display name -> entity): a keep pattern may name one.
        self._orgs: dict[str, str] = {}
        self._changed_at: dict[str, float] = {}
        self._fh: IO[str] | None = None
        self._chain = signature.Chain()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("a", encoding="utf-8")
        except OSError as exc:
            raise JournalError(self._message(exc)) from exc
        self._write(_header(os.getpid(), socket.gethostname(), upstream, time.time()))

    def intend(self, intents: Iterable[Owned], test: str = "") -> None:
        """Write what a request about to be forwarded may create (before forwarding it)."""
        for owned in intents:
            if owned.key not in self._open:
                self._open[owned.key] = owned
                self._write({"event": "intended", "test": test, "owned": owned.to_json()})

    def record(
        self,
        events: Iterable[Event],
        ledger: Ledger,
        test: str = "",
        to_upstream: Callable[[Owned], Owned] | None = None,
    ) -> None:
        """Append ledger ``events`` (created/deleted resources) for ``test``.

        ``to_upstream`` turns a resource into the ids the upstream knows it by
        (``new_episodes``: the ledger sees the client's ids).
        """

        def as_owned(resource: Resource) -> Owned:
            owned = Owned.of(resource)
            return owned if to_upstream is None else to_upstream(owned)

        for e in events:
            owned = as_owned(e.resource)
            if e.change == "created":
                self._open[owned.key] = owned
                if owned.kind in ("artifact", "link"):
                    self._versions[owned.key] = (e.resource, test)
            else:
                self._open.pop(owned.key, None)
                self._versions.pop(owned.key, None)
            self._write({"event": e.change, "test": test, "owned": owned.to_json()})
        for name, entity in ledger.org_names.items():
            if self._orgs.get(name) != entity:
                self._orgs[name] = entity
                self._write({"event": "org", "name": name, "entity": entity})
        # A version's (a link's) aliases grow after its creation (``art.aliases.append``, then
        # ``save()``): its line is written again, and the sweep reads the last one.
        for key, (resource, by) in list(self._versions.items()):
            owned = as_owned(resource)
            if owned.key == key and key in self._open and owned != self._open[key]:
                self._open[key] = owned
                self._write({"event": "created", "test": by, "owned": owned.to_json()})

    def absent(self, intents: Iterable[Owned]) -> None:
        """Intents whose requests were refused: nothing was created."""
        for owned in intents:
            self._versions.pop(owned.key, None)
            if self._open.pop(owned.key, None) is not None:
                self._write({"event": "absent", "owned": owned.to_json()})

    def keep_patterns(self, patterns: Iterable[str], test: str = "") -> None:
        """``test``'s ``keep=`` patterns: what they name is never swept, even after a crash.

        Written when the recording starts, before anything is created: the
        ``kept`` entries that :meth:`keep` writes come only at the test's end.
        """
        listed = list(patterns)
        if listed:
            self._write({"event": "keep", "test": test, "patterns": listed})

    def keep(self, kept: Iterable[tuple[Owned, str]], test: str = "") -> None:
        """Resources kept on purpose: listed as kept, never swept."""
        for owned, reason in kept:
            self._open.pop(owned.key, None)
            self._versions.pop(owned.key, None)
            self._write({"event": "kept", "test": test, "reason": reason, "owned": owned.to_json()})

    def restores(self, pending: Iterable[Restore], test: str = "") -> None:
        """What puts back the resources ``test`` changed but did not create, as of now
        (:meth:`.ledger.Ledger.restores`): written when it changes, so that a session killed
        before its cleanup is put back by the next sweep."""
        now = {r.name: r for r in pending}
        for name, restore in now.items():
            if self._restores.get(name) != restore:
                self._restores[name] = restore
                # When this session first changed it: the sweep undoes the latest first.
                at = self._changed_at.setdefault(name, time.time())
                entry = {"event": "restore", "test": test, "restore": restore.__dict__, "at": at}
                self._write(entry)
        for name in [n for n in self._restores if n not in now]:
            del self._restores[name]
            self._write({"event": "restored", "test": test, "name": name})

    def lasting(self, changes: Iterable[ForeignChange], test: str = "") -> None:
        """Changes no API undoes (:meth:`.ledger.Ledger.lasting_changes`), each once, as they
        are observed: a session killed before its cassette is written (and audited) has
        the next sweep say them."""
        for change in changes:
            if (change.name, change.change) not in self._lasting:
                self._lasting.add((change.name, change.change))
                self._write({"event": "lasting", "test": test, "change": change.describe()})

    @property
    def open(self) -> list[Owned]:
        """What this session created (or may have) and has neither deleted nor kept."""
        return list(self._open.values())

    def close(self) -> None:
        """Close; remove the file when nothing is left open (kept resources are not open).

        Raises:
            JournalError: The file could not be closed (its last entries may be
                missing; the file stays for ``wandb-cassettes sweep``).
        """
        fh, self._fh = self._fh, None
        if fh is not None:
            try:
                fh.close()
            except OSError as exc:
                raise JournalError(
                    f"the recording journal {self.path} could not be closed: "
                    f"{exc.strerror or exc}; it stays for `wandb-cassettes sweep`, which "
                    "deletes what it lists"
                ) from exc
        if not self._open and not self._restores:
            self.path.unlink(missing_ok=True)

    def _write(self, entry: dict[str, Any]) -> None:
        if self._fh is None:
            raise JournalError(f"the recording journal {self.path} is closed")
        try:
            self._fh.write(self._chain.sign(entry) + "\n")
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError as exc:
            raise JournalError(self._message(exc)) from exc

    def _message(self, exc: OSError) -> str:
        why = exc.strerror or str(exc)
        if isinstance(exc, FileExistsError | NotADirectoryError):
            why = f"{self.directory} is not a folder"
        return (
            f"cannot write the recording journal {self.path}: {why}; "
            "recording stopped before anything more reached the upstream (free space, or "
            "make the folder writable, then record again)"
        )


def _header(pid: int, host: str, upstream: str, started: float) -> dict[str, Any]:
    """A journal's header line: the session that writes what follows (:func:`_shape`)."""
    return {
        "journal": JOURNAL_VERSION,
        "pid": pid,
        "host": host,
        "upstream": upstream,
        "started": started,
    }


def settle(journal: JournalFile, restored: Iterable[str]) -> None:
    """Append to ``journal``, which stays after a sweep, that the changes ``restored`` (by
    name) are settled: a later sweep never sends them again. A header starts the lines
    (the file's own values), as a session appending to a file does
    (:class:`.signature.Chain`); a torn last line (its writer was killed) is cut first,
    since a line after it would make it a line of no entry.

    Raises:
        JournalError: The file cannot be written (names it).
    """
    names = list(dict.fromkeys(restored))
    if not names:
        return
    header = _header(journal.pid, journal.host, journal.upstream, journal.started)
    entries = [header, *({"event": "restored", "name": n} for n in names)]
    try:
        with journal.path.open("r+b") as fh:
            text = fh.read()
            fh.truncate(text.rfind(b"\n") + 1)  # 0: the whole file was one torn line
            fh.seek(0, os.SEEK_END)
            fh.write("".join(f"{line}\n" for line in signature.journal_lines(entries)).encode())
    except OSError as exc:
        raise JournalError(
            f"the journal {journal.path} could not be written: {exc.strerror or exc}; "
            "its changes put back would be sent again by the next sweep"
        ) from exc


def read(path: str | os.PathLike[str], limits: Limits = JOURNAL_LIMITS) -> JournalFile:
    """Parse one journal; a torn last line (the writer was killed) is ignored.

    Raises:
        JournalError: It is over ``limits``, has no header, or a line (not the torn last
            one) is no journal entry (names the file and the line).
        OSError: It cannot be read.
    """
    p = Path(path)

    def bad(message: str, number: int | None = None) -> JournalError:
        where = f"{p}:{number}" if number is not None else str(p)
        return JournalError(f"journal unusable: {where}: {message}; not swept")

    try:
        text = read_capped(p, limits, lambda m, _line: bad(m)).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad(f"not UTF-8 ({exc.reason})") from None
    header: dict[str, Any] | None = None
    open_: dict[tuple[str, ...], Leftover] = {}
    kept: dict[tuple[str, ...], Leftover] = {}
    patterns: dict[str, list[str]] = {}
    restores: dict[str, Restore] = {}
    changed_at: dict[str, float] = {}
    lasting: list[str] = []
    orgs: dict[str, str] = {}
    settled: set[str] = set()  # alias restores done: "entity/project/collection:alias"
    lines = text.split("\n")
    previous = ""  # the signature of the last line read: each line's covers it
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        torn = number == len(lines)  # no newline after it: the writer died mid-line
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError):
            if torn:
                continue
            raise bad("not a JSON line", number) from None
        # A header opens the file, and again where a session of a reused pid appends.
        is_header = header is None or (isinstance(entry, dict) and "journal" in entry)
        problem = check_tree(entry, limits) or _shape(entry, is_header)
        mac = signature.verified(entry, "" if is_header else previous) if not problem else None
        if problem is None and mac is None:
            problem = (
                "the line is not signed, after the line before it, by this user's recording "
                f"sessions on this machine (the key in {signature.key_path()}): a journal "
                "written elsewhere, or edited (a line changed, taken out, moved), is never "
                "acted on"
            )
        if problem and torn:
            continue
        if problem:
            raise bad(problem, number)
        previous = mac or ""
        if is_header:
            header = entry
            continue
        if entry["event"] in ("restore", "restored"):
            done = _restore_entry(entry, restores, changed_at)
            if done is not None and done.field in _ALIAS_RESTORES:
                settled.add(done.name)
            continue
        test = entry.get("test") or ""
        if entry["event"] == "lasting":
            lasting.append(f"{entry['change']}" + (f" (test {test})" if test else ""))
            continue
        if entry["event"] == "keep":
            patterns.setdefault(test, []).extend(entry["patterns"])
            continue
        if entry["event"] == "org":
            orgs[entry["name"]] = entry["entity"]
            continue
        owned = Owned.from_json(entry["owned"])
        assert owned is not None  # _shape checked it
        event = entry["event"]
        if event in ("intended", "created"):
            open_[owned.key] = Leftover(owned, test)
        elif event in ("deleted", "absent"):
            open_.pop(owned.key, None)
        elif event == "kept":
            open_.pop(owned.key, None)
            kept[owned.key] = Leftover(owned, test)
    # Until nothing more is kept: a version is kept when a kept link names it, a collection
    # when it holds a kept version.
    while found := [
        key
        for key, left in open_.items()
        if kept_by(left, patterns.get(left.test, ()), list(kept.values()), orgs)
    ]:
        for key in found:
            kept[key] = open_.pop(key)
    if header is None:
        raise bad("no header line (an empty journal)")
    return JournalFile(
        p,
        header["pid"],
        header["host"],
        header["upstream"],
        float(header.get("started", 0.0) or 0.0),
        [_without_settled_aliases(left, settled) for left in open_.values()],
        list(kept.values()),
        list(restores.values()),
        {name: at for name, at in changed_at.items() if name in restores},
        lasting,
    )


def _shape(entry: Any, header: bool) -> str | None:
    """Why ``entry`` is not a journal line of the kind it must be (a ``header``, or an
    event)."""
    if not isinstance(entry, dict):
        return "not a JSON object"
    if header:
        if entry.get("journal") != JOURNAL_VERSION:
            return f"no header line of a version {JOURNAL_VERSION} journal first"
        pid, started = entry.get("pid"), entry.get("started", 0.0)
        if isinstance(pid, bool) or not isinstance(pid, int) or not 0 < pid < 2**31:
            return "the header's 'pid' is not a process id"
        if not isinstance(entry.get("host"), str) or not isinstance(entry.get("upstream"), str):
            return "the header needs 'host' and 'upstream' strings"
        if isinstance(started, bool) or not isinstance(started, int | float):
            return "the header's 'started' is not a time"
        return None
    event = entry.get("event")
    if not isinstance(entry.get("test", ""), str | None):
        return "'test' is not a string"
    if event == "keep":
        listed = entry.get("patterns")
        ok = isinstance(listed, list) and all(isinstance(x, str) for x in listed)
        return None if ok else "'keep' needs a list of string 'patterns'"
    if event == "restored":
        return None if isinstance(entry.get("name"), str) else "'restored' needs a 'name'"
    if event == "org":
        ok = isinstance(entry.get("name"), str) and isinstance(entry.get("entity"), str)
        return None if ok else "'org' needs a 'name' and an 'entity'"
    if event == "lasting":
        return None if isinstance(entry.get("change"), str) else "'lasting' needs a 'change'"
    if event == "restore":
        return None if _restore(entry.get("restore")) else "'restore' of another shape"
    if event not in _EVENTS:
        return f"an unknown event {str(event)[:40]!r}"
    return None if Owned.from_json(entry.get("owned")) else f"'{event}' needs an 'owned' record"


def _restore(data: Any) -> Restore | None:
    """The :class:`Restore` a ``restore`` line holds, or None for another shape."""
    if not isinstance(data, dict) or not isinstance(data.get("variables"), dict):
        return None
    if not all(isinstance(data.get(k), str) for k in ("name", "change", "field")):
        return None
    try:
        return Restore(**data)
    except TypeError:
        return None


def _restore_entry(
    entry: dict[str, Any], restores: dict[str, Restore], changed_at: dict[str, float]
) -> Restore | None:
    """A ``restore`` line (what puts a change back, and when the session first changed
    it) or a ``restored`` one (it is back: the restore it settles is returned)."""
    if entry["event"] == "restored":
        return restores.pop(entry["name"], None)
    restore = _restore(entry["restore"])
    assert restore is not None  # _shape checked it
    restores[restore.name] = restore
    at = entry.get("at")
    if isinstance(at, int | float) and not isinstance(at, bool):
        changed_at[restore.name] = float(at)
    return None


#: The restores that put an alias back (on the version that held it, or off the test's).
_ALIAS_RESTORES = frozenset({"addAliases", "deleteAliases"})


def _without_settled_aliases(left: Leftover, settled: set[str]) -> Leftover:
    """``left`` without the aliases an alias restore settled in its collection: the alias
    went back (off the test's version), so a teammate's alias of that name found on it
    later is theirs, and holds its delete back."""
    o = left.owned
    gone = {a for a in o.aliases if f"{o.path}:{a}" in settled}
    if not gone:
        return left
    kept = tuple(a for a in o.aliases if a not in gone)
    return Leftover(dataclasses.replace(o, aliases=kept), left.test)


def kept_by(
    left: Leftover,
    patterns: Sequence[str],
    kept: Iterable[Leftover],
    orgs: Mapping[str, str] | None = None,
) -> bool:
    """Whether a test's ``keep`` patterns keep ``left``, as the ledger would have.

    A name matching a pattern is kept (a registry's by its organization's display name
    too, for the ``orgs`` the journal names: :func:`.ownership.spellings`); so is a
    collection that holds a kept version (the version's path is
    ``entity/project/collection``, like the collection's), and a version a kept link
    names (W&B deletes a source's links with it).
    """
    names = spellings(left.owned.name, orgs or {})
    if any(fnmatch.fnmatchcase(n, p) for n in names for p in patterns):
        return True
    o = left.owned
    if o.kind == "artifact":
        return bool(o.server_id) and any(
            k.owned.kind == "link" and k.owned.target_id == o.server_id for k in kept
        )
    return o.kind == "collection" and any(
        k.owned.kind == "artifact" and k.owned.path == o.path for k in kept
    )


def orphaned(
    directory: str | os.PathLike[str],
    dead_hosts: Sequence[str] = (),
    unusable: list[JournalError] | None = None,
) -> list[JournalFile]:
    """Journals of sessions that are no longer running (other hosts only if named);
    ``unusable`` collects the journals that cannot be read (see :func:`journals`)."""
    return [j for j in journals(directory, unusable) if not j.owner_alive(dead_hosts)]


def journals(
    directory: str | os.PathLike[str], unusable: list[JournalError] | None = None
) -> list[JournalFile]:
    """Every readable journal in ``directory``, in file name order.

    A journal that cannot be read, or is unusable (:func:`read`), is left out, and its
    :class:`~.errors.JournalError` appended to ``unusable``: never swept, never silent.
    """
    d = Path(directory)
    if not d.is_dir():
        return []
    found = []
    for p in sorted(d.glob("*.jsonl")):
        try:
            found.append(read(p))
        except JournalError as exc:
            if unusable is not None:
                unusable.append(exc)
        except OSError as exc:
            if unusable is not None:
                why = exc.strerror or str(exc)
                unusable.append(JournalError(f"journal unusable: {p}: {why}; not swept"))
    return found
