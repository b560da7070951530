"""One retry loop for every delete: tried again with backoff, never swallowed.

Shared by the automatic cleanup (:mod:`._deleters`), the journal's sweep and the user's
``wandb_artifact_cleaner``: each :class:`Deletable` is tried up to ``attempts`` times,
``backoff`` seconds before the second try and doubled before each later one; "not found"
counts as already gone; whatever still failed is reported (:class:`CleanupReport`), never
dropped. The public API's lookups that the deleters share live here too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from .. import compat
from ..errors import ConfigurationError, WandbCassettesError

_log = logging.getLogger(__name__)


T = TypeVar("T")


# How wandb 0.31's public API words "no such project/collection/artifact/run".
_NOT_FOUND_PHRASES = ("not found", "could not find", "does not exist")


DEFAULT_ATTEMPTS = 3


DEFAULT_BACKOFF = 0.5
"""Seconds before the second try; doubled before each later one."""


@dataclass(frozen=True)
class CleanupFailure:
    """A resource that could not be deleted, and the last error."""

    resource: str
    error: Exception
    attempts: int

    def __str__(self) -> str:
        tries = "try" if self.attempts == 1 else "tries"
        # One line per failure: SDK messages often end in (or contain) newlines.
        message = " ".join(str(self.error).split()) or repr(self.error)
        error = f"{type(self.error).__name__}: {message}"
        return f"{self.resource}: {error} (after {self.attempts} {tries})"


@dataclass
class CleanupReport:
    """What a cleanup did, resource by resource."""

    deleted: list[str] = field(default_factory=list)
    already_gone: list[str] = field(default_factory=list)
    #: Not deleted on purpose, each with the reason (the evidence of ownership was missing).
    skipped: list[str] = field(default_factory=list)
    #: Not deleted: evidence found on the way showed it was not the recording's.
    not_ours: list[str] = field(default_factory=list)
    #: Not deletable through W&B's API (a sweep: cancelled instead), each with the reason.
    left_by_design: list[str] = field(default_factory=list)
    failed: list[CleanupFailure] = field(default_factory=list)
    #: Changes to resources the recording did not create, put back as they were.
    restored: list[str] = field(default_factory=list)
    #: Such changes that could not be put back.
    restore_failed: list[CleanupFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing that was to be deleted is left in W&B, and all is restored."""
        return not self.failed and not self.skipped and not self.restore_failed


class Skip(Exception):
    """A check refused a delete (or a restore): the resource stays, and the reason is
    reported after ``what`` (``"not deleted"``, ``"not put back"``)."""

    def __init__(self, reason: str, *, what: str = "not deleted") -> None:
        super().__init__(reason)
        self.what = what


class NotOurs(Exception):
    """Evidence found while cleaning up shows the resource was not the recording's after all."""


class LeftByDesign(Exception):
    """W&B's API cannot delete it: what could be done was done, the rest is reported."""


class Deletable(Protocol):
    def describe(self) -> str: ...

    def delete(self, api: Any, *, fresh: bool) -> bool:
        """Delete it; False if there was nothing to delete; :class:`Skip` if it must stay.

        ``fresh`` asks to bypass the public API's caches: a retry must see what
        an earlier, failed-looking attempt may already have deleted.
        """
        ...


def run_deletions(
    pending: list[Deletable], get_api: Callable[[], Any], attempts: int, backoff: float
) -> CleanupReport:
    report = CleanupReport()
    if not pending:
        return report
    try:
        api = get_api()
    except Exception as exc:  # no key, no network: nothing could be deleted
        report.failed = [CleanupFailure(r.describe(), exc, 1) for r in pending]
        return report
    for resource in pending:
        delete_with_retries(api, resource, report, attempts, backoff)
    return report


def delete_with_retries(
    api: Any, resource: Deletable, report: CleanupReport, attempts: int, backoff: float
) -> None:
    description = resource.describe()
    for attempt in range(1, attempts + 1):
        try:
            deleted = resource.delete(api, fresh=attempt > 1)
        except Skip as skip:
            report.skipped.append(f"{description}: {skip.what}: {skip}")
            return
        except NotOurs as not_ours:
            report.not_ours.append(f"{description}: not the recording's: {not_ours}")
            return
        except LeftByDesign as left:
            report.left_by_design.append(f"{description}: {left}")
            return
        except WandbCassettesError as exc:  # decided here (a refusal): no try changes it
            report.failed.append(CleanupFailure(description, exc, attempt))
            return
        except Exception as exc:
            if attempt == attempts:
                report.failed.append(CleanupFailure(description, exc, attempt))
                return
            delay = backoff * 2 ** (attempt - 1)
            _log.warning(
                "deleting %s failed (try %d of %d), retrying in %.2fs: %s",
                description,
                attempt,
                attempts,
                delay,
                exc,
            )
            time.sleep(delay)
        else:
            (report.deleted if deleted else report.already_gone).append(description)
            return


def check_retries(attempts: int, backoff: float) -> None:
    if attempts < 1:
        raise ConfigurationError(f"attempts must be at least 1, got {attempts}")
    if backoff < 0:
        raise ConfigurationError(f"backoff must not be negative, got {backoff}")


def new_api() -> Any:
    import wandb

    return wandb.Api()


def graphql_request(api: Any, document: str, variables: dict[str, Any]) -> Any:
    """Run ``document`` through the public API's transport (wandb-core), as the SDK does
    (:func:`.compat.execute_graphql`; tests/e2e/test_cleaner.py drives each path against the
    stand-in)."""
    return compat.execute_graphql(api, document, variables)


def find(lookup: Callable[[], T]) -> T | None:
    """``lookup()``, or None when the public API says there is no such thing."""
    try:
        return lookup()
    except Exception as exc:
        if is_not_found(exc):
            return None
        raise


def is_not_found(exc: BaseException) -> bool:
    """Whether the public API said the resource does not exist (not that it failed).

    The SDK raises a ``ValueError`` for that (``RunNotFoundError``, "... not
    found ...", "Could not find ..."), often wrapped in a ``CommError`` whose
    ``exc`` is the original.
    """
    for error in causes(exc):
        if isinstance(error, ValueError) and (
            type(error).__name__ == "RunNotFoundError"
            or any(phrase in str(error).lower() for phrase in _NOT_FOUND_PHRASES)
        ):
            return True
    return False


def causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        wrapped = getattr(current, "exc", None)
        current = wrapped if isinstance(wrapped, BaseException) else current.__cause__


def load_run(api: Any, path: str, fresh: bool) -> Any:
    run = api.run(path)
    if fresh:
        run.load(force=True)
    return run
