"""What a recording created in W&B, by identity, and what it changed that it did not."""

from __future__ import annotations

from ._foreign import (
    ALIAS_HOLDER_GQL,
    PRIOR,
    ForeignChange,
    Restore,
    alias_holder,
    alias_read,
    prior_alias_read,
    prior_artifact_read,
    prior_links_read,
    prior_run_read,
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
)
from ._owned import Owned, describe_json
from ._rules import RULES

__all__ = [
    "ALIAS_HOLDER_GQL",
    "FOREIGN_CHANGES_KEY",
    "FRESH_RUN_IDS_KEY",
    "PRIOR",
    "RULES",
    "Consequence",
    "Event",
    "ForeignChange",
    "Ledger",
    "Owned",
    "Resource",
    "Restore",
    "Unknown",
    "alias_holder",
    "alias_read",
    "cassette_servers",
    "describe_json",
    "intents",
    "outcome",
    "prior_alias_read",
    "prior_artifact_read",
    "prior_links_read",
    "prior_run_read",
    "unresolved",
]
