"""Property-based tests: the cassette loader and the matcher raise only the library's own errors.

A cassette is a file users edit, merge and truncate by accident; a request body
is whatever wandb-core (or a test) sends. Whatever the input, ``cassette.loads``
either returns a cassette or raises :class:`CassetteError` naming the file, and
matching either answers or raises :class:`NoMatch`: never a stray exception
from deep inside YAML, JSON or URL parsing.
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support.cassette_builders import clean_flow

from wandb_cassettes import store as cs
from wandb_cassettes.errors import CassetteError, NoMatch
from wandb_cassettes.protocol import parse_request
from wandb_cassettes.replay import Matcher, request_key, target_of
from wandb_cassettes.store import Cassette, Interaction

PATH = "cassettes/tests/test_x/test_y.yaml"
VALID = cs.dumps(clean_flow())
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
# The first interactions of VALID (GraphQL, file_stream, a storage PUT): small, so fast to dump.
SMALL_TREE = yaml.safe_load(
    cs.dumps(Cassette(clean_flow().interactions[:4], {"format": cs.FORMAT}))
)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# YAML-able values that a hand edit or a bad merge could leave anywhere in a cassette.
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.binary(max_size=20)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _loads_or_cassette_error(text: str) -> Cassette | None:
    try:
        return cs.loads(text, PATH)
    except CassetteError as exc:
        assert str(exc).startswith(PATH), str(exc)
        assert exc.path == PATH
        return None


# -- the loader ----------------------------------------------------------------------------


@SETTINGS
@given(st.text())
@example("")
@example(
    "version: 1\ninteractions:\n- request: {method: GET, uri: x}\n"
    "  response: {status: {code: 200}, body: {sha256: a, size: .inf}}\n"
)
@example("!!python/object/new:_io.BytesIO {state: {a: 1}}")
@example("!!python/object/apply:builtins.iter {args: [5]}")
@example("[" * 5000)
@example("a: &x [*x]")
def test_loads_arbitrary_text_raises_only_cassette_error(text):
    _loads_or_cassette_error(text)


@SETTINGS
@given(st.data())
def test_loads_text_mutations_of_a_valid_cassette(data):
    text = VALID
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        at = data.draw(st.integers(0, len(text)), label="at")
        kind = data.draw(st.sampled_from(["cut", "insert", "delete", "swap-lines"]), label="kind")
        if kind == "cut":
            text = text[:at]
        elif kind == "insert":
            text = text[:at] + data.draw(st.text(max_size=30), label="inserted") + text[at:]
        elif kind == "delete":
            end = data.draw(st.integers(at, min(len(text), at + 200)), label="end")
            text = text[:at] + text[end:]
        elif len(lines := text.splitlines(keepends=True)) > 1:
            rng = random.Random(data.draw(st.integers(0, 2**32), label="seed"))
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
            text = "".join(lines)
    _loads_or_cassette_error(text)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += _paths(v, (*prefix, i))
    return found


@SETTINGS
@given(st.data())
def test_loads_structural_mutations_of_a_valid_cassette(data):
    """Any node of a valid cassette replaced by any YAML value, or removed."""
    tree = copy.deepcopy(SMALL_TREE)
    paths = [p for p in _paths(tree) if p]
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        path = data.draw(st.sampled_from(paths), label="path")
        parent: Any = tree
        try:
            for step in path[:-1]:
                parent = parent[step]
            if data.draw(st.booleans(), label="remove"):
                del parent[path[-1]]
            else:
                parent[path[-1]] = data.draw(values, label="value")
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed or replaced this path
    cassette = _loads_or_cassette_error(yaml.dump(tree, Dumper=DUMPER))
    if cassette is not None:
        # What loaded must be usable: matching builds and every interaction has a key.
        Matcher(cassette, str(cassette.metadata.get("upstream", "https://api.wandb.ai")))


def test_a_valid_cassette_still_loads():
    """The mutations above start from a cassette that loads (else they prove nothing)."""
    assert len(cs.loads(VALID, PATH)) == len(clean_flow())


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("version: 1\ninteractions:\n- request: {method: GET}\n  response: {}\n", 3),
        ("interactions: []\nversion: 2\n", 2),
        ("interactions: []\nmetadata:\n  format: other/9\nversion: 1\n", 3),
        ("interactions: [\n  {a: 1}\n", 3),
    ],
)
def test_errors_name_the_line_when_there_is_one(text, line):
    with pytest.raises(CassetteError) as err:
        cs.loads(text, PATH)
    assert err.value.line == line, str(err.value)
    assert str(err.value).startswith(f"{PATH}:{line}: ")


def test_a_bad_interaction_names_the_line_of_that_interaction():
    tree = yaml.safe_load(VALID)
    del tree["interactions"][5]["request"]["uri"]
    text = yaml.safe_dump(tree, sort_keys=False)
    with pytest.raises(CassetteError) as err:
        cs.loads(text, PATH)
    assert "interaction 5" in str(err.value)
    lines = text.splitlines()
    # the named line starts the 6th item of the interactions list
    assert err.value.line is not None
    assert lines[err.value.line - 1].startswith("- ")
    assert sum(1 for x in lines[: err.value.line] if x.startswith("- ")) == 6


# -- the matcher ---------------------------------------------------------------------------

methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "post", "HEAD"]) | st.text(max_size=8)
targets = (
    st.sampled_from(["/graphql", "/files/e/p/r/file_stream", "https://s.example/b/f", ""])
    | st.text(max_size=40)
    | st.builds(lambda s: "/" + s + "/graphql", st.text(max_size=10))
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=15,
)
graphql_bodies = st.builds(
    lambda query, op, variables: json.dumps(
        {"query": query, "operationName": op, "variables": variables}
    ),
    st.sampled_from(["mutation UpsertBucket { x }", "query Viewer { v }", "{ anon }", ""])
    | st.text(max_size=30),
    st.none() | st.text(max_size=10) | st.integers(),
    json_values,
)
bodies = (
    st.none()
    | st.text(max_size=100)
    | st.binary(max_size=100)
    | graphql_bodies
    | graphql_bodies.map(str.encode)
    | json_values.map(json.dumps)
)


@SETTINGS
@given(methods, targets, bodies)
@example("POST", "/graphql", "[" * 100_000)
@example("POST", "/graphql", b"\xff\xfe{")
@example("POST", "/graphql", '{"query": "query Q { a }", "variables": {"a": "' + "[" * 5000 + '"}}')
def test_request_key_of_anything(method, target, body):
    key = request_key(method, target, body)
    assert key.kind in ("graphql", "file_stream", "http")
    key.describe()
    hash(key)


uris = st.sampled_from(
    [
        "https://api.wandb.ai/graphql",
        "https://api.wandb.ai/files/e/p/r/file_stream",
        "https://s.example/b/f?X-Goog-Signature=x",
        "http://[::1",
        "https://[bad/x",
        "",
    ]
) | st.text(max_size=40)


@SETTINGS
@given(
    st.lists(st.tuples(methods, uris, bodies), max_size=8),
    st.lists(st.tuples(methods, targets, bodies), max_size=8),
)
def test_matcher_answers_or_raises_no_match(recorded, asked):
    cassette = Cassette([Interaction(m, u, request_body=b) for m, u, b in recorded])
    matcher = Matcher(cassette, "https://api.wandb.ai")
    for method, target, body in asked:
        try:
            index, ix = matcher.match(request_key(method, target, body))
        except NoMatch as exc:
            # Nothing like it recorded, or its recordings used up (a change is not repeated).
            assert str(exc).startswith(("no recorded match", "recorded answers used up"))
        else:
            assert cassette.interactions[index] is ix
    matcher.unplayed()


@SETTINGS
@given(st.dictionaries(st.text(max_size=6), json_values, max_size=6), st.randoms())
def test_graphql_key_ignores_key_order_and_list_order(variables, rnd):
    """The same request sent twice with JSON keys and list items shuffled gets the same key."""

    def shuffled(value: Any) -> Any:
        if isinstance(value, dict):
            items = list(value.items())
            rnd.shuffle(items)
            return {k: shuffled(v) for k, v in items}
        if isinstance(value, list):
            items = [shuffled(v) for v in value]
            rnd.shuffle(items)
            return items
        return value

    def body(v: Any) -> str:
        return json.dumps({"query": "mutation M { m }", "variables": v})

    assert request_key("POST", "/graphql", body(variables)) == request_key(
        "POST", "/graphql", body(shuffled(variables))
    )


@SETTINGS
@given(st.text(max_size=60), st.text(max_size=30))
def test_target_of_anything(uri, upstream):
    assert isinstance(target_of(uri, upstream), str)


def test_parse_request_of_deep_json_is_not_graphql():
    assert parse_request("[" * 100_000) is None
