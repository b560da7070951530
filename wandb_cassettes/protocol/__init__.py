"""W&B's API as the SDK speaks it: GraphQL documents, and what each mutation does."""

from __future__ import annotations

from ._graphql import (
    SERVER_FEATURES,
    SERVER_FEATURES_BODY,
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
    Effect,
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
    "SERVER_FEATURES",
    "SERVER_FEATURES_BODY",
    "Document",
    "Effect",
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
