"""What each GraphQL mutation wandb 0.31 sends does: create, delete, change, or nothing.

(Provisional table: the complete one, collected from the SDK's documents, replaces it.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Action = Literal["creates", "deletes", "changes", "harmless"]


@dataclass(frozen=True)
class Effect:
    """What a mutation field does to which kind of resource, and why we think so."""

    action: Action
    kind: str
    reason: str = ""


TABLE: dict[str, Effect] = {
    "upsertBucket": Effect("creates", "run"),
    "createArtifact": Effect("creates", "artifact"),
    "commitArtifact": Effect("changes", "artifact"),
    "createRunFiles": Effect("creates", "run_file"),
    "deleteRun": Effect("deletes", "run"),
    "deleteArtifact": Effect("deletes", "artifact"),
    "deleteArtifactSequence": Effect("deletes", "collection"),
    "deleteArtifactPortfolio": Effect("deletes", "collection"),
}


def classify(field: str) -> Effect | None:
    """The effect of mutation field ``field``; None when unknown."""
    return TABLE.get(field)
