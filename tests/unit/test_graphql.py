"""Reading GraphQL requests: the parser-free operation kind agrees with graphql-core."""

from __future__ import annotations

import importlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.paths import ROOT

from wandb_cassettes import store as cs
from wandb_cassettes.protocol import document_of, operation_kind, parse_request


def _sdk_documents() -> list[str]:
    """Every GraphQL document the SDK's generated code sends (its ``*_GQL`` constants)."""
    found = []
    for module in (
        "wandb.sdk.artifacts._generated",
        "wandb.apis._generated",
        "wandb.automations._generated",
    ):
        ops = importlib.import_module(module + ".operations")
        found += [v for k, v in vars(ops).items() if k.endswith("_GQL") and isinstance(v, str)]
    return found


def _recorded_documents() -> list[str]:
    """Every document in the committed cassettes (wandb-core's and the public API's)."""
    found: set[str] = set()
    for path in sorted((ROOT / "cassettes").rglob("*.yaml")):
        for ix in cs.load(path):
            request = parse_request(ix.request_text()) if ix.uri.endswith("/graphql") else None
            if request is not None:
                found.add(request.query)
    return sorted(found)


def _parsed_kind(query: str, name: str | None = None) -> str:
    return document_of(query, name).kind


def test_every_sdk_document_is_read_as_graphql_core_reads_it():
    documents = _sdk_documents()
    assert len(documents) > 50
    for query in documents:
        assert operation_kind(query) == _parsed_kind(query), query[:200]


def test_every_recorded_document_is_read_as_graphql_core_reads_it():
    documents = _recorded_documents()
    assert len(documents) > 10
    for query in documents:
        assert operation_kind(query) == _parsed_kind(query), query[:200]


@pytest.mark.parametrize(
    ("query", "name", "kind"),
    [
        ("{ viewer { id } }", None, "query"),  # the shorthand is a query
        ("query Q { mutation: viewer { id } }", None, "query"),  # a field named mutation
        ('query Q($mutation: String = "mutation X") { a(b: $mutation) }', None, "query"),
        ("# mutation M { x }\nquery Q { x }", None, "query"),  # a comment
        ('query Q { a(s: """mutation M { x }""") }', None, "query"),  # a block string
        ("fragment F on T { x } mutation M { ...F }", None, "mutation"),
        ("query A { x } mutation B { y }", "B", "mutation"),
        ("query A { x } mutation B { y }", "A", "query"),
        ("subscription S { x }", None, "subscription"),
        ("mutation M($i: In = {a: {b: 1}}) { f(input: $i) { ... on T { x } } }", None, "mutation"),
    ],
)
def test_edge_cases_match_the_parser(query, name, kind):
    assert operation_kind(query, name) == kind == _parsed_kind(query, name)


@pytest.mark.parametrize(
    "query",
    ["query A { x } mutation B { y }", "mutation M { x", "fragment F on T { x }", "", "}{"],
)
def test_what_the_scan_cannot_tell_is_left_to_the_parser(query):
    assert operation_kind(query) is None
    request = parse_request(json.dumps({"query": query}))
    assert request is not None and request.is_mutation == document_of(query).is_mutation


_PIECES = st.sampled_from(
    [
        "query",
        "mutation",
        "subscription",
        "fragment F on T",
        " Q",
        " M",
        "{",
        "}",
        "(",
        ")",
        "$mutation",
        '"mutation"',
        '"""query { }"""',
        "# mutation\n",
        " x",
        ": ",
        "...",
        "\n",
    ]
)


@given(st.lists(_PIECES, max_size=14).map("".join), st.sampled_from([None, "Q", "M"]))
def test_replay_never_takes_a_mutation_for_a_query(query, name):
    """Agreement with graphql-core wherever the document parses; where it does not, the
    scan may only be more careful (a mutation is never served twice)."""
    from graphql import GraphQLError, parse

    try:
        parse(query)
        valid = True
    except GraphQLError:
        valid = False
    parsed = document_of(query, name)
    kind = operation_kind(query, name)
    if valid and parsed.kind:  # an operation selected
        assert kind in (None, parsed.kind), query
    request = parse_request(json.dumps({"query": query, "operationName": name}))
    assert request is not None
    if parsed.is_mutation:
        assert request.is_mutation, query  # never served twice
    elif valid:
        assert not request.is_mutation, query
