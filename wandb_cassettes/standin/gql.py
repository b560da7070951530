"""A minimal GraphQL reader: parse a query document, shape data to its selection set.

The stand-in answers the exact documents the wandb SDK sends. Handlers build a
superset of the requested data (keyed by schema field names); :func:`project`
then keeps what the document selects, under the document's aliases, honouring
fragments, ``@include``/``@skip`` and ``__typename``. One node builder thus
serves every query that asks for a different slice of the same object, e.g.
the Go core's ``UpdateArtifact`` (``artifact { id }``) and the Python API's
(``result: updateArtifact { artifact { ...ArtifactFragment } }``).

Only what the SDK uses is supported: no schema, no validation, no
introspection. Field arguments are parsed and handed to lazy values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Document",
    "GraphQLSyntaxError",
    "Lazy",
    "operation_name",
    "parse",
    "project",
    "root_arguments",
]


class GraphQLSyntaxError(ValueError):
    """The document is not GraphQL this reader understands."""


@dataclass(frozen=True)
class Var:
    name: str


@dataclass
class Field:
    name: str
    alias: str | None
    args: dict[str, Any]
    directives: list[tuple[str, dict[str, Any]]]
    selections: list[Selection] | None

    @property
    def key(self) -> str:
        return self.alias or self.name


@dataclass
class FragmentSpread:
    name: str
    directives: list[tuple[str, dict[str, Any]]]


@dataclass
class InlineFragment:
    type_condition: str | None
    directives: list[tuple[str, dict[str, Any]]]
    selections: list[Selection]


Selection = Field | FragmentSpread | InlineFragment
Json = dict[str, Any]


@dataclass
class Operation:
    kind: str
    name: str | None
    defaults: dict[str, Any]
    selections: list[Selection]


@dataclass
class Document:
    operations: list[Operation] = field(default_factory=list)
    fragments: dict[str, InlineFragment] = field(default_factory=dict)

    def operation(self, name: str | None) -> Operation:
        """The operation called ``name``, or the only one."""
        for op in self.operations:
            if name is None or op.name == name:
                return op
        raise GraphQLSyntaxError(f"no operation named {name!r} in the document")


class Lazy:
    """A field value computed only if selected; receives the field's arguments.

    Breaks reference cycles (artifact -> sequence -> latest artifact -> ...)
    and lets a node answer arguments such as ``aliases(first: 10)``.
    """

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[dict[str, Any]], Any]) -> None:
        self.fn = fn


# Which concrete types satisfy an abstract type condition in a fragment.
IMPLEMENTS: dict[str, frozenset[str]] = {
    "ArtifactSequence": frozenset({"ArtifactCollection"}),
    "ArtifactPortfolio": frozenset({"ArtifactCollection"}),
}

_TOKEN = re.compile(
    r"""
    (?P<ignored>[\s,\ufeff]+|\#[^\n]*)
    |(?P<block>\"\"\"(?:\\\"\"\"|[^"]|"(?!""))*\"\"\")
    |(?P<string>"(?:\\.|[^"\\\n])*")
    |(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
    |(?P<name>[_A-Za-z][_0-9A-Za-z]*)
    |(?P<punct>\.\.\.|[!$&()\:=@\[\]{}|])
    """,
    re.VERBOSE,
)

_OPERATION_NAME = re.compile(r"\b(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)")


def operation_name(query: str) -> str | None:
    """The first ``query|mutation NAME`` in ``query``, without a full parse."""
    m = _OPERATION_NAME.search(query)
    return m.group(1) if m else None


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None:
                raise GraphQLSyntaxError(f"unexpected character {text[pos]!r} at {pos}")
            pos = m.end()
            kind = m.lastgroup or ""
            if kind != "ignored":
                self.tokens.append((kind, m.group()))
        self.i = 0

    def peek(self, value: str | None = None) -> bool:
        if self.i >= len(self.tokens):
            return False
        return value is None or self.tokens[self.i][1] == value

    def take(self, value: str | None = None) -> tuple[str, str]:
        if self.i >= len(self.tokens):
            raise GraphQLSyntaxError("unexpected end of document")
        tok = self.tokens[self.i]
        if value is not None and tok[1] != value:
            raise GraphQLSyntaxError(f"expected {value!r}, got {tok[1]!r}")
        self.i += 1
        return tok

    def name(self) -> str:
        kind, value = self.take()
        if kind != "name":
            raise GraphQLSyntaxError(f"expected a name, got {value!r}")
        return value

    def document(self) -> Document:
        doc = Document()
        while self.peek():
            if self.peek("fragment"):
                self.take()
                name = self.name()
                self.take("on")
                cond = self.name()
                doc.fragments[name] = InlineFragment(cond, self.directives(), self.selection_set())
            elif self.peek("{"):
                doc.operations.append(Operation("query", None, {}, self.selection_set()))
            else:
                kind = self.name()
                if kind not in ("query", "mutation", "subscription"):
                    raise GraphQLSyntaxError(f"unexpected {kind!r}")
                op_name = self.name() if self.tokens[self.i][0] == "name" else None
                defaults = self.variable_definitions() if self.peek("(") else {}
                self.directives()
                doc.operations.append(Operation(kind, op_name, defaults, self.selection_set()))
        return doc

    def variable_definitions(self) -> dict[str, Any]:
        defaults: dict[str, Any] = {}
        self.take("(")
        while not self.peek(")"):
            self.take("$")
            name = self.name()
            self.take(":")
            self.type_ref()
            if self.peek("="):
                self.take()
                defaults[name] = self.value()
            self.directives()
        self.take(")")
        return defaults

    def type_ref(self) -> None:
        if self.peek("["):
            self.take()
            self.type_ref()
            self.take("]")
        else:
            self.name()
        if self.peek("!"):
            self.take()

    def directives(self) -> list[tuple[str, dict[str, Any]]]:
        out = []
        while self.peek("@"):
            self.take()
            out.append((self.name(), self.arguments()))
        return out

    def arguments(self) -> dict[str, Any]:
        args: dict[str, Any] = {}
        if self.peek("("):
            self.take()
            while not self.peek(")"):
                key = self.name()
                self.take(":")
                args[key] = self.value()
            self.take(")")
        return args

    def value(self) -> Any:
        kind, tok = self.take()
        if tok == "$":
            return Var(self.name())
        if kind == "number":
            return float(tok) if any(c in tok for c in ".eE") else int(tok)
        if kind == "string":
            return json.loads(tok)
        if kind == "block":
            return tok[3:-3]
        if tok == "[":
            items = []
            while not self.peek("]"):
                items.append(self.value())
            self.take("]")
            return items
        if tok == "{":
            obj = {}
            while not self.peek("}"):
                key = self.name()
                self.take(":")
                obj[key] = self.value()
            self.take("}")
            return obj
        if kind == "name":
            return {"true": True, "false": False, "null": None}.get(tok, tok)
        raise GraphQLSyntaxError(f"unexpected {tok!r} in a value")

    def selection_set(self) -> list[Selection]:
        self.take("{")
        out: list[Selection] = []
        while not self.peek("}"):
            out.append(self.selection())
        self.take("}")
        return out

    def selection(self) -> Selection:
        if self.peek("..."):
            self.take()
            if self.peek("on"):
                self.take()
                cond = self.name()
                return InlineFragment(cond, self.directives(), self.selection_set())
            if self.peek("{") or self.peek("@"):
                return InlineFragment(None, self.directives(), self.selection_set())
            return FragmentSpread(self.name(), self.directives())
        first = self.name()
        alias, name = None, first
        if self.peek(":"):
            self.take()
            alias, name = first, self.name()
        args = self.arguments()
        directives = self.directives()
        selections = self.selection_set() if self.peek("{") else None
        return Field(name, alias, args, directives, selections)


def parse(text: str) -> Document:
    """Parse a GraphQL document (operations and fragments)."""
    return _Parser(text).document()


def resolve(value: Any, variables: Mapping[str, Any]) -> Any:
    """Substitute variables in an argument value."""
    if isinstance(value, Var):
        return variables.get(value.name)
    if isinstance(value, list):
        return [resolve(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, variables) for k, v in value.items()}
    return value


def _included(directives: list[tuple[str, dict[str, Any]]], variables: Mapping[str, Any]) -> bool:
    for name, args in directives:
        cond = bool(resolve(args.get("if"), variables))
        if (name == "include" and not cond) or (name == "skip" and cond):
            return False
    return True


def _type_matches(condition: str | None, typename: Any) -> bool:
    if condition is None or not isinstance(typename, str):
        return True
    return condition == typename or condition in IMPLEMENTS.get(typename, frozenset())


def _merge(into: dict[str, Any], new: dict[str, Any]) -> None:
    for key, value in new.items():
        old = into.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            _merge(old, value)
        else:
            into[key] = value


class Projector:
    """Shapes data for one document and variable set; remembers unknown fields."""

    def __init__(self, doc: Document, variables: Mapping[str, Any]) -> None:
        self.doc = doc
        self.variables = variables
        self.missing: set[str] = set()

    def selections(self, selections: list[Selection], data: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for sel in selections:
            if not _included(sel.directives, self.variables):
                continue
            if isinstance(sel, Field):
                _merge(out, {sel.key: self.field(sel, data)})
                continue
            if isinstance(sel, FragmentSpread):
                frag = self.doc.fragments.get(sel.name)
                if frag is None:
                    raise GraphQLSyntaxError(f"unknown fragment {sel.name!r}")
                sel = frag
            if _type_matches(sel.type_condition, data.get("__typename")):
                _merge(out, self.selections(sel.selections, data))
        return out

    def field(self, sel: Field, data: Mapping[str, Any]) -> Any:
        if sel.name not in data:
            if sel.name != "__typename":
                self.missing.add(sel.name)
            return None
        value = data[sel.name]
        if isinstance(value, Lazy):
            value = value.fn(resolve(sel.args, self.variables))
        if sel.selections is None:
            return value
        return self.shape(sel.selections, value)

    def shape(self, selections: list[Selection], value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, list):
            return [self.shape(selections, v) for v in value]
        if not isinstance(value, Mapping):
            raise TypeError(f"expected an object for a selection set, got {type(value).__name__}")
        return self.selections(selections, value)


def root_arguments(doc: Document, operation: str | None, variables: Mapping[str, Any]) -> Json:
    """Arguments of the operation's first root field, variables substituted.

    A server sees ``deleteRun(input: {id: $id})`` and ``deleteRun(input: $input)``
    alike; so do the handlers.
    """
    op = doc.operation(operation)
    merged = {**op.defaults, **variables}
    for sel in op.selections:
        if isinstance(sel, Field) and sel.name != "__typename":
            args: Json = resolve(sel.args, merged)
            return args
    return {}


def project(
    doc: Document,
    operation: str | None,
    variables: Mapping[str, Any],
    data: Mapping[str, Any],
) -> tuple[dict[str, Any], set[str]]:
    """Shape ``data`` to ``operation``'s selection set; also return unknown field names."""
    op = doc.operation(operation)
    merged = {**op.defaults, **variables}
    projector = Projector(doc, merged)
    return projector.selections(op.selections, data), projector.missing
