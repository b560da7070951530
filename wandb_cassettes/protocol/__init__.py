"""W&B's API as the SDK speaks it: GraphQL documents, and what each mutation does."""

from __future__ import annotations

from ._graphql import (
    Document,
    document_of,
    operation_kind,
    parse_request,
    response_errors,
    succeeded,
)
from ._mutations import (
    MUTATIONS,
    NOT_RESTORABLE,
    RESTORABLE,
    classify,
    effects,
    fields_by_action,
    mutation_fields,
    why_not_restorable,
)

__all__ = [
    "MUTATIONS",
    "NOT_RESTORABLE",
    "RESTORABLE",
    "Document",
    "classify",
    "document_of",
    "effects",
    "fields_by_action",
    "mutation_fields",
    "operation_kind",
    "parse_request",
    "response_errors",
    "succeeded",
    "why_not_restorable",
]
