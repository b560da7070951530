"""Replay gives the test's own strings back where its cassette holds them scrubbed."""

from __future__ import annotations

import json

from wandb_cassettes.replay import Restorations


def _learned(*pairs: tuple[object, object]) -> Restorations:
    restorations = Restorations()
    for live, scrubbed in pairs:
        restorations.learn(json.dumps(live), json.dumps(scrubbed))
    return restorations


def test_a_file_name_comes_back_as_key_and_as_value():
    r = _learned(({"files": [{"name": "glpat-x1y2.txt"}]}, {"files": [{"name": "REDACTED.txt"}]}))
    manifest = json.dumps({"contents": {"REDACTED.txt": {"digest": "abc"}}}).encode()
    assert json.loads(r.restore(manifest)) == {"contents": {"glpat-x1y2.txt": {"digest": "abc"}}}
    listing = json.dumps({"data": {"edges": [{"node": {"name": "REDACTED.txt"}}]}}).encode()
    assert b"glpat-x1y2.txt" in r.restore(listing)


def test_several_secrets_alike_scrubbed_come_back_by_the_keys_that_lead_to_them():
    config = {"x1": {"value": "sk_live_A"}, "nested": {"value": {"y": "AKIA_B"}}}
    scrubbed = {"x1": {"value": "REDACTED"}, "nested": {"value": {"y": "REDACTED"}}}
    # A run's config travels as JSON inside a GraphQL variable, and comes back so too.
    r = _learned(
        (
            {"variables": {"config": json.dumps(config)}},
            {"variables": {"config": json.dumps(scrubbed)}},
        )
    )
    answer = {"data": {"project": {"run": {"config": json.dumps(scrubbed)}}}}
    restored = json.loads(r.restore(json.dumps(answer).encode()))
    assert json.loads(restored["data"]["project"]["run"]["config"]) == config


def test_what_cannot_be_told_apart_stays_scrubbed():
    r = _learned(({"a": "secret-1", "b": "secret-2"}, {"a": "REDACTED", "b": "REDACTED"}))
    answer = json.dumps({"c": "REDACTED"}).encode()
    assert r.restore(answer) == answer
    # One that the answer's keys point at is given back.
    assert json.loads(r.restore(json.dumps({"z": {"b": "REDACTED"}}).encode())) == {
        "z": {"b": "secret-2"}
    }


def test_nothing_is_learned_from_unchanged_or_unreadable_text():
    r = Restorations()
    r.learn('{"a": "same"}', '{"a": "same"}')
    r.learn("not json", "not REDACTED")
    r.learn('{"a": ["x", "y"]}', '{"a": ["REDACTED"]}')  # another shape
    assert not r


def test_answers_without_a_scrubbed_string_or_not_json_are_served_as_they_are():
    r = _learned(({"name": "tok-123"}, {"name": "REDACTED-1"}))
    for payload in (b'{"name": "other"}', b"REDACTED-1 in plain text", b"\x00\xff"):
        assert r.restore(payload) is payload


def test_only_whole_strings_come_back():
    r = _learned(({"name": "tok-123"}, {"name": "REDACTED"}))
    answer = json.dumps({"url": "https://x.invalid/?sig=REDACTED", "name": "REDACTED"}).encode()
    assert json.loads(r.restore(answer)) == {
        "url": "https://x.invalid/?sig=REDACTED",
        "name": "tok-123",
    }
