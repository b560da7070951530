"""Shape handler answers to the GraphQL documents the wandb SDK sends.

The stand-in answers the exact documents the SDK sends. Handlers build a
superset of the requested data (keyed by schema field names); :func:`project`
then keeps what the document selects, under the document's aliases, honouring
fragments, ``@include``/``@skip`` and ``__typename``. One node builder thus
serves every query that asks for a different slice of the same object, e.g.
the Go core's ``UpdateArtifact`` (``artifact { id }``) and the Python API's
(``result: updateArtifact { artifact { ...ArtifactFragment } }``).

Why graphql-core: it is the reference Python port of GraphQL.js, a
spec-complete parser (block strings, escapes, comments, every value kind)
that this project need not maintain. Each distinct text is parsed once (the
SDK resends the same few dozen documents). There is no schema, hence no
validation or execution: :func:`project` walks the AST, and field arguments
(``graphql.utilities.value_from_ast_untyped``) are handed to :class:`Lazy` values.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from graphql import GraphQLError
from graphql import parse as parse_ast
from graphql.language import (
    ArgumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    NamedTypeNode,
    OperationDefinitionNode,
    SelectionNode,
)
from graphql.utilities import value_from_ast_untyped

__all__ = [
    "Document",
    "GraphQLSyntaxError",
    "Lazy",
    "operation_name",
    "parse",
    "project",
    "root_arguments",
    "root_field",
]

Json = dict[str, Any]


class GraphQLSyntaxError(ValueError):
    """The text is not a GraphQL document, or lacks the operation or fragment asked for."""


class Lazy:
    """A field value computed only if selected; receives the field's arguments.

    Breaks reference cycles (artifact -> sequence -> latest artifact -> ...)
    and lets a node answer arguments such as ``aliases(first: 10)``.
    """

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[Json], Any]) -> None:
        self.fn = fn


# Which concrete types satisfy an abstract type condition in a fragment.
IMPLEMENTS: dict[str, frozenset[str]] = {
    "ArtifactSequence": frozenset({"ArtifactCollection"}),
    "ArtifactPortfolio": frozenset({"ArtifactCollection"}),
}


@dataclass(frozen=True)
class Document:
    """A parsed document: its operations, and its fragments by name."""

    operations: tuple[OperationDefinitionNode, ...]
    fragments: Mapping[str, FragmentDefinitionNode]

    def operation(self, name: str | None) -> OperationDefinitionNode:
        """The operation called ``name``, or the first one."""
        for op in self.operations:
            if name is None or (op.name is not None and op.name.value == name):
                return op
        raise GraphQLSyntaxError(f"no operation named {name!r} in the document")


@functools.lru_cache(maxsize=256)
def parse(text: str) -> Document:
    """Parse a GraphQL document; cached by text."""
    try:
        ast = parse_ast(text, no_location=True)
    except GraphQLError as exc:
        where = "".join(f" at {loc.line}:{loc.column}" for loc in exc.locations or ())
        raise GraphQLSyntaxError(exc.message + where) from exc
    defs = ast.definitions
    return Document(
        tuple(d for d in defs if isinstance(d, OperationDefinitionNode)),
        {d.name.value: d for d in defs if isinstance(d, FragmentDefinitionNode)},
    )


def operation_name(query: str) -> str | None:
    """The name of the document's first named operation; None if none or unparseable."""
    try:
        ops = parse(query).operations
    except GraphQLSyntaxError:
        return None
    return next((op.name.value for op in ops if op.name is not None), None)


def _variables(op: OperationDefinitionNode, given: Mapping[str, Any]) -> Json:
    """Every declared variable: its given value, else its default, else None."""
    declared = {
        d.variable.name.value: (
            None if d.default_value is None else value_from_ast_untyped(d.default_value)
        )
        for d in op.variable_definitions or ()
    }
    return {**declared, **given}


def _arguments(nodes: Sequence[ArgumentNode] | None, variables: Json) -> Json:
    return {a.name.value: value_from_ast_untyped(a.value, variables) for a in nodes or ()}


def _included(node: SelectionNode, variables: Json) -> bool:
    for d in node.directives or ():
        if d.name.value in ("include", "skip"):
            cond = bool(_arguments(d.arguments, variables).get("if"))
            if cond != (d.name.value == "include"):
                return False
    return True


def _type_matches(condition: NamedTypeNode | None, typename: Any) -> bool:
    if condition is None or not isinstance(typename, str):
        return True
    name = condition.name.value
    return name == typename or name in IMPLEMENTS.get(typename, frozenset())


def _merge(into: Json, key: str, value: Any) -> None:
    old = into.get(key)
    if isinstance(old, dict) and isinstance(value, dict):
        for k, v in value.items():
            _merge(old, k, v)
    else:
        into[key] = value


class _Projector:
    """Shapes data for one document and variable set; remembers unknown fields."""

    def __init__(self, doc: Document, variables: Json) -> None:
        self.doc = doc
        self.variables = variables
        self.missing: set[str] = set()

    def selections(self, nodes: Sequence[SelectionNode], data: Mapping[str, Any]) -> Json:
        out: Json = {}
        for node in nodes:
            if not _included(node, self.variables):
                continue
            if isinstance(node, FieldNode):
                _merge(out, (node.alias or node.name).value, self.field(node, data))
                continue
            frag: FragmentDefinitionNode | InlineFragmentNode | None
            if isinstance(node, FragmentSpreadNode):
                frag = self.doc.fragments.get(node.name.value)
                if frag is None:
                    raise GraphQLSyntaxError(f"unknown fragment {node.name.value!r}")
            else:
                frag = cast(InlineFragmentNode, node)  # the only other kind of selection
            if _type_matches(frag.type_condition, data.get("__typename")):
                for k, v in self.selections(frag.selection_set.selections, data).items():
                    _merge(out, k, v)
        return out

    def field(self, node: FieldNode, data: Mapping[str, Any]) -> Any:
        name = node.name.value
        if name not in data:
            if name != "__typename":
                self.missing.add(name)
            return None
        value = data[name]
        if isinstance(value, Lazy):
            value = value.fn(_arguments(node.arguments, self.variables))
        if node.selection_set is None:
            return value
        return self.shape(node.selection_set.selections, value)

    def shape(self, nodes: Sequence[SelectionNode], value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, list):
            return [self.shape(nodes, v) for v in value]
        if not isinstance(value, Mapping):
            raise TypeError(f"expected an object for a selection set, got {type(value).__name__}")
        return self.selections(nodes, value)


def root_field(doc: Document, operation: str | None) -> str:
    """The name of the operation's first root field (``""`` when it selects none)."""
    for node in doc.operation(operation).selection_set.selections:
        if isinstance(node, FieldNode) and node.name.value != "__typename":
            return node.name.value
    return ""


def root_arguments(doc: Document, operation: str | None, variables: Mapping[str, Any]) -> Json:
    """Arguments of the operation's first root field, variables substituted.

    A server sees ``deleteRun(input: {id: $id})`` and ``deleteRun(input: $input)``
    alike; so do the handlers.
    """
    op = doc.operation(operation)
    for node in op.selection_set.selections:
        if isinstance(node, FieldNode) and node.name.value != "__typename":
            return _arguments(node.arguments, _variables(op, variables))
    return {}


def project(
    doc: Document,
    operation: str | None,
    variables: Mapping[str, Any],
    data: Mapping[str, Any],
) -> tuple[Json, set[str]]:
    """Shape ``data`` to ``operation``'s selection set; also return unknown field names."""
    op = doc.operation(operation)
    projector = _Projector(doc, _variables(op, variables))
    return projector.selections(op.selection_set.selections, data), projector.missing
