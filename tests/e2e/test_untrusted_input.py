"""Issue 22: cassettes, blobs and journals are untrusted input.

They come with pull requests, merges and working folders, and the relay listens on a
port every local process can see. Whatever they hold, a bad one never hangs CI, never
reads outside the repository, and never sends a key anywhere the user did not send it.
One section per case of the issue; each tests the kind, through several variants:

1. bounded loading (aliases, nesting, size, element counts): cassettes, the parsed cache;
2. replay never waits for the recording's clock, and never serves an error again;
3. blobs confined to the cassette folder's ``_blobs/`` and verified;
4. the relay serves only its own session;
5. ``sweep`` sends keys only where the user sent them, deletes only by identity;
6. merge-conflict markers named as such;
7. a folder with no cassette is no clean audit;

and a hypothesis fuzz test of the loader and the audit with hostile YAML.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import time
import tracemalloc
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.cassette_builders import clean_flow, file_stream, gql_exchange, signed_url
from support.projects import FLOW, make_project, output
from support.pytest_process import run_pytest
from wandb_cassettes_standin import StandinBackend

from wandb_cassettes import store as cs
from wandb_cassettes.audit import audit_file
from wandb_cassettes.cleanup import journal_lines
from wandb_cassettes.cli import main as cli
from wandb_cassettes.errors import CassetteError
from wandb_cassettes.record import Relay
from wandb_cassettes.replay import Matcher, request_key
from wandb_cassettes.store import Cassette, Digest, Interaction

VALID = cs.dumps(clean_flow())
UP = "https://api.wandb.ai"


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def _unusable(text: str, path: str = "c.yaml") -> CassetteError:
    """The error loading ``text`` raises (the test fails if it loads)."""
    with pytest.raises(CassetteError) as caught:
        cs.loads(text, path)
    return caught.value


# -- 1. bounded loading --------------------------------------------------------------------


def _bomb(levels: int = 9, width: int = 10, indent: str = "    ") -> str:
    """A "billion laughs": ``levels`` anchors, each a list of ``width`` aliases of the one
    before (the issue's: 9 anchors, 90 aliases, under 1 KB, 10^9 nodes)."""
    lines = [f"{indent}a0: &a0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"{indent}a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def _in_metadata(extra: str) -> str:
    """VALID with ``extra`` (lines indented by 4) under a ``bomb:`` key of its metadata."""
    return VALID.replace("metadata:\n", "metadata:\n  bomb:\n" + extra, 1)


BOMB = _in_metadata(_bomb())


def _deep(depth: int) -> str:
    return "    deep: " + "[" * depth + "x" + "]" * depth + "\n"


#: Variants of each kind of limit: name -> (cassette text, what the error says).
OVER_LIMITS: dict[str, tuple[str, str]] = {
    "alias_bomb_in_metadata": (BOMB, "nodes"),
    "alias_bomb_in_a_request": (
        VALID.replace(
            "    headers:\n", "    headers:\n      X-Bomb:\n" + _bomb(indent="      "), 1
        ),
        "nodes",
    ),
    "merge_key_bomb": (
        _in_metadata(
            "    m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8}\n"
            + "".join(
                f"    m{i}: &m{i} {{{', '.join(f'k{j}: *m{i - 1}' for j in range(10))}}}\n"
                for i in range(1, 9)
            )
        ),
        "nodes",
    ),
    "many_aliases": (
        _in_metadata("    s: &s x\n    many: [" + ", ".join(["*s"] * 1_001) + "]\n"),
        "aliases",
    ),
    "deep_nesting": (_in_metadata(_deep(40)), "nested 33 deep"),
    "deep_through_an_alias": (
        _in_metadata(
            "    d: &d " + "[" * 20 + "x" + "]" * 20 + "\n    e: " + "[" * 15 + "*d" + "]" * 15
        ),
        "nested",
    ),
    # A body is parsed as JSON by the ledger, matching and the audit (json.loads recurses).
    "deep_json_response_body": (
        VALID.replace(
            """string: '{"exitcode": null, "limits": {}}'""",
            "string: '" + "[" * 3000 + "'",
            1,
        ),
        "a JSON body nested 3,000 deep",
    ),
    # vcrpy writes a body that is not UTF-8 as !!binary: base64, decoded at load.
    "deep_json_binary_response_body": (
        VALID.replace(
            """string: '{"exitcode": null, "limits": {}}'""",
            "string: !!binary |\n        " + base64.b64encode(b"[" * 3000).decode(),
            1,
        ),
        "a JSON body nested 3,000 deep",
    ),
    "deep_json_request_body": (
        VALID.replace(
            """body: '{"files": {""",
            """body: '{"files": """ + '{"a": ' * 150 + "{",
            1,
        ),
        "a JSON body nested",
    ),
    "huge_scalar": (_in_metadata(f"    big: {'x' * (17 * 1024 * 1024)}\n"), "a scalar of"),
    "aliased_scalars_over_the_bytes_limit": (
        _in_metadata(f"    s: &s {'x' * (8 * 1024 * 1024)}\n    t: [{', '.join(['*s'] * 9)}]\n"),
        "characters of scalars",
    ),
}


@pytest.mark.parametrize("name", OVER_LIMITS)
def test_a_cassette_over_a_limit_is_unusable_at_once_naming_its_line(name):
    text, says = OVER_LIMITS[name]
    started = time.perf_counter()
    error = _unusable(text)
    assert time.perf_counter() - started < 5
    assert "over the loading limit" in str(error) and says in str(error), str(error)
    assert error.line is not None and 1 < error.line <= text.count("\n") + 1
    assert str(error).startswith(f"c.yaml:{error.line}: ")


def test_the_alias_bomb_is_refused_where_it_crosses_the_limit():
    error = _unusable(BOMB)
    # The alias that crosses 2,000,000 nodes: on the anchors' lines, not at the end.
    assert _line_of(BOMB, "a0: &a0") <= error.line <= _line_of(BOMB, "a8: &a8")  # type: ignore[operator]


def test_too_many_elements_without_any_alias_are_refused():
    text = "version: 1\ninteractions: []\nmetadata:\n  x: [" + "0," * 2_000_001 + "]\n"
    error = _unusable(text)
    assert "2,000,001 nodes" in str(error) and error.line == 4


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path):
    path = tmp_path / "huge.yaml"
    with path.open("wb") as fh:  # sparse: 65 MiB on paper, nothing on disk
        fh.truncate(65 * 1024 * 1024)
    tracemalloc.start()
    try:
        with pytest.raises(CassetteError, match="a file of 68,157,440 bytes"):
            cs.load(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024  # never read into memory


def test_limits_leave_a_recorded_cassette_loading_as_before():
    assert cs.loads(VALID, "c.yaml").interactions == clean_flow().interactions


def _cached_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A cassette large enough to be cached, loaded once: (the cassette, its cache entry)."""
    monkeypatch.setenv(cs.CACHE_ENV, str(tmp_path / "cache"))
    flow = clean_flow()
    flow.interactions *= 8  # > CACHE_MIN_BYTES
    path = cs.save(flow, tmp_path / "c.yaml")
    assert path.stat().st_size >= cs.CACHE_MIN_BYTES
    cs.load_cached(path)
    (entry,) = (tmp_path / "cache").glob("*.json")
    return path, entry


#: Stands for a value nested deeper than Python's JSON encoder and decoder recurse.
_DEEP = "__deep__"


def _tamper_cache(entry: Path, change: Callable[[dict[str, Any]], None]) -> None:
    raw = json.loads(entry.read_text())
    change(raw)
    deep = '{"x": ' * 3000 + "{}" + "}" * 3000
    entry.write_text(json.dumps(raw).replace(json.dumps(_DEEP), deep))


def _deep_metadata(raw: dict[str, Any]) -> None:
    raw["metadata"] = {"x": _DEEP}


def _status(value: Any) -> Callable[[dict[str, Any]], None]:
    def change(raw: dict[str, Any]) -> None:
        raw["interactions"][0][4] = value

    return change


def _escaping_blob(raw: dict[str, Any]) -> None:
    raw["interactions"][0][7] = {"sha256": "a" * 64, "size": 5, "blob": "../../../../tmp/x"}


def _unsendable_header(raw: dict[str, Any]) -> None:
    raw["interactions"][0][6] = {"X-Bad": ["a\r\nSet-Cookie: x"]}


def _deep_json_body(raw: dict[str, Any]) -> None:
    raw["interactions"][0][7] = "[" * 3000 + "]" * 3000  # a response body as JSON text


def _json_bomb(raw: dict[str, Any]) -> None:
    raw["metadata"] = {"bomb": [[0] * 1000] * 3000}  # 3 million values


@pytest.mark.parametrize(
    "change",
    [
        _deep_metadata,
        _status("200"),
        _status(True),
        _status(99999),
        _escaping_blob,
        _unsendable_header,
        _deep_json_body,
        _json_bomb,
    ],
    ids=lambda c: getattr(c, "__name__", "status"),
)
def test_a_tampered_parsed_cache_entry_is_ignored_for_the_cassette(tmp_path, monkeypatch, change):
    """The cache is a working folder a CI cache may restore: an entry over the limits or
    of other types than a loaded cassette has is ignored, and the YAML parsed (checked)."""
    path, entry = _cached_project(tmp_path, monkeypatch)
    _tamper_cache(entry, change)
    loaded = cs.load_cached(path)
    assert loaded.interactions == cs.load(path).interactions
    assert loaded.metadata == cs.load(path).metadata


def _replay_project(root: Path, text: str | bytes, name: str = "test_x") -> tuple[Path, Path]:
    """A pytest project whose one marked test replays ``text``: (project, cassette path)."""
    project = make_project(
        root, test_mod=f"import pytest\n\n\n@pytest.mark.wandb_cassette\ndef {name}():\n    pass\n"
    )
    path = project / "cassettes" / "test_mod" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return project, path


def _timed_pytest(
    project: Path, *args: str, limit: float
) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = run_pytest(project, "-p", "no:warnings", *args, timeout=limit * 3)
    return result, time.monotonic() - started


def test_replay_of_the_alias_bomb_ends_in_seconds_unusable_naming_file_and_line(tmp_path):
    project, path = _replay_project(tmp_path / "p", BOMB)
    before = path.read_bytes()
    result, seconds = _timed_pytest(project, limit=10)
    out = output(result)
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, out
    assert seconds < 10, seconds
    assert re.search(rf"wandb cassette unusable: {re.escape(str(path))}:\d+: over the loading", out)
    assert path.read_bytes() == before


_MEASURED = textwrap.dedent(
    """
    import json, resource, subprocess, sys, time
    started = time.monotonic()
    done = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=60)
    print(json.dumps({
        "code": done.returncode, "out": done.stdout + done.stderr,
        "seconds": time.monotonic() - started,
        "peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }))
    """
)


def _measured_audit(*args: str) -> dict[str, Any]:
    """``wandb-cassettes audit ARGS`` in a fresh process: exit code, output, wall time and
    peak memory (the largest resident set of the audit process, from the kernel)."""
    command = [sys.executable, "-m", "wandb_cassettes", "audit", *args]
    done = subprocess.run(
        [sys.executable, "-c", _MEASURED, *command], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_the_audit_of_the_alias_bomb_exits_2_in_seconds_and_little_memory(tmp_path):
    path = tmp_path / "cassettes" / "bomb.yaml"
    path.parent.mkdir()
    path.write_text(BOMB)
    audit = _measured_audit(str(path))
    assert audit["code"] == 2, audit["out"]
    assert audit["seconds"] < 10 and audit["peak_mb"] < 200, audit
    assert re.search(rf"{re.escape(str(path))}:\d+: over the loading limit", audit["out"])


# -- 2. replay never waits for the recording's clock -------------------------------------


def _storage_get(url: str, status: int) -> Interaction:
    return Interaction("GET", url, status=status, response_body="" if status >= 400 else "data")


#: One recorded failure of each kind of endpoint: the key a retry of it has.
FAILING: dict[str, tuple[Interaction, Callable[[], Any]]] = {
    "graphql_query": (
        gql_exchange("Viewer2", "query Viewer2 { viewer { id } }", {}, None, status=503),
        lambda: request_key(
            "POST",
            "/graphql",
            json.dumps({"query": "query Viewer2 { viewer { id } }", "variables": {}}),
        ),
    ),
    "file_stream": (
        Interaction(**{**file_stream("e", "p", "r").__dict__, "status": 500}),
        lambda: request_key("POST", "/files/e/p/r/file_stream", "{}"),
    ),
    "storage_get": (
        _storage_get(signed_url("e/p/f.bin"), 503),
        lambda: request_key("GET", signed_url("e/p/f.bin").split("?")[0], None),
    ),
}


@pytest.mark.parametrize("kind", FAILING)
def test_a_recorded_error_is_never_served_again_whatever_the_endpoint(kind):
    recorded, key = FAILING[kind]
    matcher = Matcher(Cassette([recorded, recorded]), UP)
    assert matcher.match(key())[1].status == recorded.status  # each recording once
    assert matcher.match(key())[1].status == recorded.status
    with pytest.raises(
        Exception, match=r"used up .* the last one HTTP 5\d\d.*does not repeat an error"
    ):
        matcher.match(key())


def test_a_repeatable_request_is_still_answered_again_while_it_succeeds():
    ok = file_stream("e", "p", "r")
    matcher = Matcher(Cassette([ok]), UP)
    key = request_key("POST", "/files/e/p/r/file_stream", "{}")
    assert [matcher.match(key)[1] for _ in range(3)] == [ok, ok, ok]


def _post(
    url: str, body: bytes = b"{}", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    sent = {"Content-Type": "application/json", **(headers or {})}
    request = urllib.request.Request(url, body, sent)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.mark.parametrize(
    ("status", "recorded", "served"),
    [
        (429, "600", "0"),
        (503, "Fri, 31 Dec 2100 23:59:59 GMT", "0"),
        (500, None, "0"),
        (200, None, None),
    ],
)
def test_replay_serves_every_recorded_wait_as_zero(status, recorded, served):
    headers = {"Content-Type": ["application/json"]}
    if recorded is not None:
        headers["retry-after"] = [recorded]
    answer = Interaction(
        "POST",
        UP + "/files/e/p/r/file_stream",
        request_body="{}",
        status=status,
        response_headers=headers,
        response_body="{}",
    )
    with Relay(UP) as relay:
        relay.replay(Cassette([answer]))
        got, sent, _ = _post(relay.url + "/files/e/p/r/file_stream")
    assert got == status
    waits = {k.lower(): v for k, v in sent.items() if k.lower() == "retry-after"}
    assert waits == ({} if served is None else {"retry-after": served})


FLOWING = (
    FLOW
    + """
@pytest.mark.wandb_cassette
def test_flow(tmp_path):
    flow(tmp_path)
"""
)


@pytest.fixture(scope="module")
def recorded_flow(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The reliability flow (a run, a log, a one-file artifact) recorded against the
    stand-in once: (the project, the cassette's text)."""
    project = make_project(tmp_path_factory.mktemp("flow") / "p", test_flow=FLOWING)
    with StandinBackend() as upstream:
        result = run_pytest(project, "--record-mode=once", upstream=upstream)
    assert result.returncode == 0, output(result)
    path = project / "cassettes" / "test_flow" / "test_flow.yaml"
    return project, path.read_text()


def _edited(text: str, edit: Callable[[list[dict[str, Any]]], None]) -> str:
    tree = yaml.safe_load(text)
    edit(tree["interactions"])
    return yaml.safe_dump(tree, sort_keys=False)


def _is(item: dict[str, Any], what: str) -> bool:
    request = item["request"]
    return what in request["uri"] or what in str(request.get("body") or "")


def _rate_limited_first(operation: str) -> Callable[[list[dict[str, Any]]], None]:
    """A 429 with ``Retry-After: 600`` before ``operation``'s answer, as a recording made
    during rate limiting holds."""

    def edit(items: list[dict[str, Any]]) -> None:
        at = next(i for i, item in enumerate(items) if _is(item, operation))
        limited = json.loads(json.dumps(items[at]))
        limited["response"]["status"] = {"code": 429, "message": "Too Many Requests"}
        limited["response"]["headers"] = {"Retry-After": ["600"]}
        limited["response"]["body"] = {"string": '{"errors": [{"message": "rate limited"}]}'}
        items.insert(at, limited)

    return edit


def _all_failing(what: str, status: int) -> Callable[[list[dict[str, Any]]], None]:
    def edit(items: list[dict[str, Any]]) -> None:
        for item in items:
            if _is(item, what) and item["request"]["method"] != "GET":
                item["response"]["status"] = {"code": status, "message": "Server Error"}
                item["response"]["body"] = {"string": "upstream failed"}

    return edit


ERROR_CASSETTES: dict[str, tuple[Callable[[list[dict[str, Any]]], None], str | None]] = {
    "429_retry_after_600": (_rate_limited_first("CreateArtifactFiles"), None),
    "every_file_stream_500": (_all_failing("/file_stream", 500), "/file_stream"),
    "every_storage_put_503": (_all_failing("/bucket/", 503), "PUT"),
    "every_create_artifact_500": (_all_failing("mutation CreateArtifact ", 500), "CreateArtifact"),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", ERROR_CASSETTES)
def test_replay_of_recorded_errors_ends_in_seconds(recorded_flow, tmp_path, name):
    """With the SDK's default retry settings: a recorded wait is not waited for, and a
    replay that could only go on by serving an error again fails, naming it."""
    _, text = recorded_flow
    edit, failing = ERROR_CASSETTES[name]
    project = make_project(tmp_path / "p", test_flow=FLOWING)
    path = project / "cassettes" / "test_flow" / "test_flow.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(_edited(text, edit))
    result, seconds = _timed_pytest(project, limit=30)
    out = output(result)
    assert seconds < 30, (seconds, out[-3000:])
    if failing is None:
        assert result.returncode == 0, out
    else:
        assert result.returncode == pytest.ExitCode.TESTS_FAILED, out
        used_up = re.search(r"recorded answers used up for ([^\n]*)", out)
        assert used_up and failing in used_up.group(1), out[-4000:]
        assert "does not repeat an error" in out


# -- 3. blobs confined and verified --------------------------------------------------------

CONTENT = b"the model's bytes"
SHA = hashlib.sha256(CONTENT).hexdigest()
DOWNLOAD_URL = "https://storage.example/bucket/model.bin"


def _download(blob: str, sha: str = SHA) -> Cassette:
    body = Digest(sha, len(CONTENT), blob)
    return Cassette([Interaction("GET", DOWNLOAD_URL, response_body=body)], {"format": cs.FORMAT})


def _with_blob_text(blob: str, sha: str = SHA) -> str:
    text = cs.dumps(_download(f"_blobs/{sha[:2]}/{sha}", sha))
    return text.replace(f"_blobs/{sha[:2]}/{sha}", blob)


@pytest.mark.parametrize(
    "blob",
    [
        "../../../../tmp/x",
        "/etc/passwd",
        f"_blobs/{SHA[:2]}/{'0' * 64}",  # another body's address
        f"_blobs/{SHA}",
        f"_blobs/{SHA[:2]}/../../../{SHA}",
        f"_blobs/{SHA[:2]}/{SHA}/../{SHA}",
        f"x/../_blobs/{SHA[:2]}/{SHA}",
        f"_blobs\\{SHA[:2]}\\{SHA}",
        f"~/_blobs/{SHA[:2]}/{SHA}",
    ],
)
def test_a_blob_reference_that_is_not_a_content_address_makes_the_cassette_unusable(blob):
    error = _unusable(_with_blob_text(blob))
    assert "interaction 0: response body: a blob reference is the body's content address" in str(
        error
    )


def _blob_folder(tmp_path: Path, content: bytes = CONTENT) -> tuple[Path, Path]:
    """A cassette folder with a cassette one level down and its blob: (cassette, blob)."""
    root = tmp_path / "cassettes"
    blob = root / cs.BLOB_DIR / SHA[:2] / SHA
    blob.parent.mkdir(parents=True)
    blob.write_bytes(content)
    path = cs.save(_download(f"../_blobs/{SHA[:2]}/{SHA}"), root / "test_mod" / "test_x.yaml")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    return path, blob


def test_a_verified_blob_inside_the_folder_audits_clean(tmp_path):
    path, _ = _blob_folder(tmp_path)
    assert audit_file(path).error is None


def test_a_content_address_above_the_cassette_folder_is_refused(tmp_path):
    """The right form, climbing out of the folder: refused before anything is read."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    outside = tmp_path / cs.BLOB_DIR / SHA[:2] / SHA  # beside, not under, cassettes/
    outside.parent.mkdir(parents=True)
    outside.write_bytes(CONTENT)
    path = cs.save(_download(f"../_blobs/{SHA[:2]}/{SHA}"), tmp_path / "cassettes" / "c.yaml")
    audited = audit_file(path)
    assert audited.error is not None and "is not the download's content address" in str(
        audited.error
    )


def test_a_blob_that_is_a_link_out_of_the_folder_is_refused(tmp_path):
    path, blob = _blob_folder(tmp_path)
    elsewhere = tmp_path / "elsewhere.bin"
    elsewhere.write_bytes(CONTENT)
    blob.unlink()
    blob.symlink_to(elsewhere)
    audited = audit_file(path)
    assert audited.error is not None and "leads out of" in str(audited.error)


def test_a_blob_folder_that_is_a_link_out_of_the_cassette_folder_is_refused(tmp_path):
    """Git carries a link to a folder: ``cassettes/_blobs`` pointing anywhere."""
    path, blob = _blob_folder(tmp_path)
    store = blob.parent.parent
    moved = tmp_path / "elsewhere"
    store.rename(moved)
    store.symlink_to(moved, target_is_directory=True)
    audited = audit_file(path)
    assert audited.error is not None and "the blob folder" in str(audited.error)
    assert "leads out of" in str(audited.error)


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_blob_that_is_no_regular_file_is_refused_at_once(tmp_path, kind):
    """A FIFO in its place made replay and the audit wait for a writer, for ever."""
    path, blob = _blob_folder(tmp_path)
    blob.unlink()
    if kind == "fifo":
        os.mkfifo(blob)
    else:
        blob.mkdir()
    # Returns (a hang would time the test out).
    with _refused_blob(path, "is not a regular file"):
        pass


@contextlib.contextmanager
def _refused_blob(path: Path, said: str) -> Iterator[str]:
    """The audit refuses the cassette's blob (exit 2), and so does replay (404, never the
    bytes): yields the URL replay serves it at, the relay still running."""
    audited = audit_file(path)
    assert audited.error is not None and said in str(audited.error)
    assert cli(["audit", str(path)]) == 2
    with Relay(UP) as relay:
        replay = relay.replay(cs.load(path))
        replay.blob_root = path.parent.parent
        ext = relay.url + "/_ext/https/storage.example/bucket/model.bin"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(ext, timeout=10)
        assert refused.value.code == 404
        assert b"attacker" not in refused.value.read()
        assert said in str(replay.errors[0])
        yield ext


def test_a_blob_holding_other_bytes_is_unusable_in_the_audit_and_never_served(tmp_path):
    path, blob = _blob_folder(tmp_path)
    blob.write_bytes(b"the attacker's bytes")
    with _refused_blob(path, "does not hold the recorded download") as ext:
        blob.write_bytes(CONTENT)  # the recorded bytes: served
        with urllib.request.urlopen(ext, timeout=10) as answer:
            assert answer.read() == CONTENT


def test_replay_and_audit_refuse_the_issues_blob_outside(tmp_path):
    """The issue's case: ``blob: ../../../../tmp/x`` served that file, and audited clean."""
    secret = tmp_path / "x"
    secret.write_bytes(b"not the cassette's")
    project, path = _replay_project(tmp_path / "p", _with_blob_text(os.path.relpath(secret)))
    result = run_pytest(project, "-p", "no:warnings")
    out = output(result)
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, out
    assert f"wandb cassette unusable: {path}" in out and "content address" in out
    assert cli(["audit", str(path)]) == 2


# -- 4. the relay serves only its own session ------------------------------------------------

_FOREIGN = textwrap.dedent(
    """
    import json, sys, urllib.error, urllib.request
    codes = []
    for url in sys.argv[1:]:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, b"{}"), timeout=10) as r:
                codes.append(r.status)
        except urllib.error.HTTPError as e:
            codes.append(e.code)
    print(json.dumps(codes))
    """
)


def test_a_foreign_local_process_is_refused_and_nothing_it_sent_is_recorded():
    with StandinBackend() as upstream, Relay(upstream.base_url) as relay:
        recording = relay.record(Cassette(metadata={"upstream": upstream.base_url}))
        port = relay._server.port
        host = upstream.storage_url.split("://", 1)[1]
        urls = [
            f"http://127.0.0.1:{port}/graphql",  # the port alone, as /proc/net/tcp shows it
            f"http://127.0.0.1:{port}/_ext/http/{host}/bucket/x",
            f"http://127.0.0.1:{port}/_ext/http/example.com/steal",
            f"http://127.0.0.1:{port}/not-the-secret/graphql",
            f"http://127.0.0.1:{port}{relay.prefix}x/graphql",  # the secret, one more char
            # With the secret (a process of the session): /_ext/ to hosts the upstream
            # never handed out in this recording.
            f"{relay.url}/_ext/http/{host}/bucket/x",
            f"{relay.url}/_ext/https/example.com/steal",
        ]
        done = subprocess.run(
            [sys.executable, "-c", _FOREIGN, *urls], capture_output=True, text=True, timeout=60
        )
        assert json.loads(done.stdout) == [403] * len(urls), done.stdout + done.stderr
        assert recording.cassette.interactions == []
        assert upstream.requests == []
        assert len(relay.refused) == len(urls)
        assert relay.prefix[1:] not in " ".join(relay.refused)
        # The session itself gets through.
        key = base64.b64encode(f"api:{upstream.api_key}".encode()).decode()
        viewer = b'{"query": "query Viewer { viewer { id } }"}'
        status, _, _ = _post(relay.url + "/graphql", viewer, {"Authorization": f"Basic {key}"})
        assert status == 200 and len(recording.cassette.interactions) == 1


def test_each_relay_has_its_own_secret_in_the_url_it_hands_the_sdk():
    with Relay(UP) as one, Relay(UP) as two:
        assert one.url.startswith(f"http://127.0.0.1:{one._server.port}/")
        secrets = {one.url.rsplit("/", 1)[1], two.url.rsplit("/", 1)[1]}
        assert len(secrets) == 2 and all(len(s) >= 32 for s in secrets)


# -- 5. keys go only where the user sent them ------------------------------------------------


def _journal(folder: Path, upstream: str, *entries: dict[str, Any], pid: int = 4242) -> Path:
    """A journal of a dead session on another host (swept with ``--host otherhost``)."""
    path = folder / ".wandb_cassettes" / "journal" / f"otherhost-{pid}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"journal": 2, "pid": pid, "host": "otherhost", "upstream": upstream}
    path.write_text("".join(line + "\n" for line in journal_lines([header, *entries])))
    return path


def _run_entry(name: str, server_id: str = "", event: str = "created") -> dict[str, Any]:
    entity, project, local = name.split("/")
    owned = {"kind": "run", "entity": entity, "project": project, "local": local, "name": name}
    if server_id:
        owned["server_id"] = server_id
    return {"event": event, "test": "t", "owned": owned}


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every connection the sweep tries (none may go anywhere in these tests), refused."""
    tried: list[Any] = []

    def refuse(address: Any, *args: Any, **kwargs: Any) -> Any:
        tried.append(address)
        raise OSError("no network in this test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    return tried


@pytest.mark.parametrize(
    "upstream",
    [
        "http://evil.example",
        "http://10.1.2.3:8080",
        "http://127.0.0.1.evil.example",
        "ftp://x",
        "http://",
    ],
)
def test_sweep_refuses_a_journal_naming_an_upstream_no_key_may_go_to(
    tmp_path, monkeypatch, capsys, no_network, upstream
):
    journal = _journal(tmp_path, upstream, _run_entry("e/p/r", server_id="UnVuOjE="))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    code = cli(["sweep", "--host", "otherhost", "--upstream", "https://api.wandb.ai"])
    out = capsys.readouterr().out
    assert code == 2, out
    assert "REFUSED" in out and journal.exists()
    assert no_network == []  # nothing was even tried: the key went nowhere


def test_sweep_refuses_a_plain_http_upstream_the_user_names(
    tmp_path, monkeypatch, capsys, no_network
):
    _journal(tmp_path, "http://evil.example", _run_entry("e/p/r", server_id="UnVuOjE="))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    assert cli(["sweep", "--host", "otherhost", "--upstream", "http://evil.example"]) == 2
    assert "refusing plain-http upstream" in capsys.readouterr().err
    assert no_network == []


def test_sweep_deletes_nothing_on_an_upstream_a_journal_names_alone(
    tmp_path, monkeypatch, capsys, no_network
):
    journal = _journal(tmp_path, "https://wandb.evil.example", _run_entry("e/p/r", "UnVuOjE="))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    monkeypatch.setenv("WANDB_CASSETTES_UPSTREAM", "https://api.wandb.ai")  # what the user uses
    code = cli(["sweep", "--host", "otherhost"])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "NOT SWEPT" in out and "--upstream https://wandb.evil.example" in out
    assert journal.exists() and no_network == []


def test_sweep_deletes_on_a_named_upstream_by_identity_and_reports_entries_by_path_alone(
    standin_sdk, tmp_path, monkeypatch, capsys
):
    import wandb

    runs = {}
    for name in ("swept", "teammates"):
        with wandb.init(project="proj", id=name) as run:
            entity = run.entity
        runs[name] = wandb.Api().run(f"{entity}/proj/{name}").storage_id
    journal = _journal(
        tmp_path,
        standin_sdk.base_url,
        _run_entry(f"{entity}/proj/swept", server_id=runs["swept"]),
        # An edited line: a teammate's run by its path alone, as if the session intended it.
        _run_entry(f"{entity}/proj/teammates", event="intended"),
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_CASSETTES_UPSTREAM", "https://api.wandb.ai")  # not the stand-in
    capsys.readouterr()
    assert cli(["sweep", "--host", "otherhost"]) == 1  # not named: nothing done
    assert sorted(r["name"] for r in standin_sdk.live()["runs"]) == ["swept", "teammates"]
    assert cli(["sweep", "--host", "otherhost", "--upstream", standin_sdk.base_url]) == 1
    out = capsys.readouterr().out
    assert f"deleted  run {entity}/proj/swept" in out, out
    assert f"KEPT     run {entity}/proj/teammates" in out and "path alone" in out
    assert [r["name"] for r in standin_sdk.live()["runs"]] == ["teammates"]
    assert journal.exists()  # what it names by path stays listed


def test_a_collection_is_swept_only_through_a_version_the_journal_names_by_id(tmp_path, no_network):
    from wandb_cassettes import cleanup

    collection = {"kind": "collection", "entity": "e", "project": "p", "local": "theirs"}
    entry = {"event": "created", "test": "t", "owned": {**collection, "name": "e/p/theirs"}}
    path = _journal(tmp_path, "https://api.wandb.ai", entry)
    (journal,) = cleanup.journals(path.parent)
    result = cleanup.sweep([journal], upstreams=["https://api.wandb.ai"])
    assert result.unidentified and "collection e/p/theirs" in result.unidentified[0]
    assert result.deleted == [] and path.exists() and no_network == []


JOURNALS: dict[str, str] = {
    "deeper_than_python_recurses": '{"event": "created", "owned": ' + "[" * 5000 + "]" * 5000 + "}",
    "deeper_than_the_limit": '{"event": "created", "owned": ' + "[" * 40 + "]" * 40 + "}",
    "wrong_types": json.dumps({"event": "created", "owned": {"kind": 1, "name": ["x"]}}),
    "unknown_event": json.dumps({"event": "delete-everything", "test": "t"}),
    "not_json_mid_file": "{{{ not json",
    "a_list": "[1, 2, 3]",
    "huge_string": json.dumps({"event": "keep", "test": "t", "patterns": ["x" * (2 << 20)]}),
}


@pytest.mark.parametrize("name", JOURNALS)
def test_an_unusable_journal_is_named_with_its_line_and_never_swept(
    tmp_path, monkeypatch, capsys, no_network, name
):
    path = _journal(tmp_path, "https://api.wandb.ai", _run_entry("e/p/r", "UnVuOjE="))
    with path.open("a") as fh:
        fh.write(JOURNALS[name] + "\n")
        fh.write(json.dumps(_run_entry("e/p/r2", "UnVuOjI=")) + "\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    started = time.monotonic()
    code = cli(["sweep", "--host", "otherhost", "--upstream", "https://api.wandb.ai"])
    out = capsys.readouterr().out
    assert code == 2, out
    assert f"UNUSABLE journal unusable: {path}:3: " in out, out
    assert time.monotonic() - started < 10 and path.exists() and no_network == []


def _forged_restore() -> dict[str, Any]:
    """What the trial appended: a restore aimed at a teammate's version no session touched."""
    inp = {"artifactID": "QXJ0aWZhY3Q6OQ==", "description": "PWNED"}
    restore = {"name": "e/p/teamdata:v0", "change": "x", "field": "updateArtifact"}
    return {"event": "restore", "test": "t", "restore": {**restore, "variables": {"input": inp}}}


@pytest.mark.parametrize(
    "how", ["unsigned", "edited after signing", "signed elsewhere", "a line taken out", "moved"]
)
def test_a_forged_journal_line_is_never_acted_on(tmp_path, monkeypatch, capsys, no_network, how):
    """A journal sits in the working folder: a line this user's sessions did not write (a
    pull request's, another machine's, one edited), or a journal with a line taken out
    (a keep pattern: what it kept would be deleted) or moved, is unusable."""
    keep = {"event": "keep", "test": "t", "patterns": ["e/p/kept*"]}
    entries = [_run_entry("e/p/r", "UnVuOjE="), keep, _run_entry("e/p/kept", "UnVuOjI=")]
    path = _journal(tmp_path, "https://api.wandb.ai", *entries)
    lines = path.read_text().splitlines()
    forged = _forged_restore()
    if how == "unsigned":
        lines.append(json.dumps(forged))
    elif how == "edited after signing":
        header = {k: v for k, v in json.loads(lines[0]).items() if k != "mac"}
        signed = journal_lines([header, *entries, forged])
        assert signed[:-1] == lines  # the chain as the session wrote it: only the edit breaks it
        lines.append(signed[-1].replace("PWNED", "PWNED-too"))
    elif how == "signed elsewhere":
        lines.append(json.dumps({**forged, "mac": "0" * 64}))
    elif how == "a line taken out":
        del lines[2]  # the keep pattern
    else:
        lines[1], lines[2] = lines[2], lines[1]
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    code = cli(["sweep", "--host", "otherhost", "--upstream", "https://api.wandb.ai"])
    out = capsys.readouterr().out
    assert code == 2, out
    assert f"UNUSABLE journal unusable: {path}:" in out and "not signed" in out, out
    assert no_network == [] and path.exists()


def test_a_torn_last_journal_line_is_still_forgiven(tmp_path):
    from wandb_cassettes import cleanup

    path = _journal(tmp_path, "https://api.wandb.ai", _run_entry("e/p/r", "UnVuOjE="))
    with path.open("a") as fh:
        fh.write('{"event": "created", "owned": {"kind": "r')  # the writer was killed here
    assert [left.name for left in cleanup.read(path).leftovers] == ["e/p/r"]


# -- 6. merge-conflict markers --------------------------------------------------------------


def _conflicted(text: str, at: str) -> tuple[str, int]:
    """``text`` with a git conflict around the line holding ``at``: (text, marker line)."""
    lines = text.split("\n")
    i = next(n for n, line in enumerate(lines) if at in line)
    ours, theirs = lines[i], lines[i].replace("CreatedArtifact", "CreatedArtifactV2")
    lines[i : i + 1] = ["<<<<<<< HEAD", ours, "=======", theirs, ">>>>>>> feature"]
    return "\n".join(lines), i + 1


@pytest.mark.parametrize(
    "at",
    ["$input) {\\n\\t\\t... CreatedArtifact", "    method: POST", "  format: wandb-cassettes/1"],
)
def test_a_merge_conflict_is_named_as_such_with_its_line(tmp_path, capsys, at):
    text, line = _conflicted(
        VALID.replace("metadata:\n", "metadata:\n  format: wandb-cassettes/1\n"), at
    )
    error = _unusable(text)
    assert error.line == line and "merge-conflict marker (<<<<<<<)" in str(error)
    path = tmp_path / "c.yaml"
    path.write_text(text)
    capsys.readouterr()
    assert cli(["audit", str(path)]) == 2
    assert f"{path}:{line}: a merge-conflict marker" in capsys.readouterr().out


def test_a_conflict_with_only_the_separator_left_is_named_too():
    lines = VALID.split("\n")
    lines.insert(20, "=======")
    error = _unusable("\n".join(lines))
    assert error.line == 21 and "merge-conflict marker (=======)" in str(error)


# -- 7. a folder with no cassette -----------------------------------------------------------


def test_the_audit_of_a_folder_with_only_failed_recordings_exits_2_naming_them(tmp_path, capsys):
    folder = tmp_path / "cassettes"
    (folder / "test_mod").mkdir(parents=True)
    cs.save(clean_flow(), folder / "test_mod" / "test_x.yaml.failed")
    assert cli(["audit", str(folder)]) == 2
    out = capsys.readouterr().out
    assert (
        f"{folder}: no cassette here, only failed recordings (test_mod/test_x.yaml.failed)" in out
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli(["audit", str(empty)]) == 2
    assert f"{empty}: no cassette here" in capsys.readouterr().out


def test_the_audit_of_a_folder_with_a_cassette_beside_failed_ones_is_not_refused(tmp_path):
    folder = tmp_path / "cassettes"
    folder.mkdir()
    cs.save(clean_flow(), folder / "a.yaml.failed")
    cs.save(clean_flow(), folder / "b.yaml")
    assert cli(["audit", str(folder)]) == 0


# -- fuzz: hostile YAML, bounded, only the library's own errors -------------------------------

#: Per example: a loader that is bounded takes well under these on any of these inputs.
FUZZ_SECONDS = 10
FUZZ_PEAK_BYTES = 150 * 1024 * 1024


def _aliases(draw: st.DrawFn) -> str:
    levels, width = draw(st.integers(1, 14)), draw(st.integers(1, 16))
    return _bomb(levels, width)


def _nesting(draw: st.DrawFn) -> str:
    depth = draw(st.integers(1, 400))
    opener, closer = draw(st.sampled_from([("[", "]"), ("{a: ", "}"), ("[{x: ", "}]")]))
    return f"    deep: {opener * depth}x{closer * depth}\n"


def _scalar(draw: st.DrawFn) -> str:
    size = draw(st.sampled_from([10, 4096, 1 << 20, 17 << 20]))
    quoted = draw(st.booleans())
    return f"    big: {json.dumps('y' * size) if quoted else 'y' * size}\n"


def _paths(draw: st.DrawFn) -> str:
    blob = draw(
        st.sampled_from(["../" * 8 + "etc/passwd", "/etc/shadow", "_blobs/../../x", "~/.netrc"])
        | st.text(max_size=40)
    )
    return f"    path: {json.dumps(blob)}\n"


def _wrong_type(draw: st.DrawFn) -> str:
    tree = yaml.safe_load(VALID)
    interaction = draw(st.integers(0, len(tree["interactions"]) - 1))
    side = draw(st.sampled_from(["request", "response"]))
    key = draw(st.sampled_from(["method", "uri", "body", "headers", "status", "blob"]))
    value = draw(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats()
        | st.text(max_size=10)
        | st.lists(st.integers(), max_size=3)
        | st.dictionaries(st.text(max_size=5), st.integers(), max_size=3)
    )
    tree["interactions"][interaction][side][key] = value
    return yaml.safe_dump(tree, sort_keys=False)


@st.composite
def hostile_cassettes(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["aliases", "nesting", "scalar", "paths", "wrong_type", "mixed"]))
    if kind == "wrong_type":
        return _wrong_type(draw)
    parts = {"aliases": _aliases, "nesting": _nesting, "scalar": _scalar, "paths": _paths}
    chosen = list(parts.values()) if kind == "mixed" else [parts[kind]]
    extra = "".join(part(draw) for part in chosen)
    where = draw(st.sampled_from(["metadata", "headers", "top"]))
    if where == "metadata":
        return _in_metadata(extra)
    if where == "headers":  # the first request's headers, one level deeper
        nested = textwrap.indent(extra, "    ")
        return VALID.replace("    headers:\n", "    headers:\n      X-H:\n" + nested, 1)
    return VALID + "extra:\n" + extra


def _bounded(call: Callable[[], Any]) -> Any:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < FUZZ_SECONDS
    assert peak < FUZZ_PEAK_BYTES, peak
    return result


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=hostile_cassettes())
def test_fuzz_hostile_yaml_loads_and_audits_bounded_with_only_the_librarys_errors(fuzz_dir, text):
    path = fuzz_dir / "fuzz.yaml"
    try:
        _bounded(lambda: cs.loads(text, "fuzz.yaml"))
    except CassetteError as exc:
        assert str(exc).startswith("fuzz.yaml")
    path.write_text(text)
    try:
        audited = _bounded(lambda: audit_file(path))
    finally:
        path.unlink(missing_ok=True)
    assert audited.error is None or str(audited.error).startswith(str(path))
