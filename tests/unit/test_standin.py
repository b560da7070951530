"""The stand-in W&B backend over plain HTTP: auth, errors, storage, faults, response shapes.

The Go core's documents are read from the wandb-core binary (where genqlient
embeds them), so these tests send exactly what the SDK sends; the Python
side's documents and pydantic response models come from the SDK's
``_generated`` packages.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import re
import time
import tracemalloc
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import wandb.apis._generated as api_gen
import wandb.sdk.artifacts._generated as art_gen
import wandb.sdk.internal._generated as internal_gen
from support.standin_http import (
    auth,
    b64md5,
    core_document,
    data,
    graphql,
    log_artifact,
    send,
    start_run,
)
from wandb_cassettes_standin import StandinBackend, gql
from wandb_cassettes_standin.storage import Signer

# -- helpers -----------------------------------------------------------------------


@pytest.fixture
def wb() -> Iterator[StandinBackend]:
    with StandinBackend() as backend:
        yield backend


# -- auth ------------------------------------------------------------------------


def test_graphql_needs_basic_auth_with_the_key(wb: StandinBackend) -> None:
    query = core_document("Viewer")
    body = json.dumps({"query": query}).encode()
    assert send("POST", wb.base_url + "/graphql", body)[0] == 401
    assert graphql(wb, query, key="standin-" + "0" * 40)[0] == 401
    status, answer = graphql(wb, query)
    assert status == 200
    assert answer["data"]["viewer"]["entity"] == wb.entity


def test_file_stream_needs_auth(wb: StandinBackend) -> None:
    start_run(wb)
    url = f"{wb.base_url}/files/{wb.entity}/p/run1/file_stream"
    body = json.dumps({"files": {}}).encode()
    assert send("POST", url, body)[0] == 401
    status, _, raw = send("POST", url, body, {"Authorization": auth(wb.api_key)})
    assert status == 200, raw


def test_api_key_passes_the_sdk_format_check() -> None:
    from wandb.sdk.lib.wbauth.validation import check_api_key

    assert check_api_key(StandinBackend().api_key) is None
    assert StandinBackend(api_key="fixed-" + "k" * 40).api_key == "fixed-" + "k" * 40


# -- errors ------------------------------------------------------------------------


def test_unknown_operation_is_an_error_naming_it(
    wb: StandinBackend, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="wandb_cassettes_standin"):
        status, answer = graphql(wb, "query NoSuchThing { noSuchField { id } }")
        assert status == 200
        message = answer["errors"][0]["message"]
        assert "'NoSuchThing'" in message and "'noSuchField'" in message
        # operationName, when given, wins over the text
        status, answer = graphql(wb, "query A { x } query B { y }", operation_name="B")
        assert "'B'" in answer["errors"][0]["message"]
    assert "NoSuchThing" in caplog.text


def test_an_operation_of_another_name_is_answered_by_its_root_field(wb: StandinBackend) -> None:
    """W&B executes a document by its fields, whatever its operation is called."""
    status, answer = graphql(wb, "query Mine { viewer { username } }")
    assert status == 200 and answer["data"]["viewer"]["username"] == wb.entity
    run = start_run(wb, name="inline-made")
    status, answer = graphql(
        wb,
        'mutation Mine { deleteRun(input: {id: "'
        + run["bucket"]["id"]
        + '"}) { clientMutationId } }',
    )
    assert status == 200 and "errors" not in answer, answer
    assert wb.live()["runs"] == []


def test_upsert_bucket_tells_inserted_from_updated(wb: StandinBackend) -> None:
    assert start_run(wb)["inserted"] is True
    assert start_run(wb)["inserted"] is False
    assert start_run(wb, name="run2")["inserted"] is True


def test_deleting_an_aliased_artifact_needs_delete_aliases(wb: StandinBackend) -> None:
    start_run(wb)
    art_id = log_artifact(wb, {"a.txt": b"a"}, aliases=("best",))
    status, answer = graphql(
        wb, art_gen.DELETE_ARTIFACT_GQL, {"input": {"artifactID": art_id, "deleteAliases": False}}
    )
    assert status == 409
    assert "aliases" in answer["errors"][0]["message"]
    assert len(wb.live()["artifacts"]) == 1
    data(wb, art_gen.DELETE_ARTIFACT_GQL, {"input": {"artifactID": art_id, "deleteAliases": True}})
    assert wb.live()["artifacts"] == []


# -- storage -----------------------------------------------------------------------


def _upload_url(wb: StandinBackend, name: str = "f.txt") -> str:
    start_run(wb)
    files = data(
        wb,
        core_document("CreateRunFiles"),
        {"entity": wb.entity, "project": "p", "run": "run1", "files": [name]},
    )["createRunFiles"]["files"]
    url: str = files[0]["uploadUrl"]
    return url


def test_storage_urls_are_signed_and_checked(wb: StandinBackend) -> None:
    url = _upload_url(wb)
    assert url.startswith(wb.storage_url + "/bucket/")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert query["X-Goog-Algorithm"] == ["GOOG4-HMAC-SHA256"]
    assert query["X-Goog-Expires"] == ["3600"]

    # Flip the signature's first character (to another one: "0" may already be there).
    tampered = re.sub(
        r"X-Goog-Signature=(\w)",
        lambda m: "X-Goog-Signature=" + ("1" if m.group(1) == "0" else "0"),
        url,
    )
    assert tampered != url
    assert send("PUT", tampered, b"x")[0] == 403
    assert send("PUT", url.split("?")[0], b"x")[0] == 403
    assert send("PUT", url, b"hello")[0] == 200  # no Authorization needed
    assert send("GET", url)[0] == 403  # signed for PUT, not GET

    blob_key = urllib.parse.unquote(urllib.parse.urlsplit(url).path.split("/bucket/")[1])
    get_url = wb._signer.url("GET", blob_key)
    status, _, body = send("GET", get_url)
    assert (status, body) == (200, b"hello")


def test_storage_rejects_a_wrong_content_md5(wb: StandinBackend) -> None:
    url = _upload_url(wb)
    assert send("PUT", url, b"hello", {"Content-MD5": b64md5(b"other")})[0] == 400
    assert send("PUT", url, b"hello", {"Content-MD5": b64md5(b"hello")})[0] == 200


def test_expired_url_is_refused() -> None:
    signer = Signer(expires=-1)
    with StandinBackend() as wb:
        signer.base_url = wb.storage_url
        wb._signer._secret = signer._secret  # same key, but the URL below expired at birth
        assert send("GET", signer.url("GET", "x"))[0] == 400


def test_large_put_streams_without_buffering(wb: StandinBackend) -> None:
    size, chunk = 200 << 20, b"\xab" * (1 << 20)
    url = urllib.parse.urlsplit(_upload_url(wb, "big.bin"))
    tracemalloc.start()
    try:
        assert url.hostname is not None
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
        conn.putrequest("PUT", f"{url.path}?{url.query}")
        conn.putheader("Content-Length", str(size))
        conn.endheaders()
        for _ in range(size // len(chunk)):
            conn.send(chunk)
        status = conn.getresponse().status
        conn.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 200
    assert peak < 40 << 20, f"peak {peak >> 20} MiB while uploading 200 MiB"
    blob = wb._blobs.get(f"runs/{wb.entity}/p/run1/big.bin")
    assert blob is not None and blob.size == size


def test_fallback_download_urls_redirect_to_signed_storage(wb: StandinBackend) -> None:
    start_run(wb)
    log_artifact(wb, {"w.bin": b"weights"})
    md5 = hashlib.md5(b"weights").hexdigest()
    headers = {"Authorization": auth(wb.api_key)}
    v1 = f"{wb.base_url}/artifacts/{wb.entity}/{md5}"
    v2 = f"{wb.base_url}/artifactsV2/default/{wb.entity}/p/ckpt/QXJ0:1/{md5}/w.bin"
    for url in (v1, v2):
        assert send("GET", url)[0] == 401
        status, _, body = send("GET", url, headers=headers)  # urllib follows the 302
        assert (status, body) == (200, b"weights")
    assert send("GET", f"{wb.base_url}/artifacts/{wb.entity}/{'0' * 32}", headers=headers)[0] == 404


# -- state -------------------------------------------------------------------------


def test_state_endpoint_is_live(wb: StandinBackend) -> None:
    start_run(wb)
    log_artifact(wb, {"w.bin": b"123"}, aliases=("best",))
    status, _, raw = send("GET", wb.base_url + "/_standin/state")
    assert status == 200
    state = json.loads(raw)
    assert state == wb.live()
    assert [r["name"] for r in state["runs"]] == ["run1"]
    [art] = state["artifacts"]
    assert (art["collection"], art["type"], art["version"]) == ("ckpt", "model", "v0")
    assert art["aliases"] == ["best", "latest"]
    assert [c["name"] for c in state["collections"]] == ["ckpt"]


def test_versions_and_latest_alias(wb: StandinBackend) -> None:
    start_run(wb)
    log_artifact(wb, {"a": b"1"}, aliases=("best",))
    log_artifact(wb, {"a": b"2"})
    log_artifact(wb, {"a": b"2"}, aliases=("same",))  # same content: same version
    arts = {a["version"]: a["aliases"] for a in wb.live()["artifacts"]}
    assert arts == {"v0": ["best"], "v1": ["latest", "same"]}


def test_requests_are_recorded(wb: StandinBackend) -> None:
    graphql(wb, core_document("Viewer"))
    send("GET", wb.base_url + "/_standin/state")
    assert wb.requests == [("POST", "/graphql", "Viewer"), ("GET", "/_standin/state", None)]


# -- faults ------------------------------------------------------------------------


def test_fault_status_once_then_normal(wb: StandinBackend) -> None:
    wb.inject_fault("Viewer", status=500)
    assert graphql(wb, core_document("Viewer"))[0] == 500
    assert graphql(wb, core_document("Viewer"))[0] == 200


def test_fault_429_with_retry_after(wb: StandinBackend) -> None:
    wb.inject_fault("Viewer", status=429, headers={"Retry-After": "1"}, times=2)
    body = json.dumps({"query": core_document("Viewer")}).encode()
    for _ in range(2):
        status, headers, _ = send("POST", wb.base_url + "/graphql", body)
        assert (status, headers.get("Retry-After")) == (429, "1")
    assert graphql(wb, core_document("Viewer"))[0] == 200


def test_fault_graphql_error(wb: StandinBackend) -> None:
    wb.inject_fault("Viewer", graphql_error="boom")
    status, answer = graphql(wb, core_document("Viewer"))
    assert status == 200 and answer["errors"] == [{"message": "boom"}]


def test_fault_delay(wb: StandinBackend) -> None:
    wb.inject_fault("Viewer", delay=0.3)
    t0 = time.monotonic()
    assert graphql(wb, core_document("Viewer"))[0] == 200
    assert time.monotonic() - t0 >= 0.3


def test_fault_drop_closes_the_connection(wb: StandinBackend) -> None:
    wb.inject_fault("Viewer", drop=True)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        graphql(wb, core_document("Viewer"))
    assert graphql(wb, core_document("Viewer"))[0] == 200


def test_fault_on_storage_path_forever_until_cleared(wb: StandinBackend) -> None:
    url = _upload_url(wb)
    wb.inject_fault("/bucket/runs/", status=503, times=None)
    for _ in range(3):
        assert send("PUT", url, b"x")[0] == 503
    assert graphql(wb, core_document("Viewer"))[0] == 200  # other paths unaffected
    wb.clear_faults()
    assert send("PUT", url, b"x")[0] == 200


# -- response shapes ------------------------------------------------------------------


def test_answers_validate_against_the_sdks_generated_models(wb: StandinBackend) -> None:
    run = start_run(wb)
    art_id = log_artifact(wb, {"model.pt": b"weights"}, aliases=("best",))
    use = {"artifactID": art_id, "entityName": wb.entity, "projectName": "p", "runName": "run1"}
    data(wb, core_document("UseArtifact"), {"input": use})
    coll_id = wb.live()["collections"][0]["id"]
    where = {"entity": wb.entity, "project": "p"}
    checks: list[tuple[Any, str, dict[str, Any]]] = [
        (internal_gen.ServerFeaturesQuery, internal_gen.SERVER_FEATURES_QUERY_GQL, {}),
        (api_gen.GetViewer, api_gen.GET_VIEWER_GQL, {}),
        (api_gen.GetDefaultEntity, api_gen.GET_DEFAULT_ENTITY_GQL, {}),
        (art_gen.ArtifactByID, art_gen.ARTIFACT_BY_ID_GQL, {"id": art_id}),
        (art_gen.ArtifactMembershipByName, art_gen.ARTIFACT_MEMBERSHIP_BY_NAME_GQL,
         {**where, "name": "ckpt:latest"}),
        (art_gen.ProjectArtifacts, art_gen.PROJECT_ARTIFACTS_GQL,
         {**where, "type": "model", "collection": "ckpt", "filters": '{"state":"COMMITTED"}'}),
        (art_gen.ProjectArtifactCollections, art_gen.PROJECT_ARTIFACT_COLLECTIONS_GQL, where),
        (art_gen.ProjectArtifactCollection, art_gen.PROJECT_ARTIFACT_COLLECTION_GQL,
         {**where, "type": "model", "name": "ckpt"}),
        (art_gen.ArtifactTypeArtifactCollections, art_gen.ARTIFACT_TYPE_ARTIFACT_COLLECTIONS_GQL,
         {**where, "type": "model"}),
        (art_gen.ProjectArtifactTypes, art_gen.PROJECT_ARTIFACT_TYPES_GQL, where),
        (art_gen.ProjectArtifactType, art_gen.PROJECT_ARTIFACT_TYPE_GQL,
         {**where, "type": "model"}),
        (art_gen.ArtifactCollectionAliases, art_gen.ARTIFACT_COLLECTION_ALIASES_GQL,
         {"id": coll_id}),
        (art_gen.ArtifactMembershipFiles, art_gen.ARTIFACT_MEMBERSHIP_FILES_GQL,
         {**where, "collection": "ckpt", "alias": "v0"}),
        (art_gen.GetArtifactMembershipFileUrls, art_gen.GET_ARTIFACT_MEMBERSHIP_FILE_URLS_GQL,
         {**where, "collection": "ckpt", "alias": "v0"}),
        (art_gen.FetchArtifactManifest, art_gen.FETCH_ARTIFACT_MANIFEST_GQL, {"id": art_id}),
        (art_gen.ArtifactType, art_gen.ARTIFACT_TYPE_GQL, {**where, "name": "ckpt:v0"}),
        (art_gen.ArtifactUsedBy, art_gen.ARTIFACT_USED_BY_GQL, {"id": art_id}),
        (art_gen.ArtifactCreatedBy, art_gen.ARTIFACT_CREATED_BY_GQL, {"id": art_id}),
        (art_gen.FetchLinkedArtifacts, art_gen.FETCH_LINKED_ARTIFACTS_GQL, {"artifactID": art_id}),
        (art_gen.RunOutputArtifacts, art_gen.RUN_OUTPUT_ARTIFACTS_GQL, {**where, "run": "run1"}),
        (art_gen.RunInputArtifacts, art_gen.RUN_INPUT_ARTIFACTS_GQL, {**where, "run": "run1"}),
        (art_gen.UpdateArtifact, art_gen.UPDATE_ARTIFACT_GQL,
         {"input": {"artifactID": art_id, "description": "d"}}),
        (art_gen.AddAliases, art_gen.ADD_ALIASES_GQL, {"input": {"artifactID": art_id, "aliases": [
            {"alias": "x", "artifactCollectionName": "ckpt", **_names(wb)}]}}),
        (art_gen.DeleteAliases, art_gen.DELETE_ALIASES_GQL, {"input": {"artifactID": art_id,
            "aliases": [{"alias": "x", "artifactCollectionName": "ckpt", **_names(wb)}]}}),
        (art_gen.DeleteArtifact, art_gen.DELETE_ARTIFACT_GQL,
         {"input": {"artifactID": art_id, "deleteAliases": True}}),
        (art_gen.DeleteArtifactSequence, art_gen.DELETE_ARTIFACT_SEQUENCE_GQL, {"id": coll_id}),
    ]  # fmt: skip
    for model, query, variables in checks:
        answer = data(wb, query, variables)
        model.model_validate(answer)  # raises on any shape the SDK would not accept
        if model is art_gen.ArtifactByID:
            parsed = model.model_validate(answer)
            assert parsed.artifact is not None and parsed.artifact.aliases is not None
            assert parsed.artifact.artifact_sequence.name == "ckpt"
            assert parsed.artifact.version_index == 0
            assert {a.alias for a in parsed.artifact.aliases} == {"best", "latest"}
    assert run["bucket"]["project"]["entity"]["name"] == wb.entity
    assert wb.live() == {"runs": wb.live()["runs"], "artifacts": [], "collections": []}


def _names(wb: StandinBackend) -> dict[str, str]:
    return {"entityName": wb.entity, "projectName": "p"}


def test_project_follows_aliases_fragments_directives_and_arguments() -> None:
    doc = gql.parse("""
        query Q($full: Boolean = false, $n: Int) {
            a: node(id: "x") { __typename ...F ... on Other { never } extra @include(if: $full) }
            node { id nope }
        }
        fragment F on Thing { id items(first: $n) }
    """)
    thing = {"__typename": "Thing", "id": "1", "items": gql.Lazy(lambda a: [a]), "extra": 1}
    shaped, missing = gql.project(doc, None, {"n": 2}, {"node": thing})
    assert shaped == {
        "a": {"__typename": "Thing", "id": "1", "items": [{"first": 2}]},
        "node": {"id": "1", "nope": None},
    }
    assert missing == {"nope"}
    assert gql.project(doc, "Q", {"full": True}, {"node": thing})[0]["a"]["extra"] == 1
    assert gql.root_arguments(doc, None, {}) == {"id": "x"}
    assert gql.parse(core_document("Viewer")) is gql.parse(core_document("Viewer"))  # cached
    assert gql.operation_name("# query Commented\nquery Real { a }") == "Real"
    with pytest.raises(gql.GraphQLSyntaxError, match=r"Expected Name, found <EOF>\. at 1:11"):
        gql.parse("query { a(")
    with pytest.raises(gql.GraphQLSyntaxError, match="no operation named 'B'"):
        gql.project(doc, "B", {}, {})


def test_a_document_that_does_not_parse_is_a_400(wb: StandinBackend) -> None:
    status, answer = graphql(wb, "query Viewer { viewer { id }", operation_name="Viewer")
    assert status == 400
    assert "cannot parse 'Viewer': Syntax Error" in answer["errors"][0]["message"]
    status, answer = graphql(wb, core_document("Viewer"), operation_name="Other")
    assert status == 400 and "no operation named 'Other'" in answer["errors"][0]["message"]
