"""The mutation table covers every mutation the installed wandb SDK can send.

The fields are extracted here independently of ``wandb_cassettes.protocol._mutations``:
from every string literal of the SDK's Python sources that holds a ``mutation``
document (parsed with graphql-core, or read with a tolerant regex when it is a
template such as ``DeleteRun``'s ``.format`` text), and from the documents
compiled into the ``wandb-core`` binary (what ``strings`` shows). A newer SDK
that sends a new mutation fails :func:`test_every_mutation_the_sdk_sends_is_classified`.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest
import wandb
from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse

from wandb_cassettes.protocol import MUTATIONS, classify, effects, fields_by_action, mutation_fields
from wandb_cassettes.protocol import _mutations as mutations

SDK = Path(wandb.__file__).parent
CORE = SDK / "bin" / "wandb-core"

# The first field after "mutation Name(...) {" ("{{" in .format templates).
_TEMPLATE_FIELD_RE = re.compile(
    r"\bmutation\b\s*[A-Za-z_]\w*\s*(?:\((?:[^()]|\([^()]*\))*\))?\s*\{+"
    r"\s*(?:[A-Za-z_]\w*\s*:\s*)?([A-Za-z_]\w*)"
)


def _fields_of_document(text: str) -> set[str]:
    try:
        doc = parse(text)
    except GraphQLError:
        return set(_TEMPLATE_FIELD_RE.findall(text))
    found: set[str] = set()
    for d in doc.definitions:
        if isinstance(d, OperationDefinitionNode) and d.operation == OperationType.MUTATION:
            found |= {s.name.value for s in d.selection_set.selections if hasattr(s, "name")}
    return found


def _string_literals(tree: ast.AST) -> list[str]:
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            out.append(node.value)
        elif isinstance(node, ast.JoinedStr):  # f-strings: keep the literal parts
            parts = (str(v.value) if isinstance(v, ast.Constant) else "X" for v in node.values)
            out.append("".join(parts))
    return out


@cache
def python_mutation_fields() -> dict[str, set[str]]:
    """Mutation field -> the SDK files whose string literals send it."""
    found: dict[str, set[str]] = {}
    for path in sorted(SDK.rglob("*.py")):
        source = path.read_text(encoding="utf-8", errors="replace")
        if "mutation" not in source:
            continue
        for text in _string_literals(ast.parse(source)):
            if re.search(r"\bmutation\b[^{]*\{", text):
                for field in _fields_of_document(text):
                    found.setdefault(field, set()).add(str(path.relative_to(SDK)))
    return found


@cache
def core_mutation_fields() -> set[str]:
    """The top-level fields of the ``mutation`` documents embedded in wandb-core."""
    data = CORE.read_bytes()
    found: set[str] = set()
    start = data.find(b"mutation ")
    while start != -1:
        chunk = data[start : start + 4096]
        printable = re.match(rb"[\t\n\r\x20-\x7e]*", chunk)
        text = printable.group().decode("ascii") if printable else ""
        found |= set(_TEMPLATE_FIELD_RE.findall(text))
        start = data.find(b"mutation ", start + 1)
    return found


def test_the_extraction_sees_the_known_mutations():
    # Guards the test below against an extraction that silently finds nothing.
    assert {"createArtifact", "upsertBucket", "commitArtifact", "useArtifact"} <= (
        core_mutation_fields()
    )
    python = python_mutation_fields()
    assert {"deleteArtifact", "linkArtifact", "deleteRun", "addAliases", "upsertSweep"} <= set(
        python
    )
    assert len(core_mutation_fields()) >= 15 and len(python) >= 40


def test_every_mutation_the_sdk_sends_is_classified():
    sent = set(python_mutation_fields()) | core_mutation_fields()
    missing = sorted(sent - set(MUTATIONS))
    where = {f: sorted(python_mutation_fields().get(f, {"wandb-core"})) for f in missing}
    assert not missing, f"wandb {wandb.__version__} sends mutations the table lacks: {where}"


def test_the_table_has_no_invented_entries():
    # Everything in the table is sent by this SDK, except what older SDKs of the window
    # sent (this runs on each: `make test-sdk`).
    older = {"createArtifactType"}  # wandb 0.28 and 0.29 internal_api.py
    sent = set(python_mutation_fields()) | core_mutation_fields()
    assert set(MUTATIONS) - sent <= older


def test_every_effect_is_coherent():
    for field, effect in MUTATIONS.items():
        assert effect.reason, field
        assert (effect.kind is None) == (effect.action == "harmless"), field
        if effect.cleanup is not None:
            assert effect.action == "create", field
            undo = classify(effect.cleanup)
            assert undo is not None and undo.action == "delete", field
            assert undo.kind == effect.kind, field
    deleted = {e.kind for e in MUTATIONS.values() if e.action == "delete"}
    assert {"run", "artifact", "collection", "portfolio_link", "alias", "run_file"} <= deleted


@pytest.mark.parametrize(
    ("field", "action", "kind"),
    [
        ("upsertBucket", "create", "run"),
        ("createArtifact", "create", "artifact"),
        ("linkArtifact", "create", "portfolio_link"),
        ("upsertSweep", "create", "sweep"),
        ("addAliases", "create", "alias"),
        ("createRunFiles", "create", "run_file"),
        ("upsertModel", "create", "project"),
        ("deleteRun", "delete", "run"),
        ("deleteArtifactSequence", "delete", "collection"),
        ("deleteArtifactPortfolio", "delete", "collection"),
        ("unlinkArtifact", "delete", "portfolio_link"),
        ("commitArtifact", "update", "artifact"),
        ("markRunFilesUploaded", "update", "run_file"),
        ("agentHeartbeat", "harmless", None),
    ],
)
def test_classify(field, action, kind):
    effect = classify(field)
    assert effect is not None and (effect.action, effect.kind) == (action, kind)


def test_unknown_fields_are_none():
    assert classify("launchMissiles") is None
    assert effects("mutation X { launchMissiles { ok } }") == [("launchMissiles", None)]


def test_fields_by_action_partitions_the_table():
    parts = [fields_by_action(a) for a in ("create", "delete", "update", "harmless")]
    assert sorted(f for part in parts for f in part) == sorted(MUTATIONS)


# -- mutation_fields ------------------------------------------------------------------


def test_fields_of_an_sdk_document():
    from wandb.sdk.artifacts._generated import DELETE_ARTIFACT_GQL, LINK_ARTIFACT_GQL

    assert mutation_fields(DELETE_ARTIFACT_GQL, "DeleteArtifact") == ["deleteArtifact"]
    assert mutation_fields(LINK_ARTIFACT_GQL, None) == ["linkArtifact"]


def test_aliases_fragments_and_several_operations():
    doc = """
        mutation A { result: createTeam(input: {}) { entity { id } } ...More }
        mutation B { deleteRun(input: {id: "x"}) { clientMutationId } }
        query Q { viewer { id } }
        fragment More on Mutation { __typename addAliases(input: {}) { success } }
    """
    assert mutation_fields(doc, "A") == ["createTeam", "addAliases"]
    assert mutation_fields(doc, "B") == ["deleteRun"]
    assert mutation_fields(doc, "Q") == []
    assert mutation_fields(doc, None) == ["createTeam", "addAliases", "deleteRun"]
    assert mutation_fields(doc, "") == mutation_fields(doc, None)  # wandb-core's ""


def test_queries_and_non_documents_have_no_mutation_fields():
    assert mutation_fields("query Viewer { viewer { id } }") == []
    assert mutation_fields("") == []
    assert mutation_fields("{ viewer { id } }") == []


def test_unparseable_templates_fall_back_to_the_first_field():
    from support.cassette_builders import DELETE_RUN_GQL

    assert mutation_fields(DELETE_RUN_GQL) == ["deleteRun"]
    assert mutation_fields("mutation X($a: ID!) {\n\tstopRun(input: {id:$a}) {\n\t\tsucc") == [
        "stopRun"
    ]


def test_parsed_documents_are_cached_by_text():
    mutations._fields_by_operation.cache_clear()
    doc = "mutation M { upsertBucket(input: {}) { inserted } }"
    for _ in range(100):
        assert mutation_fields("".join([doc]), "M") == ["upsertBucket"]
    info = mutations._fields_by_operation.cache_info()
    assert info.misses == 1 and info.hits == 99
