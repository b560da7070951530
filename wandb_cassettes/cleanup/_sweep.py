"""The sweep: what interrupted recordings left on W&B, deleted from their journals.

A recording killed mid-test (SIGKILL, a CI timeout) leaves its journal
(:mod:`._journal`) behind; the next recording session, or ``wandb-cassettes sweep``,
reads every orphaned journal and deletes what it lists as created and not yet deleted,
by the same evidence-checked deleters as the automatic cleanup, and puts back the
changes it lists to resources the recording did not create.
"""

from __future__ import annotations

import datetime
import functools
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import CleanupError
from ._deleters import delete_owned
from ._journal import JournalFile


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
    #: Journals left in place: something they list could not be deleted.
    kept_journals: list[Path] = field(default_factory=list)


def sweep(
    journals: Iterable[JournalFile], *, upstream: str | None = None, api_key: str | None = None
) -> SweepResult:
    """Delete every leftover of ``journals`` on its upstream (or ``upstream``), by identity,
    then put back what they changed of others' resources.

    A journal whose leftovers are all gone and changes all put back is removed
    (what it lists as kept is never touched); one with failures stays for the next sweep.
    Never raises for a resource: each one that could not be deleted is a line
    of ``failed``.
    """

    result = SweepResult()
    for j in journals:
        if j.pending:
            started = datetime.datetime.fromtimestamp(j.started, datetime.UTC)
            try:
                api = api_for(upstream or j.upstream, api_key)
                report = delete_owned(
                    [left.owned for left in j.leftovers],
                    api=api,
                    not_before=started if j.started else None,
                    restores=functools.partial(list, j.restores),
                )
            except CleanupError as exc:
                report = exc.report
                result.failed += [str(f) for f in [*report.failed, *report.restore_failed]]
            except Exception as exc:  # the API cannot even be made: no key, no upstream
                names = [left.name for left in j.leftovers] + [r.name for r in j.restores]
                result.failed += [f"{name}: {type(exc).__name__}: {exc}" for name in names]
                result.kept_journals.append(j.path)
                continue
            result.deleted += report.deleted
            result.restored += report.restored
            result.already_gone += report.already_gone
            result.skipped += report.skipped
            if report.failed or report.restore_failed:
                result.kept_journals.append(j.path)
                continue
        j.path.unlink(missing_ok=True)
    return result


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
