"""Does a GraphQL answer have the shape the wandb SDK itself expects? A checker that can fail.

The stand-in is only worth recording against if its answers are ones W&B
could give. W&B's schema is private, but the SDK ships two faithful images of
it, and every answer is checked against them:

1. the pydantic result models that ariadne-codegen generated from the schema
   for the Python side's documents (``wandb/sdk/artifacts/_generated/``,
   ``wandb/apis/_generated/``, ``wandb/automations/_generated/``,
   ``wandb/sdk/internal/_generated/``), matched by operation name and used
   when the document sent is exactly the generated one: a non-null field
   missing or null, an object where a list belongs, a value outside an enum,
   a string where an integer belongs... are all refused, as the SDK would;
2. for every other document (wandb-core's, hand-written ones, generated ones
   the SDK trimmed for an older server): the document's own selection set
   (every selected field present; a field with a selection answered by an
   object, a list of them, or null), plus, where wandb-core has the operation,
   the nullability and list-ness genqlient generated for it (``_core_shapes``).

:func:`check` checks one answer; :func:`check_cassette` every GraphQL answer
of a recorded cassette. The stand-in runs :func:`check` on each answer when
built with ``fidelity=True`` or when ``WANDB_CASSETTES_STANDIN_FIDELITY=1``,
and turns a violation into an error answer (see ``StandinBackend``).
"""

from __future__ import annotations

import functools
import importlib
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any, cast

import yaml
from graphql import parse as parse_ast
from graphql import print_ast
from graphql.language import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionNode,
)
from pydantic import BaseModel, ValidationError

from . import gql
from ._core_shapes import SHAPES

__all__ = ["ENV", "check", "check_cassette", "enabled", "generated_models"]

#: Environment variable that turns the check on for every StandinBackend.
ENV = "WANDB_CASSETTES_STANDIN_FIDELITY"

#: The SDK packages whose ``*_GQL`` documents have generated result models.
GENERATED_PACKAGES = (
    "wandb.sdk.artifacts._generated",
    "wandb.apis._generated",
    "wandb.automations._generated",
    "wandb.sdk.internal._generated",
)

Json = dict[str, Any]


def enabled(flag: bool | None = None) -> bool:
    """``flag`` if given, else whether :data:`ENV` is set to a true value."""
    if flag is not None:
        return flag
    return os.environ.get(ENV, "").strip().lower() in ("1", "true", "yes", "on")


@functools.lru_cache(maxsize=512)
def _normalized(text: str) -> str | None:
    try:
        return print_ast(parse_ast(text, no_location=True))
    except Exception:
        return None


@functools.cache
def generated_models() -> dict[str, tuple[str, type[BaseModel]]]:
    """``{operation name: (normalized document, result model)}`` from the SDK's packages."""
    found: dict[str, tuple[str, type[BaseModel]]] = {}
    for package in GENERATED_PACKAGES:
        try:
            module = importlib.import_module(package)
        except ImportError:
            continue
        for attr in dir(module):
            if not attr.endswith("_GQL"):
                continue
            text = getattr(module, attr)
            name = gql.operation_name(text) if isinstance(text, str) else None
            model = getattr(module, name, None) if name else None
            normalized = _normalized(text)
            if isinstance(model, type) and issubclass(model, BaseModel) and normalized:
                found[name] = (normalized, model)  # type: ignore[index]
    return found


def check(
    query: str,
    variables: Mapping[str, Any] | None,
    operation: str | None,
    data: Any,
) -> list[str]:
    """Problems of ``data`` as the answer to ``query``; each names the operation and field."""
    try:
        doc = gql.parse(query)
        op = doc.operation(operation)
    except gql.GraphQLSyntaxError as exc:
        return [f"{operation}: the document does not parse: {exc}"]
    name = op.name.value if op.name else operation or "<anonymous>"
    if not isinstance(data, dict):
        return [f"{name}: data: expected an object, got {type(data).__name__}"]
    generated = generated_models().get(name)
    if generated is not None and generated[0] == _normalized(query):
        return _check_model(name, generated[1], data)
    walker = _Walker(doc, name, dict(variables or {}))
    walker.selections(op.selection_set.selections, data, "", SHAPES.get(name))
    return walker.problems


def _check_model(name: str, model: type[BaseModel], data: Json) -> list[str]:
    try:
        model.model_validate(data)
    except ValidationError as exc:
        return [
            f"{name}: {'.'.join(str(p) for p in err['loc']) or 'data'}: {err['msg']}"
            f" (got {_brief(err.get('input'))}; SDK model {model.__name__})"
            for err in exc.errors()
        ]
    return []


def _brief(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


class _Walker:
    """Walks a selection set over an answer, with wandb-core's shapes where known."""

    def __init__(self, doc: gql.Document, operation: str, variables: Json) -> None:
        self.doc = doc
        self.operation = operation
        self.variables = variables
        self.problems: list[str] = []

    def problem(self, path: str, what: str) -> None:
        self.problems.append(f"{self.operation}: {path}: {what}")

    def selections(
        self, nodes: Sequence[SelectionNode], data: Json, path: str, shapes: Any
    ) -> None:
        for node in nodes:
            if not gql._included(node, self.variables):
                continue
            if isinstance(node, FieldNode):
                self.field(node, data, path, shapes)
                continue
            frag: FragmentDefinitionNode | InlineFragmentNode | None
            if isinstance(node, FragmentSpreadNode):
                frag = self.doc.fragments.get(node.name.value)
            else:
                frag = cast(InlineFragmentNode, node)  # the only other kind of selection
            if frag is None:
                self.problem(path or "data", "unknown fragment")
                continue
            if gql._type_matches(frag.type_condition, data.get("__typename")):
                self.selections(frag.selection_set.selections, data, path, shapes)

    def field(self, node: FieldNode, data: Json, path: str, shapes: Any) -> None:
        key = (node.alias or node.name).value
        here = f"{path}.{key}" if path else key
        if key not in data:
            self.problem(here, "selected but absent from the answer")
            return
        shape = shapes.get(node.name.value) if isinstance(shapes, dict) else None
        flags, children = shape if isinstance(shape, tuple) else (shape, None)
        value = data[key]
        if value is None:
            if flags is not None and "?" not in flags:
                self.problem(here, "null for a non-null field (wandb-core's generated type)")
            return
        if flags is not None and "[]" in flags:
            if not isinstance(value, list):
                self.problem(here, f"expected a list, got {type(value).__name__}")
                return
            if node.selection_set is not None:
                for i, item in enumerate(value):
                    self.value(node, item, f"{here}[{i}]", children, nullable="?" in flags[3:])
            elif not flags.endswith("?") and any(v is None for v in value):
                self.problem(here, "a null element in a list of non-null values")
            return
        if children is not None and isinstance(value, list):
            self.problem(here, "expected an object, got a list (wandb-core's generated type)")
            return
        if node.selection_set is not None:
            self.value(node, value, here, children, nullable=True)

    def value(self, node: FieldNode, value: Any, path: str, children: Any, nullable: bool) -> None:
        assert node.selection_set is not None
        if value is None:
            if not nullable:
                self.problem(path, "null element in a list of non-null objects")
            return
        if isinstance(value, list):
            for i, item in enumerate(value):
                self.value(node, item, f"{path}[{i}]", children, nullable)
            return
        if not isinstance(value, dict):
            self.problem(path, f"expected an object, got {type(value).__name__}")
            return
        self.selections(node.selection_set.selections, value, path, children)


def check_cassette(path: str | os.PathLike[str]) -> list[str]:
    """Problems of every GraphQL answer recorded in a cassette; each names its interaction.

    The cassette is read as vcrpy's YAML format (``interactions`` of ``request`` and
    ``response`` mappings), which is all a cassette is on disk.
    """
    with open(path, encoding="utf-8") as fh:
        cassette = yaml.safe_load(fh) or {}
    problems: list[str] = []
    for index, interaction in enumerate(cassette.get("interactions") or []):
        request, response = interaction.get("request") or {}, interaction.get("response") or {}
        uri = str(request.get("uri") or "")
        if request.get("method") != "POST" or not uri.split("?")[0].endswith("/graphql"):
            continue
        body, answer = _json(request.get("body")), _json((response.get("body") or {}).get("string"))
        if not isinstance(body, dict) or not isinstance(answer, dict):
            continue
        if answer.get("errors") or answer.get("data") is None:
            continue  # an error answer has no data to check
        query = body.get("query") or ""
        operation = body.get("operationName") or gql.operation_name(query)
        for problem in check(query, body.get("variables"), operation, answer["data"]):
            problems.append(f"interaction {index}: {problem}")
    return problems


def _json(text: Any) -> Any:
    """A recorded body as JSON (None: not JSON)."""
    try:
        return json.loads(text) if isinstance(text, str | bytes) else None
    except ValueError:
        return None
