"""What a recording created in W&B, by identity, and what it changed that it did not."""

from __future__ import annotations

from ._foreign import (
    PRIOR,
    ForeignChange,
    Restore,
    prior_alias_read,
    prior_artifact_read,
    prior_links_read,
    prior_run_read,
)
from ._ledger import (
    FOREIGN_CHANGES_KEY,
    FRESH_RUN_IDS_KEY,
    RULES,
    Event,
    Ledger,
    Owned,
    Resource,
    Unknown,
    describe_json,
    intents,
    outcome,
    unresolved,
)

__all__ = [
    "FOREIGN_CHANGES_KEY",
    "FRESH_RUN_IDS_KEY",
    "PRIOR",
    "RULES",
    "Event",
    "ForeignChange",
    "Ledger",
    "Owned",
    "Resource",
    "Restore",
    "Unknown",
    "describe_json",
    "intents",
    "outcome",
    "prior_alias_read",
    "prior_artifact_read",
    "prior_links_read",
    "prior_run_read",
    "unresolved",
]
