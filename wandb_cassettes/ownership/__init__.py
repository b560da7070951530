"""What a recording created in W&B, by identity, and what it changed that it did not."""

from __future__ import annotations

from ._foreign import (
    PRIOR,
    Changed,
    ForeignChange,
    Restore,
    changed_since,
    expected_read,
    links_read,
    memberships,
    prior_alias_read,
    prior_artifact_read,
    prior_links_read,
    prior_run_read,
    restore_as_left,
)
from ._intents import intents
from ._ledger import Ledger, cassette_servers, unresolved
from ._model import (
    FOREIGN_CHANGES_KEY,
    FRESH_RUN_IDS_KEY,
    Consequence,
    Event,
    Resource,
    Unknown,
    outcome,
    spellings,
)
from ._owned import Owned, describe_json
from ._rules import RULES

__all__ = [
    "FOREIGN_CHANGES_KEY",
    "FRESH_RUN_IDS_KEY",
    "PRIOR",
    "RULES",
    "Changed",
    "Consequence",
    "Event",
    "ForeignChange",
    "Ledger",
    "Owned",
    "Resource",
    "Restore",
    "Unknown",
    "cassette_servers",
    "changed_since",
    "describe_json",
    "expected_read",
    "intents",
    "links_read",
    "memberships",
    "outcome",
    "prior_alias_read",
    "prior_artifact_read",
    "prior_links_read",
    "prior_run_read",
    "restore_as_left",
    "spellings",
    "unresolved",
]
