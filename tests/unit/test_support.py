"""The test helpers of ``support/`` see what they claim (the end-to-end tests rely on them)."""

from __future__ import annotations

from support.projects import (
    operations,
    statuses,
)

from wandb_cassettes import store as cs


def test_helpers_see_what_they_claim(tmp_path):
    """``operations`` names GraphQL operations and storage calls (the fault tests rely on it)."""
    from support.cassette_builders import clean_flow

    path = cs.save(clean_flow(), tmp_path / "c.yaml")
    ops = operations(path)
    assert ops[0] == ("UpsertBucket", 200)
    assert statuses(path, "PUT") == [200, 200]
    assert statuses(path, "DeleteRun") == [200]
