"""Reading W&B GraphQL traffic: operation names, variables, errors.

One place for it, because matching, the ledger, the audit and ``show`` all
need to know "which operation was this and did it succeed".
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any

_OPERATION_RE = re.compile(r"\b(query|mutation|subscription)\s+([A-Za-z_][A-Za-z0-9_]*)")

#: The read of a server's feature flags. Its answer is the server's, not any test's, and
#: how often an SDK asks it is its own caching: wandb 0.29 and 0.30 at every
#: ``wandb.init``, 0.31 before artifact operations (both measured by recording).
SERVER_FEATURES = "ServerFeaturesQuery"
#: That read as wandb-core sends it, byte for byte as recorded (wandb-core's generated
#: ``ServerFeaturesQuery``; the Python SDK's twin is ``SERVER_FEATURES_QUERY_GQL`` in
#: ``wandb/sdk/internal/_generated/server_features_query.py``).
SERVER_FEATURES_BODY = json.dumps(
    {
        "query": "\nquery ServerFeaturesQuery {\n\tserverInfo {\n\t\tfeatures {\n"
        "\t\t\tname\n\t\t\tisEnabled\n\t\t}\n\t}\n}\n",
        "operationName": SERVER_FEATURES,
    },
    separators=(",", ":"),
).encode()


@dataclass(frozen=True)
class GraphQLRequest:
    """The parts of a GraphQL request body that identify it."""

    operation: str
    variables: dict[str, Any] = field(default_factory=dict)
    query: str = ""
    #: ``operationName`` as sent (None when absent).
    operation_name: str | None = None

    @property
    def document(self) -> Document:
        """What the document does: its operation type and top-level fields (parsed, cached)."""
        return document_of(self.query, self.operation_name)

    @property
    def is_mutation(self) -> bool:
        """Whether the selected operation is a mutation (replay's question, asked per request).

        Without a parser where the text settles it: no ``mutation`` in it at all (no
        parse, and no fallback of :func:`document_of`, could find one), or a scan of
        its definitions finds the selected one a mutation (:func:`operation_kind`);
        parsed (:attr:`document`) otherwise. Never less careful than parsing: a
        document that does not parse but reads as a mutation is one.
        """
        if "mutation" not in self.query:
            return False
        if operation_kind(self.query, self.operation_name) == "mutation":
            return True
        return self.document.is_mutation

    def arguments(self) -> tuple[dict[str, Any], ...]:
        """Each root field's arguments as the server reads them (see :meth:`Document.arguments`)."""
        return self.document.arguments(self.variables)


@dataclass(frozen=True)
class Document:
    """The selected operation of a GraphQL document: ``mutation`` and its root fields.

    ``fields`` are the schema's field names, not the aliases a client chose
    (the SDK's generated documents alias ``deleteArtifact`` as ``result``).
    ``kind`` is ``"query"``, ``"mutation"``, ``"subscription"``, or ``""``
    when the document does not parse.
    """

    kind: str
    fields: tuple[str, ...] = ()
    #: Per root field, its argument nodes (graphql-core ``ArgumentNode`` s).
    argument_nodes: tuple[tuple[Any, ...], ...] = field(default=(), compare=False, repr=False)
    #: Default values of the operation's variables (graphql-core value nodes), by name.
    variable_defaults: tuple[tuple[str, Any], ...] = field(default=(), compare=False, repr=False)

    @property
    def is_mutation(self) -> bool:
        return self.kind == "mutation"

    def arguments(self, variables: dict[str, Any]) -> tuple[dict[str, Any], ...]:
        """Each root field's arguments with ``variables`` substituted, as a server reads them.

        ``deleteRun(input: {id: $id})`` with ``{"id": "x"}``, ``deleteRun(input: $input)``
        with ``{"input": {"id": "x"}}`` and ``deleteRun(input: {id: "x"})`` all give
        ``({"input": {"id": "x"}},)``: what a request does does not depend on how its
        client spelled it. A variable neither sent nor defaulted is left out. Empty
        dicts when the document does not parse.
        """
        if not self.argument_nodes:
            return tuple({} for _ in self.fields)
        from graphql import value_from_ast_untyped

        values = {name: value_from_ast_untyped(node) for name, node in self.variable_defaults}
        values.update(variables)
        return tuple(
            {a.name.value: _defined(value_from_ast_untyped(a.value, values)) for a in nodes}
            for nodes in self.argument_nodes
        )


def _defined(value: Any) -> Any:
    """``value`` without graphql-core's ``Undefined`` (an unsent variable): None, or left out."""
    from graphql import Undefined

    if value is Undefined:
        return None
    if isinstance(value, dict):
        return {k: _defined(v) for k, v in value.items() if v is not Undefined}
    if isinstance(value, list):
        return [_defined(v) for v in value if v is not Undefined]
    return value


# What a lexer skips (GraphQL spec, "Ignored Tokens"), strings included: block strings,
# strings, comments. What is left is searched for definitions and brackets.
_SKIPPED_RE = re.compile(r'"""(?:\\"""|[^"]|"(?!""))*"""|"(?:\\.|[^"\\\n\r])*"|#[^\n\r]*')
_TOKEN_RE = re.compile(
    r"[{}()]|(?<![$\w])(query|mutation|subscription|fragment)(?!\w)\s*([A-Za-z_]\w*)?"
)


@functools.lru_cache(maxsize=512)
def operation_kind(query: str, operation_name: str | None = None) -> str | None:
    """``"query"``, ``"mutation"`` or ``"subscription"``: the kind of the selected operation.

    A scan of the definitions at the document's top level (outside braces and
    parentheses, strings and comments skipped), so that replay need not load a
    GraphQL parser. None when the scan cannot tell (no operation, several and
    none selected, unbalanced brackets): the caller then parses the document
    (:func:`document_of`). tests/unit/test_graphql.py checks it against graphql-core
    on every document the SDK sends.
    """
    text = _SKIPPED_RE.sub(" ", query)
    operations: list[tuple[str, str | None]] = []
    braces = parens = 0
    opened = False  # a definition's keyword was read: the next top-level "{" is its selection
    for m in _TOKEN_RE.finditer(text):
        token = m.group()
        if token == "(":
            parens += 1
        elif token == ")":
            parens -= 1
        elif token == "{":
            if braces == 0 and parens == 0:
                if not opened:
                    operations.append(("query", None))  # the shorthand "{ ... }" is a query
                opened = False
            braces += 1
        elif token == "}":
            braces -= 1
        elif braces == 0 and parens == 0:
            if m.group(1) != "fragment":
                operations.append((m.group(1), m.group(2)))
            opened = True
        if braces < 0 or parens < 0:
            return None
    if braces or parens:
        return None
    if operation_name:
        chosen = [kind for kind, name in operations if name == operation_name]
        return chosen[0] if len(chosen) == 1 else None
    return operations[0][0] if len(operations) == 1 else None


@functools.lru_cache(maxsize=512)
def document_of(query: str, operation_name: str | None = None) -> Document:
    """Parse ``query`` (graphql-core) and describe the operation ``operation_name`` selects.

    Cached by text: the SDK sends the same few dozen documents over and over.
    A document that does not parse is ``Document("")``; one whose text says
    ``mutation`` but cannot be read is still reported as a mutation with no
    known field, so that it is never taken for harmless.
    """
    from graphql import GraphQLError, OperationDefinitionNode, parse
    from graphql.language import FieldNode

    try:
        doc = parse(query, no_location=True)
    except (GraphQLError, RecursionError):
        m = _OPERATION_RE.search(query)
        return Document("mutation" if m and m.group(1) == "mutation" else "")
    operations = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = next(
        (o for o in operations if operation_name and o.name and o.name.value == operation_name),
        operations[0] if len(operations) == 1 else None,
    )
    if chosen is None:
        return Document("")
    roots = [s for s in chosen.selection_set.selections if isinstance(s, FieldNode)]
    defaults = tuple(
        (d.variable.name.value, d.default_value)
        for d in chosen.variable_definitions or ()
        if d.default_value is not None
    )
    return Document(
        chosen.operation.value,
        tuple(s.name.value for s in roots),
        tuple(tuple(s.arguments or ()) for s in roots),
        defaults,
    )


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
    sent_name = data.get("operationName")
    return GraphQLRequest(
        name,
        variables if isinstance(variables, dict) else {},
        query,
        sent_name if isinstance(sent_name, str) and sent_name else None,
    )


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
