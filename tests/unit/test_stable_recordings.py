"""Stable recordings (issue 23): re-recording an unchanged test writes the same cassette.

What belongs to the recording session (the stand-in's ports, dates, the SDK's
durations, Go's map order, how wandb-core batched file_stream rows and how
often it updated the run, the order of concurrent requests) is taken out when a
recording is saved, and what the session was goes to one metadata line; run
ids come from the seed the replaced cassette stored. ``wandb-cassettes diff``
then shows a reviewer only what the server answered differently.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import re

from support.cassette_builders import (
    BASE,
    create_run_files,
    delete_run,
    file_stream,
    gql_exchange,
    run_query,
    run_storage_id,
    upsert_bucket,
)

from wandb_cassettes import store as cs
from wandb_cassettes.cli import main as cli
from wandb_cassettes.diff import diff
from wandb_cassettes.ownership import FRESH_RUN_IDS_KEY
from wandb_cassettes.record import CLEANUP_KEY, RECORDING_KEY, Session, stable_form
from wandb_cassettes.store import Cassette, Digest, Interaction

E, P, RUN = "team", "proj", "abcd1234"
NOW = datetime.datetime(2026, 12, 4, 19, 22, 30, tzinfo=datetime.UTC)
LOCAL = "http://127.0.0.1:35327"
STORAGE = "http://127.0.0.1:44587"
SESSION = Session(
    upstream=LOCAL,
    relay="http://127.0.0.1:41001",
    started=NOW,
    ended=NOW + datetime.timedelta(seconds=5),
    workdir="/tmp/wandb-cassettes-k3j_x9ab",
)


def local(ix: Interaction) -> Interaction:
    """``ix`` as recorded against a stand-in on ``LOCAL`` (its storage on ``STORAGE``)."""
    ix.uri = ix.uri.replace(BASE, LOCAL)
    return ix


def recorded(*interactions: Interaction, **meta: object) -> Cassette:
    metadata = {
        "upstream": LOCAL,
        "recorded_at": NOW.isoformat(timespec="seconds"),
        FRESH_RUN_IDS_KEY: [RUN],
        **meta,
    }
    return Cassette([local(ix) for ix in interactions], metadata)


def update(telemetry: int) -> Interaction:
    """wandb-core's update of the run: the telemetry in config._wandb, whenever it likes."""
    ix = upsert_bucket(E, P, RUN, inserted=False)
    body = json.loads(str(ix.request_body))
    body["variables"]["config"] = json.dumps({"_wandb": {"value": {"t": {"3": [telemetry]}}}})
    ix.request_body = json.dumps(body)
    return ix


def post(rows: list[dict[str, object]], offset: int, **fields: object) -> Interaction:
    ix = file_stream(E, P, RUN)
    content = [json.dumps(r) for r in rows]
    ix.request_body = json.dumps(
        {"files": {"wandb-history.jsonl": {"offset": offset, "content": content}}, **fields}
    )
    return ix


# -- the parts ------------------------------------------------------------------------


def test_ports_move_to_the_recording_line_and_the_interactions_name_stable_origins():
    url = f"{STORAGE}/bucket/runs/{E}/{P}/{RUN}/config.yaml?X-Goog-Signature=REDACTED"
    files = create_run_files(E, P, RUN, ["config.yaml"])
    files.response_body = str(files.response_body).replace(
        "https://storage.googleapis.com/wandb-production.appspot.com", STORAGE + "/bucket"
    )
    put = Interaction("PUT", url, request_body=Digest.of(b"x"), response_body="")
    stable = stable_form(recorded(upsert_bucket(E, P, RUN), files, put), SESSION)
    assert stable.metadata["upstream"] == "http://upstream.invalid"
    assert [ix.uri.split("?")[0] for ix in stable] == [
        "http://upstream.invalid/graphql",
        "http://upstream.invalid/graphql",
        f"http://loopback-1.invalid/bucket/runs/{E}/{P}/{RUN}/config.yaml",
    ]
    assert "loopback-1.invalid/bucket" in str(stable.interactions[1].response_body)
    line = stable.metadata[RECORDING_KEY]
    assert line == (
        f"2026-12-04T19:22:30+00:00;upstream.invalid={LOCAL};loopback-1.invalid={STORAGE}"
    )
    assert "recorded_at" not in stable.metadata
    assert "\n  recording: " in cs.dumps(stable)  # one line, whatever its length


def test_a_loopback_origin_is_named_whatever_its_spelling():
    """A server the code names ``HTTP://LOCALHOST:18090`` (scheme and host are
    case-insensitive), on another address of 127.0.0.0/8, or on IPv6 ``::1`` written in
    full: each is one loopback origin, named, and its port leaves the interactions."""
    spellings = [
        "HTTP://LOCALHOST:18090",
        "http://localhost:18090",
        "http://127.0.0.2:18091",
        "http://[0:0:0:0:0:0:0:1]:18092",
    ]
    body = json.dumps({"query": "query Viewer { viewer { id } }"})
    exchanges = [
        Interaction("POST", f"{s}/graphql", request_body=body, response_body="{}")
        for s in spellings
    ]
    stable = stable_form(recorded(*exchanges), SESSION)
    uris = [ix.uri for ix in stable]
    assert uris == [
        "http://loopback-1.invalid/graphql",
        "http://loopback-1.invalid/graphql",
        "http://loopback-2.invalid/graphql",
        "http://loopback-3.invalid/graphql",
    ]
    line = stable.metadata[RECORDING_KEY]
    assert "loopback-3.invalid=http://[0:0:0:0:0:0:0:1]:18092" in line


def test_dates_and_durations_of_the_session_read_the_same_every_time():
    answer = {
        "data": {"run": {"createdAt": "2026-12-04T19:22:31.123456Z", "old": "2024-01-01T00:00:00Z"}}
    }
    query = gql_exchange("Run", "query Run { run { createdAt } }", {}, answer["data"])
    query.response_headers["Date"] = ["Fri, 04 Dec 2026 19:22:31 GMT"]
    row: dict[str, object] = {
        "loss": 0.5,
        "_runtime": 0.0123,
        "_timestamp": NOW.timestamp() + 1.5,
        "_step": 0,
    }
    summary = {"_wandb": {"runtime": 3}, "_runtime": 3.2}
    fs = post([row], 0)
    body = json.loads(str(fs.request_body))
    body["files"]["wandb-summary.json"] = {"offset": 0, "content": [json.dumps(summary)]}
    fs.request_body = json.dumps(body)
    stable = stable_form(recorded(upsert_bucket(E, P, RUN), query, fs), SESSION)
    text = cs.dumps(stable)
    assert "2000-01-01T00:00:00.000000Z" in text and "2024-01-01T00:00:00Z" in text
    assert "Sat, 01 Jan 2000 00:00:00 GMT" in text
    assert "2026-12-04" not in text.split("\nmetadata:")[0]
    (fs_stable,) = [ix for ix in stable if ix.uri.endswith("/file_stream")]
    sent = json.loads(str(fs_stable.request_body))
    history = json.loads(sent["files"]["wandb-history.jsonl"]["content"][0])
    assert history == {"_runtime": 0, "_step": 0, "_timestamp": 946684800, "loss": 0.5}
    assert json.loads(sent["files"]["wandb-summary.json"]["content"][0]) == {
        "_runtime": 0,
        "_wandb": {"runtime": 0},
    }


def test_a_date_the_test_sent_stays_even_one_of_today_and_so_does_its_echo():
    today = "2026-12-04T10:00:00Z"  # in the test's config, recorded that very day
    sent = _upsert(0.1)
    body = json.loads(str(sent.request_body))
    body["variables"]["config"] = json.dumps({"release": {"value": today}})
    sent.request_body = json.dumps(body)
    echo = run_query(E, P, RUN)
    answer = json.loads(str(echo.response_body))
    answer["data"]["project"]["run"]["config"] = json.dumps({"release": {"value": today}})
    answer["data"]["project"]["run"]["createdAt"] = "2026-12-04T19:22:31Z"
    echo.response_body = json.dumps(answer)
    text = cs.dumps(stable_form(recorded(sent, echo), SESSION)).split("\nmetadata:")[0]
    assert text.count(today) == 2  # sent and echoed: the test's value
    assert "2026-12-04T19:22:31Z" not in text  # the server's stamp of the session


def test_go_map_order_and_variable_lists_are_sorted_and_echoes_follow():
    def files_in(order: list[str]) -> Cassette:
        ix = create_run_files(E, P, RUN, order)
        return stable_form(recorded(upsert_bucket(E, P, RUN), ix), SESSION)

    one, two = (
        files_in(["wandb-summary.json", "config.yaml"]),
        files_in(["config.yaml", "wandb-summary.json"]),
    )
    assert cs.dumps(one).split("\nmetadata:")[0] == cs.dumps(two).split("\nmetadata:")[0]
    sent = json.loads(str(one.interactions[1].request_body))
    assert sent["variables"]["files"] == ["config.yaml", "wandb-summary.json"]
    answered = json.loads(str(one.interactions[1].response_body))
    names = [f["name"] for f in answered["data"]["createRunFiles"]["files"]]
    assert names == ["config.yaml", "wandb-summary.json"]


def test_what_timing_decides_is_merged_after_the_runs_create_and_the_rest_keeps_its_order():
    create = upsert_bucket(E, P, RUN)
    body = json.loads(str(create.request_body))
    body["variables"]["entity"] = None  # wandb-core's create names no entity; updates do
    create.request_body = json.dumps(body)
    posts = [
        post([{"a": 1}], 0),
        post([{"a": 2}], 1, uploaded=["b.txt"]),
        post([], 2, complete=True, exitcode=0),
    ]
    interactions = [
        create,
        posts[0],
        update(1),
        run_query(E, P, RUN),
        posts[1],
        update(2),  # the same request as update(1) once config._wandb is left out
        posts[2],
        delete_run(run_storage_id(E, P, RUN)),
    ]
    timings = [(float(i), i + 0.5) for i in range(len(interactions))]
    cassette = recorded(*interactions, **{CLEANUP_KEY: [7]})
    stable = stable_form(cassette, SESSION, timings=timings)
    ops = [_op(ix) for ix in stable]
    assert ops == ["UpsertBucket", "file_stream", "UpsertBucket", "Run", "DeleteRun"]
    assert stable.metadata[CLEANUP_KEY] == [4]
    merged = json.loads(str(stable.interactions[1].request_body))
    assert merged["files"]["wandb-history.jsonl"] == {
        "offset": 0,
        "content": ['{"a":1}', '{"a":2}'],
    }
    assert merged["complete"] is True and merged["uploaded"] == ["b.txt"]
    kept_update = json.loads(str(stable.interactions[2].request_body))
    assert json.loads(kept_update["variables"]["config"])["_wandb"]["value"]["t"] == {"3": [2]}


def test_posts_of_two_writers_of_a_shared_run_are_all_kept():
    """W&B's shared mode: two processes write one run, each counting its own offsets.
    Merged by offset, one writer's rows hid the other's (the trial's worker rows were gone
    from the cassette); the posts stay as they were sent."""
    posts = [post([{"main": 0}], 0), post([{"worker": 0}, {"worker": 1}], 0), post([], 1)]
    cassette = recorded(upsert_bucket(E, P, RUN), *posts)
    timings = [(float(i), i + 0.5) for i in range(len(cassette.interactions))]
    stable = stable_form(cassette, SESSION, timings=timings)
    sent = [str(ix.request_body) for ix in stable if _op(ix) == "file_stream"]
    assert len(sent) == 3
    assert any("main" in b for b in sent) and any("worker" in b for b in sent)


def test_a_request_recorded_with_an_error_keeps_its_recordings_in_their_order():
    failed = post([{"a": 1}], 0)
    failed.status, failed.response_body = 500, "busy"
    interactions = [upsert_bucket(E, P, RUN), run_query(E, P, RUN), failed, post([{"a": 1}], 0)]
    timings = [(float(i), i + 0.5) for i in range(len(interactions))]
    stable = stable_form(recorded(*interactions), SESSION, timings=timings)
    # wandb-core's retry after the 500: replay serves the error, then the success.
    assert [(_op(ix), ix.status) for ix in stable][2:] == [
        ("file_stream", 500),
        ("file_stream", 200),
    ]


def test_exchanges_in_flight_together_are_sorted_and_the_others_keep_their_order():
    a = Interaction("PUT", f"{STORAGE}/b/wandb-summary.json", request_body=Digest.of(b"1"))
    b = Interaction("PUT", f"{STORAGE}/b/config.yaml", request_body=Digest.of(b"2"))
    c = Interaction("PUT", f"{STORAGE}/b/a-later.txt", request_body=Digest.of(b"3"))
    # a and b overlap (concurrent uploads); c began after both ended.
    stable = stable_form(recorded(a, b, c), SESSION, timings=[(0, 2), (1, 3), (4, 5)])
    assert [ix.uri.rsplit("/", 1)[1] for ix in stable] == [
        "config.yaml",
        "wandb-summary.json",
        "a-later.txt",
    ]


def test_a_json_upload_is_kept_as_the_digest_of_its_stable_form_and_its_mentions_follow():
    content = json.dumps({"_runtime": 1.25, "_timestamp": NOW.timestamp(), "loss": 1}).encode()
    md5 = base64.b64encode(hashlib.md5(content).digest()).decode()
    put = Interaction(
        "PUT",
        f"{STORAGE}/b/wandb-summary.json",
        request_headers={"Content-Md5": [md5]},
        request_body=Digest.of(content),
        response_headers={"ETag": [f'"{hashlib.md5(content).hexdigest()}"']},
    )
    download = Interaction(
        "GET", f"{STORAGE}/b/wandb-summary.json", response_body=Digest.of(content)
    )
    stable = stable_form(recorded(put, download), SESSION, uploads={0: content})
    expected = b'{"_runtime":0,"_timestamp":946684800,"loss":1}'
    assert stable.interactions[0].request_body == Digest.of(expected)
    assert stable.interactions[1].response_body == Digest.of(expected)  # served from the upload
    assert stable.interactions[0].request_headers["Content-Md5"] == [
        base64.b64encode(hashlib.md5(expected).digest()).decode()
    ]
    assert stable.interactions[0].response_headers["ETag"] == [
        f'"{hashlib.md5(expected).hexdigest()}"'
    ]


def _op(ix: Interaction) -> str:
    if ix.uri.endswith("/file_stream"):
        return "file_stream"
    return str(json.loads(str(ix.request_body)).get("operationName", ""))


# -- diff --------------------------------------------------------------------------------


def _upsert(lr: float) -> Interaction:
    ix = upsert_bucket(E, P, RUN)
    body = json.loads(str(ix.request_body))
    body["variables"]["config"] = json.dumps({"lr": {"value": lr}})
    ix.request_body = json.dumps(body)
    return ix


def test_diff_names_what_changed_in_wandb_terms(tmp_path, capsys):
    old = recorded(_upsert(0.1), run_query(E, P, RUN), delete_run(run_storage_id(E, P, RUN)))
    new = recorded(_upsert(0.2), run_query(E, "other", RUN), create_run_files(E, P, RUN, ["a"]))
    found = diff(old, new)
    text = found.render("old.yaml", "new.yaml")
    assert "~ #0 -> #0 GraphQL UpsertBucket" in text
    assert "    sent config.lr: 0.1 -> 0.2" in text
    assert '    sent project: "proj" -> "other"' in text
    assert re.search(r"^- #2 GraphQL DeleteRun \{", text, re.M)
    assert re.search(r"^\+ #2 GraphQL CreateRunFiles \{", text, re.M)
    assert text.endswith("1 added, 1 removed, 2 changed, 0 unchanged")
    assert not found.same
    for name, cassette in (("old.yaml", old), ("new.yaml", new)):
        cs.save(cassette, tmp_path / name)
    assert cli(["diff", str(tmp_path / "old.yaml"), str(tmp_path / "old.yaml")]) == 0
    assert cli(["diff", str(tmp_path / "old.yaml"), str(tmp_path / "new.yaml")]) == 1
    (tmp_path / "bad.yaml").write_text("version: 2\ninteractions: []\n")
    assert cli(["diff", str(tmp_path / "old.yaml"), str(tmp_path / "bad.yaml")]) == 2
    assert "bad.yaml" in capsys.readouterr().err
