"""Deleting what a recording created: by identity, retried, journalled, swept."""

from __future__ import annotations

from ._deleters import RESTORE_RUN_GQL, delete_owned, restore_document
from ._journal import Journal, Leftover, journals, kept_by, orphaned, read, settle
from ._retry import (
    DEFAULT_ATTEMPTS,
    DEFAULT_BACKOFF,
    CleanupFailure,
    CleanupReport,
    Deletable,
    check_retries,
    find,
    load_run,
    new_api,
    run_deletions,
)
from ._signature import journal_lines
from ._sweep import SweepResult, api_for, sweep, unreachable

__all__ = [
    "DEFAULT_ATTEMPTS",
    "DEFAULT_BACKOFF",
    "RESTORE_RUN_GQL",
    "CleanupFailure",
    "CleanupReport",
    "Deletable",
    "Journal",
    "Leftover",
    "SweepResult",
    "api_for",
    "check_retries",
    "delete_owned",
    "find",
    "journal_lines",
    "journals",
    "kept_by",
    "load_run",
    "new_api",
    "orphaned",
    "read",
    "restore_document",
    "run_deletions",
    "settle",
    "sweep",
    "unreachable",
]
