"""Reading W&B GraphQL traffic: operation names, variables, errors.

One place for it, because matching, the ledger, the audit and ``show`` all
need to know "which operation was this and did it succeed".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_OPERATION_RE = re.compile(r"\b(query|mutation|subscription)\s+([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class GraphQLRequest:
    """The parts of a GraphQL request body that identify it."""

    operation: str
    variables: dict[str, Any] = field(default_factory=dict)
    query: str = ""


def parse_request(body: str | bytes | None) -> GraphQLRequest | None:
    """Parse a GraphQL POST body; None when it is not a GraphQL request.

    The operation name comes from ``operationName`` when the client sent one,
    else from the first ``query Name`` / ``mutation Name`` in the query text
    (wandb-core does not always send ``operationName``).
    """
    if not body:
        return None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python recurses
        return None
    if not isinstance(data, dict) or not isinstance(data.get("query"), str):
        return None
    query: str = data["query"]
    name = data.get("operationName")
    if not isinstance(name, str) or not name:
        m = _OPERATION_RE.search(query)
        name = m.group(2) if m else "<anonymous>"
    variables = data.get("variables")
    return GraphQLRequest(name, variables if isinstance(variables, dict) else {}, query)


def response_errors(body: Any) -> list[str]:
    """The messages of a GraphQL response's ``errors`` array (parsed JSON)."""
    if not isinstance(body, dict):
        return []
    errors = body.get("errors") or []
    if not isinstance(errors, list):
        return [str(errors)]
    return [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors]


def succeeded(status: int, body: Any) -> bool:
    """An exchange succeeded: HTTP 2xx and no GraphQL ``errors``."""
    return 200 <= status < 300 and not response_errors(body)
