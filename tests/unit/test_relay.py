"""The relay over real HTTP: record against a tiny upstream, then replay with the upstream gone.

The upstream is two aiohttp servers: an "API" (``/graphql``) and a "storage"
host whose signed URLs the API hands out, as W&B does. Clients are plain
``urllib`` (no proxy), like any HTTP client the SDK's core would be.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import gzip
import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import vcr
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from wandb_cassettes import store as cs
from wandb_cassettes.record import BackgroundServer, Relay
from wandb_cassettes.store import Cassette, Digest

API_KEY = "relaytest-" + "5f" * 15  # 40 characters, not hex-shaped: only `secrets=` finds it
BASIC = "Basic " + base64.b64encode(f"api:{API_KEY}".encode()).decode()
SIGNATURE = "s1gnatureTHATmustNOTleak"
# Bytes that are not UTF-8 and larger than any chunk the relay reads at once.
BLOB = bytes(range(256)) * 2048 + b"\xff\xfe"  # 512 KiB + 2
# A storage object name with a space and a colon: URLs carry it percent-encoded.
OBJECT = "bucket/run%201/model%3Av0.pt"


@dataclass
class Upstream:
    """The API and storage servers, and what they received."""

    api: BackgroundServer
    storage: BackgroundServer
    blobs: dict[str, bytes] = field(default_factory=dict)
    seen: list[dict[str, Any]] = field(default_factory=list)
    #: The answer to ``ServerFeaturesQuery``: a status and its GraphQL errors, if any.
    features_status: int = 200

    @property
    def url(self) -> str:
        return self.api.url

    def signed(self, path: str) -> str:
        return f"{self.storage.url}/{path}?X-Goog-Expires=900&X-Goog-Signature={SIGNATURE}"


def _api_app(up: Upstream) -> web.Application:
    async def graphql(request: web.Request) -> web.StreamResponse:
        body = await request.json()  # aiohttp decodes a gzip request body for us
        op = body.get("operationName")
        up.seen.append(
            {
                "op": op,
                "auth": request.headers.get("Authorization"),
                "variables": body.get("variables"),
            }
        )
        if request.headers.get("Authorization") != BASIC:
            return web.json_response({"errors": [{"message": "not logged in"}]}, status=401)
        if op == "CreateArtifactFiles":
            name = body["variables"]["name"]
            data = {
                "createArtifactFiles": {
                    "files": {
                        "edges": [
                            {
                                "node": {
                                    "name": name,
                                    "uploadUrl": up.signed(OBJECT),
                                    "directUrl": up.signed(OBJECT),
                                    "uploadMultipartUrls": {
                                        "uploadID": "u1",
                                        "uploadUrlParts": [
                                            {"partNumber": 1, "uploadUrl": up.signed(OBJECT)}
                                        ],
                                    },
                                    # A URL on the API host itself: stays on the relay, no /_ext/.
                                    "url": f"{up.url}/files/e/p/r/{name}",
                                }
                            }
                        ]
                    }
                }
            }
            return web.json_response({"data": data})
        if op == "ServerFeaturesQuery":
            if up.features_status != 200:
                return web.json_response(
                    {"errors": [{"message": "down"}]}, status=up.features_status
                )
            features = [{"name": "ARTIFACT_TAGS", "isEnabled": True}]
            return web.json_response({"data": {"serverInfo": {"features": features}}})
        if op == "Compressed":
            raw = json.dumps({"data": {"echo": body["variables"], "big": "x" * 2000}}).encode()
            return web.Response(
                body=gzip.compress(raw),
                headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
            )
        return web.json_response({"data": {"op": op, "variables": body["variables"]}})

    app = web.Application()
    app.router.add_post("/graphql", graphql)
    return app


def _storage_app(up: Upstream) -> web.Application:
    async def put(request: web.Request) -> web.StreamResponse:
        assert request.query.get("X-Goog-Signature") == SIGNATURE
        up.blobs[request.raw_path.split("?")[0]] = await request.read()
        return web.Response(status=200)

    async def get(request: web.Request) -> web.StreamResponse:
        blob = up.blobs.get(request.raw_path.split("?")[0])
        return web.Response(status=404) if blob is None else web.Response(body=blob)

    app = web.Application(client_max_size=0)
    app.router.add_put("/{tail:.*}", put)
    app.router.add_get("/{tail:.*}", get)
    return app


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    up = Upstream(BackgroundServer(web.Application()), BackgroundServer(web.Application()))
    up.api = BackgroundServer(_api_app(up)).start()
    up.storage = BackgroundServer(_storage_app(up)).start()
    try:
        yield up
    finally:
        up.api.stop()
        up.storage.stop()


@pytest.fixture
def relay_factory() -> Iterator[Any]:
    started: list[Relay] = []

    def make(upstream_url: str) -> Relay:
        relay = Relay(upstream_url).start()
        started.append(relay)
        return relay

    yield make
    for relay in started:
        relay.stop()


# -- a client -------------------------------------------------------------------------

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> Answer:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with _OPENER.open(req, timeout=30) as resp:
            return Answer(resp.status, resp.read(), dict(resp.headers))
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.read(), dict(exc.headers))


def gql(base: str, op: str, variables: dict[str, Any], *, gzipped: bool = False) -> Answer:
    body = json.dumps(
        {"query": f"query {op} {{ x }}", "operationName": op, "variables": variables}
    ).encode()
    headers = {"Authorization": BASIC, "Content-Type": "application/json"}
    if gzipped:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    return call("POST", base + "/graphql", body, headers)


def _session(relay: Relay, up: Upstream) -> list[Answer]:
    """The exchanges of one "test": GraphQL, an upload to a signed URL, its download."""
    files = gql(relay.url, "CreateArtifactFiles", {"name": "model.pt"})
    node = files.json()["data"]["createArtifactFiles"]["files"]["edges"][0]["node"]
    put = call("PUT", node["uploadUrl"], BLOB, {"Content-Type": "application/octet-stream"})
    got = call("GET", node["directUrl"])
    compressed = gql(relay.url, "Compressed", {"n": 1}, gzipped=True)
    viewer = gql(relay.url, "Viewer", {})
    return [files, put, got, compressed, viewer]


# -- record ---------------------------------------------------------------------------


def test_record_rewrites_storage_urls_and_stores_scrubbed_readable_exchanges(
    upstream: Upstream, relay_factory: Any, tmp_path: Path
) -> None:
    relay = relay_factory(upstream.url)
    rec = relay.record(Cassette(metadata=cs.new_metadata(upstream.url)), secrets=[API_KEY])
    files, put, got, compressed, viewer = _session(relay, upstream)
    leaky = gql(relay.url, "Echo", {"note": f"key={API_KEY}"})
    assert leaky.json()["data"]["variables"]["note"] == f"key={API_KEY}"

    # The SDK is handed relay URLs: storage hosts under /_ext/, the API host directly;
    # the query (with its signature) still reaches the real storage.
    node = files.json()["data"]["createArtifactFiles"]["files"]["edges"][0]["node"]
    ext = f"{relay.url}/_ext/http/{upstream.storage.url.removeprefix('http://')}/{OBJECT}?"
    assert node["uploadUrl"].startswith(ext)
    assert node["directUrl"].startswith(ext)
    assert node["uploadMultipartUrls"]["uploadUrlParts"][0]["uploadUrl"].startswith(ext)
    assert node["url"] == f"{relay.url}/files/e/p/r/model.pt"
    assert SIGNATURE in node["uploadUrl"]
    assert put.status == 200
    assert upstream.blobs[f"/{OBJECT}"] == BLOB
    assert (got.status, got.body) == (200, BLOB)
    assert compressed.status == 200
    assert compressed.json()["data"]["echo"] == {"n": 1}
    assert viewer.json()["data"]["op"] == "Viewer"
    # The upstream saw the real credentials and the decompressed request body.
    assert [s["auth"] for s in upstream.seen] == [BASIC] * 4
    assert upstream.seen[1]["variables"] == {"n": 1}
    assert rec.upstream_errors == []

    path = cs.save(rec.cassette, tmp_path / "session.yaml")
    text = path.read_text()
    # No credentials in any form.
    assert API_KEY not in text
    assert BASIC.split()[1] not in text and BASIC.split()[1].rstrip("=") not in text
    assert SIGNATURE not in text
    assert "authorization" not in text.lower()

    loaded = cs.load(path)
    by_method = [(ix.method, ix.uri.split("?")[0]) for ix in loaded]
    storage = f"{upstream.storage.url}/{OBJECT}"
    assert by_method == [
        ("POST", f"{upstream.url}/graphql"),
        ("PUT", storage),
        ("GET", storage),
        ("POST", f"{upstream.url}/graphql"),
        ("POST", f"{upstream.url}/graphql"),
        ("POST", f"{upstream.url}/graphql"),
    ]
    files_ix, put_ix, get_ix, gzip_ix, _, echo_ix = loaded.interactions
    # Cassettes keep the real URLs, signatures redacted.
    assert "uploadUrl" in files_ix.response_text()  # type: ignore[operator]
    assert f'"{upstream.signed(OBJECT).replace(SIGNATURE, "REDACTED")}"' in str(
        files_ix.response_text()
    )
    assert relay.url not in text
    assert put_ix.uri.endswith("X-Goog-Signature=REDACTED")
    # Binary bodies are size + sha256 only; a download of bytes uploaded here too.
    assert put_ix.request_body == Digest.of(BLOB)
    assert get_ix.response_body == Digest.of(BLOB)
    assert len(text) < 20_000
    # gzip: stored decompressed and readable, without the encoding header.
    assert isinstance(gzip_ix.response_body, str)
    assert json.loads(gzip_ix.response_body)["data"]["big"] == "x" * 2000
    assert not {k.lower() for k in gzip_ix.response_headers} & {"content-encoding"}
    assert json.loads(gzip_ix.request_text() or "")["variables"] == {"n": 1}
    assert "key=<WANDB_API_KEY>" in str(echo_ix.request_text())
    assert "key=<WANDB_API_KEY>" in str(echo_ix.response_text())

    # vcrpy itself reads the file.
    from_vcr = vcr.cassette.Cassette.load(path=str(path))
    assert len(from_vcr) == 6
    assert [r.method for r in from_vcr.requests] == ["POST", "PUT", "GET", "POST", "POST", "POST"]
    assert from_vcr.responses[0]["status"]["code"] == 200


def test_the_features_of_a_server_the_sdk_did_not_ask_are_recorded_once(
    upstream: Upstream, relay_factory: Any
) -> None:
    """wandb 0.29 asks them at every init, 0.31 only for artifacts: a 0.31 recording of a
    run holds them only because the relay reads them, with the SDK's own credentials."""
    relay = relay_factory(upstream.url)
    rec = relay.record(Cassette(metadata=cs.new_metadata(upstream.url)), secrets=[API_KEY])
    gql(relay.url, "Viewer", {})
    relay.read_server_features(rec)
    relay.read_server_features(rec)  # once per server, however often asked
    assert [(s["op"], s["auth"]) for s in upstream.seen] == [
        ("Viewer", BASIC),
        ("ServerFeaturesQuery", BASIC),
    ]
    last = rec.cassette.interactions[-1]
    assert len(rec.cassette.interactions) == 2
    assert (last.method, last.uri, last.status) == ("POST", f"{upstream.url}/graphql", 200)
    assert json.loads(last.request_text() or "")["operationName"] == "ServerFeaturesQuery"
    assert "ARTIFACT_TAGS" in str(last.response_text())
    assert rec.upstream_errors == []


def test_features_the_sdk_asked_itself_are_not_read_again(
    upstream: Upstream, relay_factory: Any
) -> None:
    relay = relay_factory(upstream.url)
    rec = relay.record(Cassette(metadata=cs.new_metadata(upstream.url)), secrets=[API_KEY])
    gql(relay.url, "ServerFeaturesQuery", {})
    relay.read_server_features(rec)
    assert [s["op"] for s in upstream.seen] == ["ServerFeaturesQuery"]
    assert len(rec.cassette.interactions) == 1


def test_no_graphql_no_features_read(upstream: Upstream, relay_factory: Any) -> None:
    relay = relay_factory(upstream.url)
    rec = relay.record(Cassette(metadata=cs.new_metadata(upstream.url)), secrets=[API_KEY])
    relay.read_server_features(rec)
    assert upstream.seen == [] and rec.cassette.interactions == []


@pytest.mark.parametrize("status", [500, 400])
def test_a_features_read_that_fails_is_left_out_and_fails_nothing(
    status: int, upstream: Upstream, relay_factory: Any
) -> None:
    """The test needs none of it: an SDK that asks in replay meets the usual mismatch."""
    upstream.features_status = status
    relay = relay_factory(upstream.url)
    rec = relay.record(Cassette(metadata=cs.new_metadata(upstream.url)), secrets=[API_KEY])
    gql(relay.url, "Viewer", {})
    relay.read_server_features(rec)
    assert [s["op"] for s in upstream.seen] == ["Viewer", "ServerFeaturesQuery"]
    assert len(rec.cassette.interactions) == 1
    assert rec.upstream_errors == [] and rec.fatal is None


def test_an_unreachable_upstream_is_answered_400_at_once_and_reported(relay_factory: Any) -> None:
    """Nothing listens there: a 400 (wandb-core does not retry it), not minutes of retries
    of a 5xx; a dropped connection mid-answer stays a 502 (tests/e2e/test_upstream_faults.py)."""
    dead = BackgroundServer(web.Application()).start()
    url = dead.url
    dead.stop()
    relay = relay_factory(url)
    rec = relay.record(Cassette())
    answer = gql(relay.url, "Viewer", {})
    assert answer.status == 400
    assert "cannot reach the upstream" in answer.json()["errors"][0]["message"]
    assert len(rec.upstream_errors) == 1
    assert f"POST {url}/graphql" in rec.upstream_errors[0]
    assert [ix.status for ix in rec.cassette.interactions] == [400]


# -- replay ---------------------------------------------------------------------------


@pytest.fixture
def recorded(upstream: Upstream, relay_factory: Any, tmp_path: Path) -> tuple[Path, list[Answer]]:
    """A cassette of :func:`_session`, then the upstream stopped."""
    relay = relay_factory(upstream.url)
    rec = relay.record(Cassette(metadata=cs.new_metadata(upstream.url)), secrets=[API_KEY])
    answers = _session(relay, upstream)
    relay.activate(None)
    path = cs.save(rec.cassette, tmp_path / "session.yaml")
    upstream.api.stop()
    upstream.storage.stop()
    return path, answers


def _rebased(answer: Answer, old: str, new: str) -> Any:
    return json.loads(answer.body.decode().replace(old, new))


def test_replay_needs_no_upstream_and_ignores_order(
    recorded: tuple[Path, list[Answer]], relay_factory: Any
) -> None:
    path, live = recorded
    cassette = cs.load(path)
    # Another relay (another port) in another process would do the same.
    relay = relay_factory(cassette.metadata["upstream"])
    rep = relay.replay(cassette)

    # GraphQL in reverse order; uploads and their downloads after their GraphQL.
    viewer = gql(relay.url, "Viewer", {})
    compressed = gql(relay.url, "Compressed", {"n": 1}, gzipped=True)
    files = gql(relay.url, "CreateArtifactFiles", {"name": "model.pt"})
    node = files.json()["data"]["createArtifactFiles"]["files"]["edges"][0]["node"]
    assert node["uploadUrl"].startswith(f"{relay.url}/_ext/http/")
    assert node["url"] == f"{relay.url}/files/e/p/r/model.pt"
    assert call("PUT", node["uploadUrl"], BLOB).status == 200
    got = call("GET", node["directUrl"])

    assert rep.errors == []
    assert (got.status, got.body) == (200, BLOB)  # served from this replay's upload
    assert viewer.json() == live[4].json()
    assert compressed.json() == live[3].json()
    assert compressed.headers.get("Content-Encoding") is None
    live_node = live[0].json()["data"]["createArtifactFiles"]["files"]["edges"][0]["node"]
    assert node["name"] == live_node["name"]
    assert rep.matcher.unplayed() == []


@pytest.mark.parametrize(
    "framing",
    [
        {"Transfer-Encoding": ["chunked"]},
        {"Content-Length": ["99999999"]},
        {"Content-Encoding": ["gzip"]},
        {"Connection": ["close"], "Keep-Alive": ["timeout=600"]},
    ],
    ids=lambda h: next(iter(h)),
)
def test_recorded_framing_headers_never_reach_the_client(
    recorded: tuple[Path, list[Answer]], relay_factory: Any, framing: dict[str, list[str]]
) -> None:
    """A cassette edited to frame an answer (chunked, a long Content-Length, gzip over the
    plain body it keeps) is served framed by the relay: the client reads the answer at once
    (before: it waited for bytes that never came, ~36 s, or failed decoding gzip)."""
    path, live = recorded
    cassette = cs.load(path)
    cassette = dataclasses.replace(
        cassette,
        interactions=[
            dataclasses.replace(ix, response_headers={**ix.response_headers, **framing})
            for ix in cassette.interactions
        ],
    )
    relay = relay_factory(cassette.metadata["upstream"])
    relay.replay(cassette)
    viewer = gql(relay.url, "Viewer", {})
    assert viewer.json() == live[4].json()
    assert {k.lower() for k in viewer.headers} & {k.lower() for k in framing} <= {
        "content-length",
        "connection",
        "keep-alive",
    }
    assert viewer.headers.get("Content-Length") in (None, str(len(viewer.body)))


def test_replay_serves_the_bytes_uploaded_in_this_replay(
    recorded: tuple[Path, list[Answer]], relay_factory: Any
) -> None:
    """A checkpoint of fresh random weights differs from the recorded one: download it back."""
    path, _ = recorded
    relay = relay_factory("http://unused.invalid")
    relay.replay(cs.load(path))
    files = gql(relay.url, "CreateArtifactFiles", {"name": "model.pt"})
    node = files.json()["data"]["createArtifactFiles"]["files"]["edges"][0]["node"]
    other = os.urandom(1000)
    assert call("PUT", node["uploadUrl"], other).status == 200
    assert call("GET", node["directUrl"]).body == other


def test_a_download_with_nothing_uploaded_names_it_and_says_re_record(
    recorded: tuple[Path, list[Answer]], relay_factory: Any
) -> None:
    path, _ = recorded
    relay = relay_factory("http://unused.invalid")
    rep = relay.replay(cs.load(path))
    files = gql(relay.url, "CreateArtifactFiles", {"name": "model.pt"})
    node = files.json()["data"]["createArtifactFiles"]["files"]["edges"][0]["node"]
    got = call("GET", node["directUrl"])
    assert got.status == 404
    assert b"re-record" in got.body
    assert "GET http://" in str(rep.errors[0]) and "model%3Av0.pt" in str(rep.errors[0])
    assert SIGNATURE.encode() not in got.body


def test_an_unmatched_request_is_an_error_naming_it(
    recorded: tuple[Path, list[Answer]], relay_factory: Any
) -> None:
    path, _ = recorded
    relay = relay_factory("http://unused.invalid")
    rep = relay.replay(cs.load(path))

    # GraphQL: a 400 (wandb-core does not retry it) with a GraphQL error naming the
    # operation, the variables and how they differ from the closest recording.
    answer = gql(relay.url, "CreateArtifactFiles", {"name": "other.pt"})
    assert answer.status == 400
    message = answer.json()["errors"][0]["message"]
    assert "no recorded match for GraphQL CreateArtifactFiles" in message
    assert '"name":"other.pt"' in message
    assert 'file: recorded "model.pt", sent "other.pt"' in message

    # Storage: the method and the URL without its (signed) query.
    storage_url = relay.url + "/_ext/http/127.0.0.1:9/bucket/nope?X-Goog-Signature=abc"
    put = call("PUT", storage_url, b"data")
    assert put.status == 400
    assert b"PUT http://127.0.0.1:9/bucket/nope" in put.body
    assert b"abc" not in put.body

    never = gql(relay.url, "NeverRecorded", {})
    assert "no recorded match for GraphQL NeverRecorded" in never.json()["errors"][0]["message"]
    assert len(rep.errors) == 3


def test_requests_with_no_active_cassette_are_refused_at_once_naming_the_sender(
    relay_factory: Any,
) -> None:
    relay = relay_factory("http://unused.invalid")
    relay.context = lambda: "test tests/test_x.py::test_y"
    answer = gql(relay.url, "Viewer", {})
    assert answer.status == 400  # not retried by wandb-core, unlike a 503
    message = answer.json()["errors"][0]["message"]
    assert "outside any cassette by test tests/test_x.py::test_y" in message
    assert "@pytest.mark.wandb_cassette" in message
    assert relay.stray == ["POST /graphql"]


def test_non_loopback_clients_are_refused() -> None:
    relay = Relay("http://unused.invalid")
    relay.record(Cassette())  # an active session must not matter

    def request_from(peer: str) -> web.Request:
        transport = mock.Mock()
        transport.get_extra_info.side_effect = lambda name, default=None: (
            (peer, 50000) if name == "peername" else default
        )
        return make_mocked_request("POST", relay.prefix + "/graphql", transport=transport)

    response = asyncio.run(relay._handle(request_from("192.0.2.7")))
    assert response.status == 403
    assert relay.session is not None and relay.session.cassette.interactions == []  # type: ignore[union-attr]

    relay.activate(None)
    response = asyncio.run(relay._handle(request_from("127.0.0.1")))
    assert response.status == 400  # got past the loopback check: refused as outside a cassette
