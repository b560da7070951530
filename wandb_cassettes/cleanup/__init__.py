"""Deleting what a recording created: by identity, retried, journalled, swept."""

from __future__ import annotations

from ._deleters import (
    RESTORE_RUN_GQL,
    CleanupError,
    CleanupFailure,
    CleanupReport,
    WandbArtifactCleaner,
    delete_owned,
    restore_document,
)
from ._journal import (
    Journal,
    Leftover,
    api_for,
    journals,
    kept_by,
    orphaned,
    read,
    sweep,
    unreachable,
)

__all__ = [
    "RESTORE_RUN_GQL",
    "CleanupError",
    "CleanupFailure",
    "CleanupReport",
    "Journal",
    "Leftover",
    "WandbArtifactCleaner",
    "api_for",
    "delete_owned",
    "journals",
    "kept_by",
    "orphaned",
    "read",
    "restore_document",
    "sweep",
    "unreachable",
]
