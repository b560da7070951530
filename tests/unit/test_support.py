"""The test helpers of ``support/`` see what they claim (the end-to-end tests rely on them)."""

from __future__ import annotations

import time

import pytest
from support.polling import poll, wait_until
from support.projects import operations, statuses

from wandb_cassettes import store as cs


def test_helpers_see_what_they_claim(tmp_path):
    """``operations`` names GraphQL operations and storage calls (the fault tests rely on it)."""
    from support.cassette_builders import clean_flow

    path = cs.save(clean_flow(), tmp_path / "c.yaml")
    ops = operations(path)
    assert ops[0] == ("UpsertBucket", 200)
    assert statuses(path, "PUT") == [200, 200]
    assert statuses(path, "DeleteRun") == [200]


def test_poll_returns_the_condition_once_it_holds():
    answers = iter([None, 0, "", "ready"])
    assert poll(lambda: next(answers), 10, interval=0) == "ready"


def test_poll_gives_up_at_the_deadline_with_the_last_answer():
    asked: list[float] = []

    def never() -> list[float]:
        asked.append(time.monotonic())
        return []

    started = time.monotonic()
    assert poll(never, 0.2, interval=0.01) == []
    assert asked[-1] - started >= 0.2  # asked once more at the deadline
    assert len(asked) >= 2


def test_wait_until_names_what_did_not_happen():
    with pytest.raises(AssertionError, match=r"the flag: not within 0.05 s"):
        wait_until(lambda: False, 0.05, "the flag")
    assert wait_until(lambda: 42, 1, "an answer") == 42
