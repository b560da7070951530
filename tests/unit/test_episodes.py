"""``new_episodes`` against a stateful server (``record/_episodes.py``): the ids the SDK drew
from the cassette's seed reach the upstream as fresh ones, and come back as they were."""

from __future__ import annotations

import base64
import json
import re

from wandb_cassettes.ownership import Owned
from wandb_cassettes.record import IdTranslation

RUN = "a1b2c3d4"  # drawn from the cassette's seed: the upstream deleted it when recording
OTHER = "zzzz9999"  # a run the SDK did not draw (a teammate's)
CLIENT_ID = "k3j4h5g6f7d8s9a0q1w2e3r4"  # an artifact's clientID (generate_fast_id)


def storage_id(run: str, project: str = "proj", entity: str = "team") -> str:
    """W&B's storage id of a run: base64 of ``Run:v1:<run>:<project>:<entity>``."""
    return base64.b64encode(f"Run:v1:{run}:{project}:{entity}".encode()).decode()


def translation(*runs: str) -> IdTranslation:
    ids = IdTranslation(list(runs))
    ids.learn(f"/files/team/proj/{RUN}/file_stream")
    return ids


def test_nothing_is_live_until_a_request_carrying_an_id_goes_upstream():
    ids = IdTranslation([RUN])
    assert ids.live == [] and not ids.mentions_live(f"/files/team/proj/{RUN}/file_stream")
    assert ids.to_upstream(RUN) == RUN  # nothing to translate yet
    ids.learn("/graphql")
    assert ids.live == []


def test_a_drawn_run_id_gets_a_fresh_twin_of_its_shape():
    ids = translation(RUN)
    fresh = ids.to_upstream(RUN)
    assert ids.live == [RUN]
    assert fresh != RUN and len(fresh) == len(RUN) and re.fullmatch(r"[a-z0-9]+", fresh)
    assert ids.is_fresh(fresh) and not ids.is_fresh(RUN)
    assert ids.to_client(fresh) == RUN


def test_each_translation_draws_its_own_fresh_ids():
    # A re-recording must never send an id the upstream has seen deleted before.
    assert len({translation(RUN).to_upstream(RUN) for _ in range(20)}) == 20


def test_an_id_keeps_its_twin_once_learned():
    ids = translation(RUN)
    fresh = ids.to_upstream(RUN)
    ids.learn(f'{{"name": "{RUN}"}}')
    assert ids.to_upstream(RUN) == fresh and ids.live == [RUN]


def test_only_run_ids_the_sdk_drew_are_translated():
    ids = IdTranslation([RUN])
    ids.learn(f"/files/team/proj/{OTHER}/file_stream")
    assert ids.live == [] and ids.to_upstream(OTHER) == OTHER


def test_run_ids_drawn_later_are_learned_too():
    drawn: list[str] = []
    ids = IdTranslation(drawn)  # the live collection the test's seeded ids fill
    drawn.append(RUN)
    ids.learn(f"/files/team/proj/{RUN}/file_stream")
    assert ids.live == [RUN]


def test_artifact_client_ids_are_learned_from_request_bodies():
    ids = IdTranslation([])
    ids.learn(json.dumps({"clientID": CLIENT_ID, "sequenceClientID": "s" * 16, "x": "short1"}))
    assert sorted(ids.live) == sorted([CLIENT_ID, "s" * 16])
    ids.learn(json.dumps({"clientID": "tooshort"}))  # not a generate_fast_id(16+) value
    assert "tooshort" not in ids.live


def test_a_fresh_id_the_upstream_echoes_is_not_paired_again():
    ids = IdTranslation([])
    ids.learn(json.dumps({"clientID": CLIENT_ID}))
    fresh = ids.to_upstream(CLIENT_ID)
    ids.learn(json.dumps({"clientID": fresh}))  # a later request quoting the upstream's answer
    assert ids.live == [CLIENT_ID] and ids.to_client(fresh) == CLIENT_ID


def test_text_round_trips_through_both_views():
    ids = translation(RUN)
    text = f"/files/team/proj/{RUN}/file_stream and {OTHER}"
    assert RUN not in ids.to_upstream(text)
    assert ids.to_client(ids.to_upstream(text)) == text


def test_a_run_inside_a_storage_id_is_translated_in_bodies():
    ids = translation(RUN)
    fresh = ids.to_upstream(RUN)
    body = json.dumps({"variables": {"id": storage_id(RUN), "ids": [storage_id(OTHER)]}}).encode()
    sent = json.loads(ids.body_to_upstream(body))
    assert sent["variables"]["id"] == storage_id(fresh)
    assert sent["variables"]["ids"] == [storage_id(OTHER)]
    assert ids.body_to_client(json.dumps(sent).encode()) == body


def test_a_request_naming_a_live_run_only_by_its_storage_id_goes_upstream():
    ids = translation(RUN)
    body = json.dumps({"variables": {"id": storage_id(RUN)}}).encode()
    assert ids.mentions_live("/graphql", body)
    assert not ids.mentions_live("/graphql", json.dumps({"id": storage_id(OTHER)}).encode())
    assert not ids.mentions_live("/graphql", b"x=1, not json")


def test_bodies_it_cannot_read_or_need_not_change_pass_as_they_are():
    ids = translation(RUN)
    for body in (b"", b"\x00\xffnot json", b'{"a": 1}', b"[1, 2]", b'"Run:v1:not:base64"'):
        assert ids.body_to_upstream(body) is body
    assert IdTranslation([]).body_to_upstream(b'{"a": 1}') == b'{"a": 1}'


def test_look_alike_storage_ids_are_left_alone():
    ids = translation(RUN)
    look_alikes = [
        base64.b64encode(f"Run:v2:{RUN}:proj:team".encode()).decode(),  # another version
        base64.b64encode(f"Artifact:v1:{RUN}:proj:team".encode()).decode(),
        base64.b64encode(f"Run:v1:{RUN}:proj".encode()).decode(),  # four parts
        "not base64 at all but long enough ==",
    ]
    body = json.dumps(look_alikes).encode()
    assert json.loads(ids.body_to_upstream(body)) == look_alikes


def test_a_resource_the_ledger_owns_is_journalled_by_its_upstream_ids():
    ids = IdTranslation([RUN])
    ids.learn(f"/files/team/proj/{RUN}/file_stream " + json.dumps({"clientID": CLIENT_ID}))
    fresh_run, fresh_client = ids.to_upstream(RUN), ids.to_upstream(CLIENT_ID)
    owned = Owned(
        "run", "team", "proj", RUN, f"team/proj/{RUN}", server_id=storage_id(RUN),
        client_id=CLIENT_ID,
    )  # fmt: skip
    upstream = ids.owned_to_upstream(owned)
    assert (upstream.local, upstream.name) == (fresh_run, f"team/proj/{fresh_run}")
    assert upstream.server_id == storage_id(fresh_run)
    assert upstream.client_id == fresh_client
    assert (upstream.kind, upstream.entity, upstream.project) == ("run", "team", "proj")
    assert owned.local == RUN  # the ledger's own record is unchanged


def test_a_resource_of_the_recorded_world_only_keeps_its_ids():
    ids = translation(RUN)
    artifact_id = base64.b64encode(b"Artifact:1").decode()
    owned = Owned("artifact", "team", "proj", "ds:v0", "team/proj/ds:v0", server_id=artifact_id)
    assert ids.owned_to_upstream(owned) == owned
