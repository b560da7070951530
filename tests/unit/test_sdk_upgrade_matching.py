"""Matching across SDK releases (issue 24): a request is matched on what it means when the
cassette holds no twin of how this SDK spelled it; never when the meaning differs."""

from __future__ import annotations

import json

import pytest

from wandb_cassettes.errors import NoMatch
from wandb_cassettes.replay import Matcher, MatchRules, meaning
from wandb_cassettes.store import Cassette, Interaction

UP = "https://api.wandb.ai"

#: wandb 0.28's createArtifactFiles: inline arguments, one variable each.
FILES_INLINE = """
mutation CreateArtifactFiles($storageLayout: ArtifactStorageLayout!,
    $artifactFiles: [CreateArtifactFileSpecInput!]!) {
  createArtifactFiles(input: {artifactFiles: $artifactFiles, storageLayout: $storageLayout}) {
    files { edges { node { id name uploadUrl } } }
  }
}
"""
#: wandb 0.29's: one $input object, and one more field selected.
FILES_INPUT = """
mutation CreateArtifactFiles($input: CreateArtifactFilesInput!) {
  createArtifactFiles(input: $input) {
    files { edges { node { id name displayName uploadUrl uploadHeaders } } }
  }
}
"""
#: The same, its values written in the document: no variable at all.
FILES_LITERAL = """
mutation CreateFiles {
  createArtifactFiles(input: {storageLayout: V2, artifactFiles: [{artifactID: "QXJ0OjE=",
      name: "model.pt", md5: "abc", artifactManifestID: null}]}) { files { edges { node { id } } } }
}
"""
SPEC = {"artifactID": "QXJ0OjE=", "name": "model.pt", "md5": "abc"}


def body(document: str, name: str | None = None, **variables: object) -> str:
    data: dict[str, object] = {"query": document, "variables": variables}
    if name is not None:
        data["operationName"] = name
    return json.dumps(data)


def inline(**spec: object) -> str:
    return body(FILES_INLINE, "CreateArtifactFiles", storageLayout="V2", artifactFiles=[spec])


def with_input(**spec: object) -> str:
    return body(
        FILES_INPUT,
        "CreateArtifactFiles",
        input={"storageLayout": "V2", "artifactFiles": [spec]},
    )


def test_inline_arguments_and_an_input_object_mean_the_same():
    assert meaning(inline(**SPEC)) == meaning(with_input(**SPEC))
    assert meaning(inline(**SPEC)) == meaning(body(FILES_LITERAL))
    assert meaning(inline(**SPEC))[0] == "mutation createArtifactFiles"  # type: ignore[index]


def test_absent_and_null_fields_are_alike_at_any_depth():
    assert meaning(inline(**SPEC)) == meaning(with_input(**SPEC, artifactManifestID=None))
    nested = body(FILES_INPUT, input={"storageLayout": "V2", "artifactFiles": [SPEC], "x": None})
    assert meaning(nested) == meaning(inline(**SPEC))


@pytest.mark.parametrize(
    "changed",
    [
        {**SPEC, "name": "other.pt"},  # another file
        {**SPEC, "artifactID": "QXJ0OjI="},  # another artifact
        {**SPEC, "artifactManifestID": "TWFuOjE="},  # a value where the other has none
    ],
)
def test_another_input_means_another_request(changed: dict[str, object]):
    assert meaning(inline(**SPEC)) != meaning(with_input(**changed))


def test_another_mutation_field_with_the_same_input_is_another_request():
    other = FILES_INPUT.replace("createArtifactFiles(", "deleteArtifactFiles(")
    assert meaning(with_input(**SPEC)) != meaning(
        body(other, input=json.loads(with_input(**SPEC))["variables"]["input"])
    )


def test_a_query_means_its_operation_and_variables_not_its_selection():
    a = body("query Run($id: String) { run(id: $id) { name } }", "Run", id="r1", cursor=None)
    b = body("query Run($id: String) { run(id: $id) { name displayName state } }", "Run", id="r1")
    c = body("query Run($id: String) { run(id: $id) { name } }", "Run", id="r2")
    assert meaning(a) == meaning(b)
    assert meaning(a) != meaning(c)


def test_volatile_values_and_ignore_paths_apply_to_the_resolved_input():
    rules = MatchRules(ignore=("config.output_dir",))
    doc = """mutation UpsertBucket($input: UpsertBucketInput!) {
      upsertBucket(input: $input) { bucket { id } } }"""
    old = """mutation UpsertBucket($id: String, $config: JSONString, $host: String) {
      upsertBucket(input: {id: $id, config: $config, host: $host}) { bucket { id name } } }"""
    a = body(old, id="r1", config=json.dumps({"lr": 0.1, "output_dir": "/a"}), host="h1")
    b = body(
        doc, input={"id": "r1", "config": json.dumps({"lr": 0.1, "output_dir": "/b"}), "host": "h2"}
    )
    assert meaning(a, rules) == meaning(b, rules)
    c = body(doc, input={"id": "r1", "config": json.dumps({"lr": 0.2}), "host": "h2"})
    assert meaning(a, rules) != meaning(c, rules)


def test_volatile_values_are_volatile_under_their_input_field_names_too():
    """wandb-core's UpsertBucket fills ``jobProgram: $program`` and ``jobRepo: $repo``."""
    core = """mutation UpsertBucket($id: String, $program: String, $repo: String) {
      upsertBucket(input: {id: $id, jobProgram: $program, jobRepo: $repo}) { bucket { id } } }"""
    doc = """mutation UpsertBucket($input: UpsertBucketInput!) {
      upsertBucket(input: $input) { bucket { id } } }"""
    a = body(core, id="r1", program="/home/ada/train.py", repo="git@a")
    b = body(doc, input={"id": "r1", "jobProgram": "/ci/train.py", "jobRepo": "git@b"})
    assert meaning(a) == meaning(b)
    assert meaning(a) != meaning(body(doc, input={"id": "r2", "jobProgram": "/ci/train.py"}))


def test_not_a_request_or_an_unreadable_mutation_has_no_meaning():
    assert meaning(None) is None
    assert meaning("not json") is None
    assert meaning(json.dumps({"query": "mutation X { broken(", "variables": {}})) is None


def ix(request: str, answer: str = '{"data": {}}') -> Interaction:
    return Interaction("POST", UP + "/graphql", request_body=request, response_body=answer)


def live(m: Matcher, request: str):
    return m.match(m.key("POST", "/graphql", request))


def test_the_matcher_answers_another_spelling_in_recording_order_and_once():
    first, second = {**SPEC, "name": "a.pt"}, {**SPEC, "name": "b.pt"}
    c = Cassette([ix(inline(**first), '{"n": 1}'), ix(inline(**second), '{"n": 2}')])
    m = Matcher(c, UP)
    assert live(m, with_input(**second))[0] == 1  # by meaning, not by position
    assert live(m, with_input(**first))[0] == 0
    with pytest.raises(NoMatch):  # a mutation is never answered twice
        live(m, with_input(**first))
    assert m.unplayed() == []


def test_identical_mutations_of_another_spelling_are_each_answered_once():
    c = Cassette([ix(inline(**SPEC), '{"n": 1}'), ix(inline(**SPEC), '{"n": 2}')])
    m = Matcher(c, UP)
    assert [live(m, with_input(**SPEC))[0] for _ in range(2)] == [0, 1]
    with pytest.raises(NoMatch, match="used up"):
        live(m, with_input(**SPEC))


def test_a_request_that_means_something_else_is_still_no_match():
    m = Matcher(Cassette([ix(inline(**SPEC))]), UP)
    with pytest.raises(NoMatch, match="no recorded match for GraphQL CreateArtifactFiles"):
        live(m, with_input(**{**SPEC, "name": "other.pt"}))
    assert [i for i, _ in m.unplayed()] == [0]


def test_a_query_of_another_spelling_is_answered_again_while_it_succeeded():
    recorded = body("query Run($id: String) { run(id: $id) { name } }", "Run", id="r1")
    sent = body(
        "query Run($id: String, $x: Int) { run(id: $id) { name state } }", "Run", id="r1", x=None
    )
    m = Matcher(Cassette([ix(recorded)]), UP)
    assert live(m, sent)[0] == 0
    assert live(m, sent)[0] == 0  # a successful read, safe to repeat


def test_the_exact_twin_is_preferred_and_parses_no_document(monkeypatch):
    from wandb_cassettes.replay import _matching

    m = Matcher(Cassette([ix(with_input(**SPEC))]), UP)
    monkeypatch.setattr(_matching, "meaning", lambda *a, **k: pytest.fail("parsed"))
    assert live(m, with_input(**SPEC))[0] == 0
