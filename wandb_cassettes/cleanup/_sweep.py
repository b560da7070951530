"""The sweep: what interrupted recordings left on W&B, deleted from their journals.

A recording killed mid-test (SIGKILL, a CI timeout) leaves its journal
(:mod:`._journal`) behind; the next recording session, or ``wandb-cassettes sweep``,
reads every orphaned journal and deletes what it lists as created and not yet deleted,
by the same evidence-checked deleters as the automatic cleanup, and puts back the
changes it lists to resources the recording did not create.

A journal is untrusted input, and a sweep sends the user's API key: so a journal is
swept only on an upstream the caller names (the one recording uses, or those given to
``wandb-cassettes sweep --upstream``), never on one the journal names alone, never over
plain http off this machine (:func:`.store.check_upstream`); and only what it names by
identity (a server, client or target id, or for a collection a version in it so named,
whose delete the collection's own checks then follow) is deleted: an entry with its path
alone is reported, never deleted by path.
"""

from __future__ import annotations

import datetime
import functools
import socket
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import CleanupError, ConfigurationError, JournalError
from ..store import check_upstream
from ._deleters import delete_owned
from ._journal import JournalFile, Leftover, settle


@dataclass
class SweepResult:
    """What a sweep did; ``failed`` and ``skipped`` lines name each resource and why."""

    deleted: list[str] = field(default_factory=list)
    #: Changes to resources the sessions did not create, put back.
    restored: list[str] = field(default_factory=list)
    #: Listed, and found deleted already (by the test, or by hand).
    already_gone: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    #: Journals not swept: they name an upstream the caller did not name.
    not_named: list[str] = field(default_factory=list)
    #: Journals refused: they name an upstream no key may be sent to (plain http off
    #: this machine, not a URL): only a hand could have written that.
    unsafe: list[str] = field(default_factory=list)
    #: Entries with their path alone (no server, client or target id): not deleted.
    unidentified: list[str] = field(default_factory=list)
    #: Changes the sessions made to resources they did not create that no API undoes:
    #: a killed session's cassette is never written, so no audit says them but this.
    lasting: list[str] = field(default_factory=list)
    #: Journals left in place: something they list could not be deleted.
    kept_journals: list[Path] = field(default_factory=list)


def sweep(
    journals: Iterable[JournalFile], *, upstreams: Collection[str], api_key: str | None = None
) -> SweepResult:
    """Delete every leftover of ``journals`` on its upstream, by identity, then put back
    what they changed of others' resources; only for journals naming one of ``upstreams``.

    A journal naming another upstream is listed in ``not_named``, one naming an upstream
    no key may go to in ``unsafe``; neither is touched. An entry without any id is listed
    in ``unidentified``, not deleted. A journal whose leftovers are all gone and changes
    all put back is removed (what it lists as kept is never touched); one with failures,
    or with entries left unidentified, stays. Never raises for a resource: each one that
    could not be deleted is a line of ``failed``.
    """

    named = {u.rstrip("/") for u in upstreams}
    result = SweepResult()
    swept: list[tuple[JournalFile, Any]] = []  # deletes done: each journal with its API
    stays: set[Path] = set()
    for j in journals:
        if (j.pending or j.lasting) and not _named(j, named, result):
            continue
        result.lasting += j.lasting
        if not j.pending:
            j.path.unlink(missing_ok=True)
            continue
        # Run files go with their run (delete_owned never deletes one by one).
        leftovers = [left for left in j.leftovers if left.owned.kind != "run_file"]
        unidentified = [left for left in leftovers if not _identified(left, j)]
        result.unidentified += [_by_path(j, left) for left in unidentified]
        identified = [left.owned for left in leftovers if _identified(left, j)]
        if not identified and not j.restores:
            if unidentified:
                result.kept_journals.append(j.path)
            else:
                j.path.unlink(missing_ok=True)
            continue
        started = datetime.datetime.fromtimestamp(j.started, datetime.UTC)
        try:
            api = api_for(j.upstream, api_key)
            report = delete_owned(identified, api=api, not_before=started if j.started else None)
        except CleanupError as exc:
            report = exc.report
            result.failed += [str(f) for f in report.failed]
        except Exception as exc:  # the API cannot even be made: no key, no upstream
            names = [left.name for left in j.leftovers] + [r.name for r in j.restores]
            result.failed += [f"{name}: {type(exc).__name__}: {exc}" for name in names]
            result.kept_journals.append(j.path)
            continue
        result.deleted += report.deleted
        result.already_gone += report.already_gone
        result.skipped += report.skipped
        # A delete a check held back stays listed: once the teammate's alias or link that
        # held it is gone, a later sweep deletes it (the SKIPPED line says so).
        if report.failed or report.skipped or unidentified:
            stays.add(j.path)
        swept.append((j, api))
    settled = _restore_latest_first(swept, result, stays)
    for j, _api in swept:
        if j.path in stays:
            try:
                settle(j, settled.get(j.path, ()))
            except JournalError as exc:
                result.failed.append(str(exc))
            result.kept_journals.append(j.path)
        else:
            j.path.unlink(missing_ok=True)
    return result


def _restore_latest_first(
    swept: list[tuple[JournalFile, Any]], result: SweepResult, stays: set[Path]
) -> dict[Path, list[str]]:
    """Every swept journal's restores, after all the deletes, the latest change first: a
    later session's state before is an earlier one's change (two killed xdist workers on
    one teammate's version), so undoing the later one first ends at the state before both
    (each restore checks the state is still as its session left it).

    Returns:
        The restores settled, by journal: put back, or left because someone changed the
        state since. Neither is ever sent again: a teammate may since have made the state
        the test left on purpose (retired the alias the test had removed).
    """
    settled: dict[Path, list[str]] = {}
    pending = [(j.changed_at.get(r.name, 0.0), i, j, api, r) for i, (j, api) in
               enumerate(swept) for r in j.restores]  # fmt: skip
    for _at, _i, j, api, restore in sorted(pending, key=lambda p: (-p[0], p[1])):
        try:
            report = delete_owned([], api=api, restores=functools.partial(list, [restore]))
        except CleanupError as exc:
            report = exc.report
            result.failed += [str(f) for f in report.restore_failed]
        if report.restore_failed:
            stays.add(j.path)
        else:
            settled.setdefault(j.path, []).append(restore.name)
        result.restored += report.restored
        result.skipped += report.skipped
    return settled


def _named(journal: JournalFile, named: set[str], result: SweepResult) -> bool:
    """Whether ``journal`` may be swept: its upstream is one the caller named, and a key
    may go there; else why not, in ``result``."""
    try:
        upstream = check_upstream(journal.upstream, source=f"journal {journal.path}")
    except ConfigurationError as exc:
        result.unsafe.append(f"{exc}; nothing of it is swept")
        result.kept_journals.append(journal.path)
        return False
    if upstream not in named:
        result.not_named.append(
            f"journal {journal.path} names upstream {upstream}, which was not named: not "
            f"swept (`wandb-cassettes sweep --upstream {upstream}` sweeps it there, if "
            "that is where you recorded)"
        )
        result.kept_journals.append(journal.path)
        return False
    return True


def _identified(left: Leftover, journal: JournalFile) -> bool:
    """Whether a delete can find ``left`` by identity: its own id, or, for a collection
    (the SDK's answers seldom carry its id), a version in it the journal names by id (the
    collection is then deleted only if that left it empty and new: ``_OwnedCollection``)."""
    owned = left.owned
    if owned.identified or (owned.kind == "collection" and owned.created_with):
        # A registry collection the test's first link made: found by name, and deleted only
        # if W&B's clock says it was made with that link and it is empty (_OwnedCollection).
        return True
    return owned.kind == "collection" and any(
        other.owned.kind == "artifact" and other.owned.identified and other.owned.path == owned.path
        for other in journal.leftovers
    )


def _by_path(journal: JournalFile, left: Leftover) -> str:
    return (
        f"{left.owned.kind} {left.name}: journal {journal.path} names it by its path alone "
        "(no answer gave its server id), so it is not deleted; delete it by hand if it is "
        "yours, then remove the journal"
    )


def unreachable(url: str, timeout: float = 10) -> str | None:
    """Why nothing listens at ``url`` (a TCP connect), or None when something does."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "", port), timeout=timeout).close()
    except OSError as exc:
        return f"cannot reach {url}: {exc.strerror or exc}"
    return None


def api_for(base_url: str, api_key: str | None) -> Any:
    """A ``wandb.Api`` for ``base_url`` with ``api_key`` (the SDK checks the key: it raises
    its ``AuthenticationError`` for a refused one)."""
    import wandb

    return wandb.Api(overrides={"base_url": base_url}, api_key=api_key)
