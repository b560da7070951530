"""The pieces that take a named server through the relay (issue 21), in-process and fast.

How a route names a server; where the SDK is taken (``Settings.to_proto``,
``ServiceApi.base_url``); the relay forwarding a route to its server with that server's
key (never the session's), refusing what may not go; replay matching a request on
whichever server it was recorded; one ledger per server; the audit's finding for an empty
cassette of a test that used W&B; the child hook's ``.pth`` line, on by ancestry or by
the session's variable, off elsewhere.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wandb_cassettes_standin import StandinBackend

from wandb_cassettes.audit import audit_cassette
from wandb_cassettes.errors import ConfigurationError
from wandb_cassettes.ownership import Ledger
from wandb_cassettes.record import Relay
from wandb_cassettes.replay import Matcher
from wandb_cassettes.runtime import _children as children
from wandb_cassettes.runtime import _servers as servers
from wandb_cassettes.runtime._env import REPLAY_API_KEY
from wandb_cassettes.store import (
    SERVERS_KEY,
    USE_KEY,
    Cassette,
    Interaction,
    check_upstream,
    parse_route,
    server_route,
)

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
VIEWER = json.dumps({"query": "query Viewer { viewer { id entity } }", "operationName": "Viewer"})


def _basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"api:{key}".encode()).decode()


def _post(url: str, key: str, body: str = VIEWER) -> tuple[int, str]:
    request = urllib.request.Request(
        url,
        data=body.encode(),
        method="POST",
        headers={"Authorization": _basic(key), "Content-Type": "application/json"},
    )
    try:
        with _OPENER.open(request, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


# -- routes ------------------------------------------------------------------------------


@given(
    st.sampled_from(["http", "https"]),
    st.from_regex(r"[a-z0-9.-]{1,30}(:[0-9]{1,5})?", fullmatch=True),
    st.from_regex(r"(/[A-Za-z0-9_.~-]{1,10}){0,3}/?", fullmatch=True),
)
def test_a_route_names_its_server_and_gives_back_the_path(
    scheme: str, host: str, prefix: str
) -> None:
    server = f"{scheme}://{host}{prefix}"
    route = server_route("http://127.0.0.1:1/secret", server)
    path = route[len("http://127.0.0.1:1/secret") :]
    assert parse_route(path + "/graphql") == (server.rstrip("/"), "/graphql")
    assert parse_route(path) == (server.rstrip("/"), "/")


@pytest.mark.parametrize(
    "path", ["/_srv/!!!/graphql", "/_srv/" + base64.urlsafe_b64encode(b"file:///etc").decode()]
)
def test_a_route_that_names_no_http_server_is_refused(path: str) -> None:
    with pytest.raises(ValueError):
        parse_route(path)


def test_paths_without_a_route_are_left_as_they_are() -> None:
    assert parse_route("/graphql") == (None, "/graphql")
    assert parse_route("/_ext/https/storage/x") == (None, "/_ext/https/storage/x")


def test_the_sdk_is_routed_to_the_relay_whatever_server_it_names() -> None:
    target = servers.Target("http://127.0.0.1:5/s3cret", "https://api.wandb.ai")
    assert target.route("https://api.wandb.ai/") == "http://127.0.0.1:5/s3cret"
    assert target.route("http://127.0.0.1:5/s3cret") == "http://127.0.0.1:5/s3cret"
    named = target.route("https://wandb.corp.example")
    assert named.startswith("http://127.0.0.1:5/s3cret/_srv/")
    assert parse_route(named[len("http://127.0.0.1:5/s3cret") :]) == (
        "https://wandb.corp.example",
        "/",
    )
    # Messages name the upstream, never the relay's URL (its path holds the secret).
    assert target.named("http://127.0.0.1:5/s3cret") == "https://api.wandb.ai"
    assert "s3cret" not in servers.Target("http://127.0.0.1:5/s3cret").named(
        "http://127.0.0.1:5/s3cret"
    )


RELAY = "http://127.0.0.1:5/s3cret"


class _Settings:
    """What the SDK's settings say of their files (wandb_settings.py)."""

    def __init__(self, workspace: Path, system: Path | None) -> None:
        self.settings_workspace = str(workspace)
        self.settings_system = str(system) if system else None


def _file(path: Path, base_url: str | None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"[default]\nbase_url = {base_url}\n" if base_url else "[default]\n")
    return path


def test_a_settings_file_the_test_brings_names_the_server_the_workspace_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "session"  # the session's working folder: WANDB_DIR, WANDB_CONFIG_DIR
    target = servers.Target(RELAY, "https://api.wandb.ai", settled=(str(work.resolve()),))
    system = _file(tmp_path / "conf" / "settings", "https://system.example")
    workspace = _file(tmp_path / "proj" / "wandb" / "settings", "https://workspace.example")
    assert target.server(_Settings(workspace, system), RELAY) == "https://workspace.example"
    assert target.server(_Settings(tmp_path / "none", system), RELAY) == "https://system.example"
    # The code's own server wins over any file; no file: the relay (the upstream).
    assert target.server(_Settings(workspace, system), "https://code.example") == (
        "https://code.example"
    )
    assert target.server(_Settings(tmp_path / "none", None), RELAY) == RELAY
    # The SDK's workspace file is the session's (its WANDB_DIR): the current folder's is read.
    monkeypatch.chdir(workspace.parent.parent)
    ours = _file(work / "wandb" / "settings", "https://ours.example")
    assert target.server(_Settings(ours, None), RELAY) == "https://workspace.example"


def test_settings_files_of_the_session_and_a_shell_server_leave_the_upstream(
    tmp_path: Path,
) -> None:
    start = _file(tmp_path / "start" / "wandb" / "settings", "https://start.example")
    settings = _Settings(start, _file(tmp_path / "conf" / "settings", None))
    assert (
        servers.Target(RELAY, "https://u", settled=(str(start.resolve()),)).server(settings, RELAY)
        == RELAY
    )
    # WANDB_BASE_URL in the shell wins over the files, in the SDK as here.
    assert (
        servers.Target(RELAY, "https://u", shell_names_server=True).server(settings, RELAY) == RELAY
    )
    broken = tmp_path / "broken" / "settings"
    broken.parent.mkdir()
    broken.write_text("base_url = no section\n")
    assert servers.settings_file_server(_Settings(broken, None)) is None


@pytest.fixture
def pointed() -> Iterator[servers.Target]:
    """This process's SDK taken to a (fake) relay for the test, put back after."""
    servers.install()
    before = servers.target()
    target = servers.Target("http://127.0.0.1:5/s3cret", "https://api.wandb.ai")
    servers.point(target)
    try:
        yield target
    finally:
        servers.point(before)


def test_what_the_sdk_hands_wandb_core_names_the_relay(pointed: servers.Target) -> None:
    import wandb
    from wandb.apis.public.service_api import ServiceApi

    settings = wandb.Settings(base_url="https://wandb.corp.example", api_key="k" * 40)
    proto = settings.to_proto()
    assert proto.base_url.value == pointed.route("https://wandb.corp.example")
    assert proto.api_key.value == "k" * 40  # the key is the SDK's choice
    assert settings.base_url == "https://wandb.corp.example"  # the code reads its own URL
    assert ServiceApi(settings).base_url == pointed.route("https://wandb.corp.example")
    with servers.direct():  # the library's own sweep goes where its settings say
        assert settings.to_proto().base_url.value == "https://wandb.corp.example"
    servers.point(None)
    assert settings.to_proto().base_url.value == "https://wandb.corp.example"


def test_each_online_use_is_noted_offline_ones_are_not(pointed: servers.Target) -> None:
    import wandb

    before = len(servers.USES)
    wandb.Settings(base_url="https://wandb.corp.example").to_proto()
    wandb.Settings(base_url="https://wandb.corp.example", run_id="abc").to_proto()
    wandb.Settings(mode="offline").to_proto()
    wandb.Settings(mode="disabled").to_proto()
    assert servers.USES[before:] == [
        servers.Use("api", "https://wandb.corp.example"),
        servers.Use("run", "https://wandb.corp.example"),
    ]


# -- the relay ---------------------------------------------------------------------------


Two = tuple[StandinBackend, StandinBackend]


@pytest.fixture
def two() -> Iterator[Two]:
    with StandinBackend() as upstream, StandinBackend() as named:
        yield upstream, named


def _relay(upstream: StandinBackend, keys: dict[str, str]) -> Relay:
    relay = Relay(upstream.base_url).start()
    relay.injected = {REPLAY_API_KEY, upstream.api_key}
    relay.key_for = keys.get
    return relay


def test_a_route_is_recorded_on_its_server_with_that_servers_key(two: Two) -> None:
    upstream, named = two
    relay = _relay(upstream, {named.base_url: named.api_key})
    try:
        rec = relay.record(Cassette(metadata={"upstream": upstream.base_url}))
        # The SDK sent the key the session handed it: the named server gets its own.
        status, _ = _post(relay.route(named.base_url) + "/graphql", upstream.api_key)
        assert status == 200
        # A key the SDK chose itself goes as it is (and is learned for that server).
        assert _post(relay.route(named.base_url) + "/graphql", named.api_key)[0] == 200
        assert relay.keys == {named.base_url: named.api_key}
        # The upstream itself: the plain relay URL, the session's key.
        assert _post(relay.url + "/graphql", upstream.api_key)[0] == 200
    finally:
        relay.stop()
    assert [ix.uri for ix in rec.cassette.interactions] == [
        named.base_url + "/graphql",
        named.base_url + "/graphql",
        upstream.base_url + "/graphql",
    ]
    assert rec.servers == {named.base_url}
    assert [op for _m, _p, op in named.requests] == ["Viewer", "Viewer"]
    assert rec.fatal is None
    for ix in rec.cassette.interactions:
        assert named.api_key not in str(ix.request_headers) + str(ix.response_body)


@pytest.mark.parametrize(
    ("server", "said"),
    [
        ("named", "no API key for"),
        ("http://wandb.example.invalid", "refusing plain-http upstream"),
    ],
)
def test_a_route_that_may_not_be_forwarded_stops_the_recording(
    two: Two, server: str, said: str
) -> None:
    upstream, named = two
    target = named.base_url if server == "named" else server
    relay = _relay(upstream, {})  # no key for the named server anywhere
    try:
        rec = relay.record(Cassette(metadata={"upstream": upstream.base_url}))
        status, body = _post(relay.route(target) + "/graphql", upstream.api_key)
    finally:
        relay.stop()
    assert status == 400 and said in body and target in body
    assert rec.fatal is not None and said in str(rec.fatal)
    assert named.requests == [] and rec.cassette.interactions == []


def test_replay_answers_a_request_on_whichever_server_it_was_recorded(two: Two) -> None:
    upstream, named = two
    relay = _relay(upstream, {named.base_url: named.api_key})
    try:
        rec = relay.record(Cassette(metadata={"upstream": upstream.base_url}))
        _, recorded = _post(relay.route(named.base_url) + "/graphql", named.api_key)
        cassette = rec.cassette
        cassette.metadata[SERVERS_KEY] = sorted(rec.servers)
        # Replayed, the code may name the server another way (a CI variable, no settings).
        for base in (relay.route("https://wandb.elsewhere.example"), relay.url):
            replay = relay.replay(cassette)
            status, body = _post(base + "/graphql", REPLAY_API_KEY)
            assert (status, json.loads(body)) == (200, json.loads(recorded))
            assert replay.errors == [] and replay.requests == 1
    finally:
        relay.stop()
    assert len(named.requests) == 1 and upstream.requests == []


def test_the_matcher_reads_paths_on_every_server_the_cassette_lists() -> None:
    uri = "https://wandb.corp.example/files/e/p/run1/config.yaml"
    ix = Interaction("GET", uri, {}, None, 200, "OK", {}, "lr: 0.1")
    listed = Matcher(
        Cassette([ix], {"upstream": "https://api.wandb.ai", SERVERS_KEY: [uri[:26]]}),
        "https://api.wandb.ai",
    )
    assert listed.match(listed.key("GET", "/files/e/p/run1/config.yaml", None))[0] == 0
    # Unlisted, the same URI is another host's (storage): matched by its whole URL.
    unlisted = Matcher(Cassette([ix], {"upstream": "https://api.wandb.ai"}), "https://api.wandb.ai")
    assert "https://wandb.corp.example" in unlisted._keys[0].name


# -- ledgers and the audit ---------------------------------------------------------------


def _upsert(server: str, run: str) -> Interaction:
    request = {
        "query": "mutation UpsertBucket($name: String, $project: String, $entity: String) "
        "{ upsertBucket(input: {name: $name, modelName: $project, entityName: $entity}) "
        "{ bucket { id name } inserted } }",
        "variables": {"name": run, "project": "p", "entity": "e"},
        "operationName": "UpsertBucket",
    }
    answer = {
        "data": {"upsertBucket": {"bucket": {"id": "UnVuOjE=", "name": run}, "inserted": True}}
    }
    return Interaction(
        "POST", server + "/graphql", {}, json.dumps(request), 200, "OK", {}, json.dumps(answer)
    )


def test_one_ledger_per_server_even_when_their_ids_coincide() -> None:
    home, named = "https://api.wandb.ai", "https://wandb.corp.example"
    cassette = Cassette(
        [_upsert(home, "run1"), _upsert(named, "run2")],
        {"upstream": home, SERVERS_KEY: [named], "fresh_run_ids": ["run1", "run2"]},
    )
    ledgers = Ledger.per_server(cassette)
    assert [ledger.server for ledger in ledgers] == [home, named]
    assert [[r.name for r in ledger.created] for ledger in ledgers] == [["e/p/run1"], ["e/p/run2"]]
    assert [[r.created_at for r in ledger.created] for ledger in ledgers] == [[0], [1]]
    # Without the list, one ledger reads every exchange (cassettes of one server).
    (single,) = Ledger.per_server(Cassette(cassette.interactions, {"upstream": home}))
    assert single.server is None


def test_the_audit_flags_an_empty_cassette_of_a_test_that_used_wandb(tmp_path: Path) -> None:
    used = audit_cassette(Cassette([], {"upstream": "u", USE_KEY: ["run"]}), tmp_path / "a.yaml")
    assert used.status == "dirty" and "used W&B online (run)" in used.empty
    assert "used W&B online" in used.to_json()["empty"]
    quiet = audit_cassette(Cassette([], {"upstream": "u"}), tmp_path / "b.yaml")
    assert quiet.status == "clean" and not quiet.empty


# -- the child hook ----------------------------------------------------------------------

PROBE = (
    "import os, site, sys; site.addsitedir(sys.argv[1]); "
    "from wandb_cassettes.runtime import _servers; "
    "print(_servers.target() and _servers.target().relay, os.environ.get('WANDB_SILENT'))"
)


@pytest.fixture
def session_state(tmp_path: Path) -> Path:
    state = tmp_path / "session.json"
    state.write_text(
        json.dumps(
            {
                "relay": "http://127.0.0.1:9/s3cret",
                "upstream": None,
                "quiet": {"WANDB_SILENT": "true"},
                "cassette": None,
            }
        )
    )
    return state


def _probe(tmp_path: Path, state: Path, pid: int, **env: str) -> str:
    folder = tmp_path / "site"
    folder.mkdir(exist_ok=True)
    (folder / "hook.pth").write_text(children.pth_text(state, pid))
    cleared = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **env}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(folder)],
        env=cleared,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_hook_is_on_in_a_descendant_whatever_its_environment(
    tmp_path: Path, session_state: Path
) -> None:
    # This process plays the session: its child, started with PATH and HOME only.
    said = _probe(tmp_path, session_state, os.getpid())
    assert said == "http://127.0.0.1:9/s3cret true"


def test_the_hook_is_off_in_another_process_unless_it_names_the_session(
    tmp_path: Path, session_state: Path
) -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert _probe(tmp_path, session_state, other.pid) == "None None"
        named = _probe(
            tmp_path, session_state, other.pid, WANDB_CASSETTES_SESSION=str(session_state)
        )
        assert named == "http://127.0.0.1:9/s3cret None"  # its environment is the session's
    finally:
        other.kill()
        other.wait()


def test_a_descendant_whose_environment_names_a_nested_session_is_left_to_it(
    tmp_path: Path, session_state: Path
) -> None:
    # This process plays the outer session; the child's environment names an inner one
    # (pytest run in a subprocess by a test of the outer session): the outer hook is off.
    inner = tmp_path / "inner.json"
    inner.write_text(session_state.read_text())
    env = {children.SESSION_ENV: str(inner)}
    assert _probe(tmp_path, session_state, os.getpid(), **env) == "None None"
    inner.unlink()  # the session its environment names is gone: still not the outer one's
    assert _probe(tmp_path, session_state, os.getpid(), **env) == "None None"


def test_a_process_the_session_starts_for_itself_is_never_hooked(
    tmp_path: Path, session_state: Path
) -> None:
    env = {children.SESSION_ENV: children.NO_SESSION}
    assert _probe(tmp_path, session_state, os.getpid(), **env) == "None None"


def test_the_hook_of_a_session_gone_does_nothing(tmp_path: Path, session_state: Path) -> None:
    session_state.unlink()
    assert _probe(tmp_path, session_state, os.getpid()) == "None None"


def test_a_process_that_starts_its_own_session_leaves_the_hook(
    monkeypatch: pytest.MonkeyPatch, session_state: Path
) -> None:
    monkeypatch.delenv("WANDB_SILENT", raising=False)
    monkeypatch.delenv(children.SESSION_ENV, raising=False)
    before = servers.target()
    children.start_child(str(session_state))
    try:
        assert os.environ["WANDB_SILENT"] == "true"
        target = servers.target()
        assert target is not None and target.relay == "http://127.0.0.1:9/s3cret"
    finally:
        children.disown()
        servers.point(before)
    assert "WANDB_SILENT" not in os.environ and children.SESSION_ENV not in os.environ


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://127.1:8080",  # inet_aton's shorthand
        "http://127.0.0.2",
        "http://LOCALHOST:8080",
        "http://localhost.:8080",
        "http://[::1]:8080",
        "http://[0:0:0:0:0:0:0:1]:8080",
    ],
)
def test_plain_http_to_this_machine_is_allowed_in_any_spelling(url: str) -> None:
    assert check_upstream(url) == url


@pytest.mark.parametrize(
    "url", ["http://10.0.0.1", "http://128.0.0.1", "http://localhost.example", "http://[::2]"]
)
def test_plain_http_off_this_machine_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="refusing plain-http upstream"):
        check_upstream(url)
