import json

import pytest

from wandb_cassettes.errors import NoMatch
from wandb_cassettes.replay import Matcher, MatchRules, canonical, request_key, target_of
from wandb_cassettes.store import Cassette, Interaction

UP = "https://api.wandb.ai"


def gql(op: str, **variables: object) -> str:
    return json.dumps({"query": f"mutation {op} {{ x }}", "variables": variables})


def ix(body: str | None, uri: str = UP + "/graphql", method: str = "POST", answer: str = "{}"):
    return Interaction(method, uri, request_body=body, response_body=answer)


def test_target_of():
    assert target_of(UP + "/graphql", UP) == "/graphql"
    assert target_of("https://s.example/b/f?sig=1", UP) == "https://s.example/b/f"


def test_graphql_key_ignores_volatile_variables():
    a = request_key("POST", "/graphql", gql("UpsertBucket", name="r1", host="h1", program="a.py"))
    b = request_key("POST", "/graphql", gql("UpsertBucket", name="r1", host="h2", program="b.py"))
    c = request_key("POST", "/graphql", gql("UpsertBucket", name="r2", host="h1"))
    assert a == b
    assert a != c


def test_operation_name_from_query_text_and_field():
    body = json.dumps({"query": "query Foo { a }", "operationName": "Bar", "variables": {}})
    assert request_key("POST", "/graphql", body).name == "Bar"
    assert request_key("POST", "/graphql", gql("Foo")).name == "Foo"


def test_canonical_parses_json_strings_and_sorts_lists():
    config = json.dumps({"lr": 0.1, "_wandb": {"t": 1}})
    assert canonical({"config": config, "files": ["b", "a"]}) == {
        "config": {"lr": 0.1},
        "files": ["a", "b"],
    }


def test_storage_key_ignores_signature():
    a = request_key("PUT", "https://s.example/b/f", b"\x00")
    assert a == request_key("PUT", "https://s.example/b/f", b"\x01")
    assert a.kind == "http"


def query(op: str, **variables: object) -> str:
    return json.dumps({"query": f"query {op} {{ x }}", "variables": variables})


def test_matcher_serves_in_order_then_repeats_a_successful_query():
    c = Cassette([ix(query("Run", id="1"), answer="a"), ix(query("Run", id="1"), answer="b")])
    m = Matcher(c, UP)
    key = request_key("POST", "/graphql", query("Run", id="1"))
    assert [m.match(key)[1].response_body for _ in range(3)] == ["a", "b", "b"]


def test_a_mutation_is_not_answered_more_often_than_recorded():
    c = Cassette([ix(gql("DeleteRun", id="1"), answer='{"data": {}}')])
    m = Matcher(c, UP)
    key = request_key("POST", "/graphql", gql("DeleteRun", id="1"))
    m.match(key)
    with pytest.raises(NoMatch, match=r"used up .* DeleteRun.* holds 1"):
        m.match(key)


@pytest.mark.parametrize(
    ("status", "answer"),
    [(503, '{"errors": [{"message": "busy"}]}'), (200, '{"errors": [{"message": "nope"}]}')],
)
def test_a_recorded_error_is_never_served_again(status, answer):
    # wandb-core retries a 503: serving it forever made a replay loop for 16 minutes.
    error = Interaction(
        "POST", UP + "/graphql", request_body=query("Viewer2"), status=status, response_body=answer
    )
    m = Matcher(Cassette([error]), UP)
    key = request_key("POST", "/graphql", query("Viewer2"))
    assert m.match(key)[1] is error
    with pytest.raises(NoMatch, match=r"the last one HTTP \d+.*does not repeat an error"):
        m.match(key)


def test_matcher_order_independent_across_keys():
    c = Cassette([ix(gql("A", id="1"), answer="a"), ix(gql("B", id="1"), answer="b")])
    m = Matcher(c, UP)
    assert m.match(request_key("POST", "/graphql", gql("B", id="1")))[1].response_body == "b"
    assert m.match(request_key("POST", "/graphql", gql("A", id="1")))[1].response_body == "a"
    assert m.unplayed() == []


def test_file_stream_repeatable_and_not_reported_unplayed():
    fs = UP + "/files/e/p/r1/file_stream"
    c = Cassette([ix('{"files": {}}', uri=fs), ix(gql("A"))])
    m = Matcher(c, UP)
    key = request_key("POST", "/files/e/p/r1/file_stream", '{"other": 1}')
    for _ in range(5):
        m.match(key)
    assert [i for i, _ in m.unplayed()] == [1]


def test_no_match_names_request_and_candidates():
    c = Cassette([ix(gql("CreateArtifact", artifactCollectionNames=["model-a"]))])
    m = Matcher(c, UP)
    key = request_key(
        "POST", "/graphql", gql("CreateArtifact", artifactCollectionNames=["model-b"])
    )
    with pytest.raises(NoMatch) as info:
        m.match(key)
    text = str(info.value)
    assert "CreateArtifact" in text and "model-b" in text and "model-a" in text


@pytest.mark.parametrize(
    "folder",
    [
        "/tmp/tmpk3j_x9ab",
        "/var/tmp/tmp0a1b2c3d",
        "/var/folders/5x/q1w2e3r4t5y6/T/tmpab12cd34",
        "/private/var/folders/5x/q1w2e3r4t5y6/T/tmpab12cd34",
    ],
)
def test_tempfile_folders_match_any_other_tempfile_folder(folder):
    # transformers' tests train into TemporaryDirectory(); with 4.x it names the run too.
    def upsert(out: str) -> str:
        config = json.dumps({"output_dir": {"value": out}, "logging": {"value": out + "/runs"}})
        return gql("UpsertBucket", displayName=out, config=config)

    recorded = request_key("POST", "/graphql", upsert(folder))
    assert recorded == request_key("POST", "/graphql", upsert("/tmp/tmpzz_9y8x7"))
    assert "<tempfile>" in recorded.detail
    # Not tempfile's names: compared as they are.
    for other in ("/tmp/tmpk3j_x9abc", "/tmp/tmpK3J_X9AB", "/tmp/tmp-k3j_x9a", "/data/tmpk3j_x9ab"):
        assert request_key("POST", "/graphql", upsert(other)) != recorded, other


@pytest.mark.parametrize(
    ("recorded", "live"),
    [
        ("192.0.2.1", "10.0.0.7"),  # recording replaces IP addresses...
        ("user@example.invalid", "bob.smith@corp-example.com"),  # ...email addresses...
        ("user-2@example.invalid", "ana@corp-example.com"),
        ("~/data/train.csv", "/home/bob/data/train.csv"),  # ...and home folders
        ("mysql://root:<WANDB_API_KEY>@10.0.0.5/db", "mysql://root:<WANDB_API_KEY>@10.0.0.5/db"),
    ],
)
def test_personal_data_the_recording_replaced_matches_the_live_value(recorded, live):
    """A redaction never makes a cassette unmatchable (the live side still sends the value)."""

    def upsert(value: str) -> str:
        return gql("UpsertBucket", config=json.dumps({"v": {"value": value}}))

    assert request_key("POST", "/graphql", upsert(recorded)) == request_key(
        "POST", "/graphql", upsert(live)
    )


def test_what_recording_leaves_alone_is_still_compared():
    def upsert(value: str) -> str:
        return gql("UpsertBucket", config=json.dumps({"v": {"value": value}}))

    for a, b in [
        ("http://10.1.2.3:8080/x", "http://10.9.9.9:8080/x"),  # a URL's host is a server
        ("someone@example.com", "other@example.com"),  # reserved domains are kept
        ("127.0.0.1", "10.0.0.7"),  # loopback is kept
    ]:
        assert request_key("POST", "/graphql", upsert(a)) != request_key(
            "POST", "/graphql", upsert(b)
        ), (a, b)


def test_a_tmp_path_recorded_under_xdist_matches_one_without():
    from wandb_cassettes.replay import MatchRules

    def upsert(value: str) -> str:
        return gql("UpsertBucket", config=json.dumps({"output_dir": {"value": value}}))

    worker = "/tmp/pytest-of-ada/pytest-5/popen-gw1/test_x0/out"
    serial = "/tmp/pytest-of-ada/pytest-9/test_x0/out"
    assert request_key("POST", "/graphql", upsert(worker)) == request_key(
        "POST", "/graphql", upsert(serial)
    )
    custom = MatchRules(tmp_roots=("/scratch/bt",))  # a --basetemp of the user's
    assert request_key("POST", "/graphql", upsert("/scratch/bt/popen-gw0/test_x0"), custom) == (
        request_key("POST", "/graphql", upsert("/scratch/bt/test_x0"), custom)
    )


def test_a_digest_is_never_said_to_look_like_a_date():
    from wandb_cassettes.replay._matching import _run_dependent

    digest = "0123456789012345678901234567890123456789abcdef0123456789abcdef0123456789abcdef"
    assert _run_dependent(digest) is None
    assert _run_dependent("run-20261205_071512-abc") == "a date or time"
    assert _run_dependent("2026-12-05T07:15:12Z") == "a date or time"


def test_a_summary_the_public_api_sets_is_compared_but_its_timing_is_not():
    """``Api().run(path).summary.update()`` sends the whole summary (UpsertBucket's
    summaryMetrics): a changed value is the test's change; ``_runtime``, ``_timestamp`` and
    ``_wandb`` change on every run."""

    def update(summary: dict[str, object]) -> str:
        return gql("UpsertBucket", id="UnVuOjE=", summaryMetrics=json.dumps(summary))

    a = request_key("POST", "/graphql", update({"note": "a", "_runtime": 1.5, "_step": 2}))
    b = request_key("POST", "/graphql", update({"note": "a", "_runtime": 9.1, "_step": 2}))
    c = request_key("POST", "/graphql", update({"note": "CHANGED", "_runtime": 1.5, "_step": 2}))
    assert a == b and a != c
    rules = MatchRules(ignore=("summary.note",))
    assert request_key("POST", "/graphql", update({"note": "a"}), rules) == request_key(
        "POST", "/graphql", update({"note": "CHANGED"}), rules
    )


def test_the_relays_own_reads_are_never_the_closest_match_of_another_operation():
    """A request of an operation the cassette lacks is compared with the test's requests,
    never with the relay's reads of the state before a change (no test sends those)."""
    prior = json.dumps(
        {"query": "query WandbCassettesPriorLinks { x }", "variables": {"name": "a"}}
    )
    c = Cassette([ix(prior), ix(gql("CreateArtifact", name="b"))])
    key = request_key("POST", "/graphql", gql("FetchArtifactManifest", name="a"))
    with pytest.raises(NoMatch) as info:
        Matcher(c, UP).match(key)
    assert "recorded CreateArtifact, sent FetchArtifactManifest" in str(info.value), info.value
    assert "PriorLinks" not in str(info.value)
