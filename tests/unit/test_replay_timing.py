"""Replay is a function of the test's requests, not of timing (issue 23).

What the cleanup and the audit count (creates, deletes, changes to what the test
did not create) is answered exactly as often as recorded; anything else that
succeeded (an update of a run the recording created, a harmless mutation, a
query, file_stream) is answered as often as asked, and is not reported unplayed
when timing made it come less often. Decided from what each recorded exchange
did (the ledger), not from operation names: the same ``UpsertBucket`` is strict
as the create of a run and timing-dependent as an update of it.
"""

from __future__ import annotations

import json

import pytest
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

from wandb_cassettes.errors import NoMatch
from wandb_cassettes.ownership import FRESH_RUN_IDS_KEY
from wandb_cassettes.replay import Matcher, MatchRules, interaction_key
from wandb_cassettes.store import Cassette, Interaction

E, P, RUN = "team", "proj", "abcd1234"


def telemetry_update(run: str = RUN, telemetry: int = 1) -> Interaction:
    """wandb-core's config/telemetry update of a run that exists: inserted false."""
    ix = upsert_bucket(E, P, run, inserted=False)
    body = json.loads(str(ix.request_body))
    # The telemetry lives in config._wandb, which matching leaves out: every update matches.
    body["variables"]["config"] = json.dumps({"_wandb": {"value": {"t": {"3": [telemetry]}}}})
    ix.request_body = json.dumps(body)
    return ix


def create(run: str = RUN) -> Interaction:
    """The run's create at init: named without its entity, as wandb-core sends it."""
    ix = upsert_bucket(E, P, run, inserted=True)
    body = json.loads(str(ix.request_body))
    body["variables"]["entity"] = None
    ix.request_body = json.dumps(body)
    return ix


def delete() -> Interaction:
    """``api.run(path).delete()``."""
    return delete_run(run_storage_id(E, P, RUN))


def matcher(
    *interactions: Interaction,
    fresh: tuple[str, ...] = (RUN,),
    harmless: tuple[str, ...] = (),
    **meta: object,
) -> Matcher:
    """A replay of ``interactions``, recorded by a test that drew the run ids ``fresh``."""
    metadata = {FRESH_RUN_IDS_KEY: list(fresh), **meta}
    return Matcher(Cassette(list(interactions), metadata), BASE, MatchRules(harmless=harmless))


def key_of(m: Matcher, ix: Interaction):
    return interaction_key(ix, m.upstream)


def test_updates_of_a_run_the_recording_made_are_answered_as_often_as_asked():
    m = matcher(create(), file_stream(E, P, RUN), telemetry_update(), delete())
    update = key_of(m, telemetry_update(telemetry=7))
    # Recorded once; asked five times (wandb-core's timers fired more often under load).
    served = {m.match(update)[0] for _ in range(5)}
    assert served == {2}
    m.match(key_of(m, create()))
    m.match(key_of(m, delete()))
    assert m.unplayed() == []


def test_an_update_asked_less_often_than_recorded_is_not_unplayed():
    m = matcher(
        create(), telemetry_update(), telemetry_update(telemetry=2), telemetry_update(telemetry=3)
    )
    m.match(key_of(m, create()))
    assert m.unplayed() == []  # no update at all this time: timing, not the test


def test_the_create_is_answered_once_and_says_what_it_did():
    m = matcher(create(), telemetry_update())
    key = key_of(m, create())
    m.match(key)
    with pytest.raises(NoMatch) as raised:
        m.match(key)
    message = str(raised.value)
    assert "used up for GraphQL UpsertBucket" in message
    assert f"#0 created run {E}/{P}/{RUN}" in message
    assert "asked more often than when it was recorded" in message
    assert raised.value.rerecord  # the test creates more: re-recording helps


def test_one_key_holding_the_create_and_an_update_serves_both_then_the_update():
    # mode="shared": the primary's init and the secondary's (the run exists by then) send
    # the same request; each process then updates it as often as its timers fire.
    primary, secondary = create(), create()
    data = json.loads(str(secondary.response_body))
    data["data"]["upsertBucket"]["inserted"] = False
    secondary.response_body = json.dumps(data)
    m = matcher(primary, secondary)
    key = key_of(m, create())
    assert [m.match(key)[0] for _ in range(4)] == [0, 1, 1, 1]


def test_a_change_to_a_run_the_test_did_not_create_stays_strict_and_names_the_option():
    resumed = "teammate"  # not drawn by the recording: a run it resumed
    m = matcher(telemetry_update(resumed), telemetry_update(resumed, telemetry=2), fresh=())
    key = key_of(m, telemetry_update(resumed))
    m.match(key)
    m.match(key)
    with pytest.raises(NoMatch) as raised:
        m.match(key)
    message = str(raised.value)
    assert f"changed run {E}/{P}/{resumed}, which the test did not create" in message
    assert "depends on timing" in message and "re-recording cannot help" in message
    assert f'foreign_changes=["{E}/{P}/{resumed}"]' in message
    assert not raised.value.rerecord


def test_a_declared_change_is_answered_as_often_as_asked():
    resumed = "teammate"
    m = matcher(telemetry_update(resumed), fresh=(), foreign_changes=[f"{E}/{P}/{resumed}"])
    key = key_of(m, telemetry_update(resumed))
    assert {m.match(key)[0] for _ in range(3)} == {0}


def test_a_recorded_error_is_not_repeated_even_for_an_update():
    failed = telemetry_update()
    failed.status, failed.response_body = 500, '{"errors": [{"message": "busy"}]}'
    m = matcher(create(), failed)
    key = key_of(m, telemetry_update())
    assert m.match(key)[1] is failed
    with pytest.raises(NoMatch, match="does not repeat an error"):
        m.match(key)


def test_a_mutation_declared_harmless_is_answered_as_often_as_asked():
    ping = gql_exchange(
        "Ping", "mutation Ping { pingSomething { ok } }", {}, {"pingSomething": {"ok": True}}
    )
    strict = matcher(ping)
    key = key_of(strict, ping)
    strict.match(key)
    with pytest.raises(NoMatch, match="nobody classified"):
        strict.match(key)  # unknown: the audit reports it, so its count is the test's
    lenient = matcher(ping, harmless=("pingSomething",))
    assert {lenient.match(key)[0] for _ in range(3)} == {0}


def test_what_the_test_no_longer_asks_is_still_reported():
    m = matcher(
        create(),
        run_query(E, P, RUN),
        create_run_files(E, P, RUN, ["config.yaml"]),
        telemetry_update(),
        delete(),
    )
    m.match(key_of(m, create()))
    # The lookup (a query: asked as often as the test's code asks), the run's files and
    # the delete (the audit counts them) were never asked: reported. The update is not.
    assert [i for i, _ in m.unplayed()] == [1, 2, 4]
