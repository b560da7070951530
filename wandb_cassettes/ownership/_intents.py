"""What a request may create, read before it is sent: the journal's write-ahead intents.

Before a request that can create something goes upstream, the journal records what it may
create, by the ids the client chose (a fresh run id, an artifact's ``clientID``), so that
a process killed before the answer still leaves a trail the sweep can follow.
"""

from __future__ import annotations

from typing import Any

from .. import protocol as graphql
from ._model import (
    Exchange,
    as_str,
    input_of,
)
from ._rules import (
    collection_name,
    run_input,
)


def intents(body: str | bytes | None) -> list[dict[str, Any]]:
    """What a request may create, by the ids its client chose: the write-ahead journal's entries.

    Read before the request is forwarded, so that a crash or a lost answer
    still leaves a record of what to look for: a run by its name, an artifact
    version by its ``clientID``.
    """
    request = graphql.parse_request(body)
    if request is None or not request.document.is_mutation:
        return []
    found: list[dict[str, Any]] = []
    arguments = request.arguments()
    for i, name in enumerate(request.document.fields):
        ex = Exchange(-1, name, request.variables, {}, "unknown", None, arguments[i])
        if name == "upsertBucket":
            run = run_input(ex)
            if not run["id"] and run["name"]:
                found.append(
                    {
                        "kind": "run",
                        "entity": run["entity"],
                        "project": run["project"],
                        "local": run["name"],
                    }
                )
        elif name == "createArtifact":
            inp = input_of(ex)
            if isinstance(inp.get("clientID"), str):
                found.append(
                    {
                        "kind": "artifact",
                        "entity": as_str(inp.get("entityName")),
                        "project": as_str(inp.get("projectName")),
                        "local": collection_name(inp),
                        "client_id": inp["clientID"],
                        "type": inp.get("artifactTypeName"),
                    }
                )
    return found
