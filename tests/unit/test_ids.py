"""Deterministic W&B client ids per cassette (``runtime/_ids.py``).

Within :func:`seeded_ids` the SDK's own id functions (``wandb.sdk.lib.runid``) draw from
the cassette's seed and the test's id; outside it they are the SDK's again, with their
state as it was.
"""

from __future__ import annotations

import re
import string

import pytest
from wandb.sdk.lib import runid

from wandb_cassettes.runtime import new_seed, seeded_ids
from wandb_cassettes.runtime._ids import Generators

SEED = "0123456789abcdef"
TEST = "tests/test_x.py::test_y"


def drawn(seed: str | Generators, test_id: str = TEST, runs: int = 3, fast: int = 3) -> list[str]:
    """Run ids, then artifact client ids (``generate_fast_id``), as the SDK draws them."""
    with seeded_ids(seed, test_id):
        ids = [runid.generate_id() for _ in range(runs)]
        return ids + [runid.generate_fast_id(16) for _ in range(fast)]


def test_a_new_seed_is_fresh_hex_each_time():
    seeds = {new_seed() for _ in range(50)}
    assert len(seeds) == 50
    assert all(re.fullmatch(r"[0-9a-f]{16}", s) for s in seeds)


def test_the_same_seed_and_test_draw_the_same_ids():
    assert drawn(SEED) == drawn(SEED)


@pytest.mark.parametrize(("seed", "test_id"), [("fedcba9876543210", TEST), (SEED, TEST + "x")])
def test_another_seed_or_another_test_draws_other_ids(seed: str, test_id: str):
    ours, theirs = drawn(SEED), drawn(seed, test_id)
    assert not set(ours) & set(theirs)


def test_run_ids_look_like_the_sdks():
    # wandb.sdk.lib.runid: base-36 lowercase, 8 characters unless asked otherwise.
    assert string.ascii_lowercase + string.digits == runid._ID_CHARS
    with seeded_ids(SEED, TEST):
        default, longer = runid.generate_id(), runid.generate_id(32)
    assert len(default) == 8 and len(longer) == 32
    assert set(default + longer) <= set(runid._ID_CHARS)


def test_the_run_ids_drawn_are_collected():
    collected: set[str] = set()
    with seeded_ids(SEED, TEST, collected):
        ids = {runid.generate_id() for _ in range(4)}
        runid.generate_fast_id(16)  # an artifact client id: not a run id
    assert collected == ids


def test_outside_the_block_the_sdk_draws_as_before_from_its_own_state():
    original = runid.generate_id
    state = runid._random.getstate()
    with seeded_ids(SEED, TEST):
        assert runid.generate_id is not original
        runid.generate_fast_id(16)
    assert runid.generate_id is original
    assert runid._random.getstate() == state  # the SDK's generator goes on where it was


def test_the_sdk_is_restored_when_the_test_raises():
    original, state = runid.generate_id, runid._random.getstate()
    with pytest.raises(RuntimeError), seeded_ids(SEED, TEST):
        runid.generate_fast_id(16)
        raise RuntimeError("the test failed")
    assert runid.generate_id is original and runid._random.getstate() == state


def test_a_suspended_cassette_goes_on_with_new_ids():
    # A scoped fixture's cassette: set up, suspended while tests run, resumed for teardown.
    generators = Generators(SEED, TEST)
    first = drawn(generators, runs=2, fast=2)
    later = drawn(generators, runs=2, fast=2)
    assert not set(first) & set(later)
    # As if never suspended: the run ids and the artifact client ids both go on.
    assert first[:2] + later[:2] == drawn(SEED, runs=4, fast=0)
    assert first[2:] + later[2:] == drawn(SEED, runs=0, fast=4)


def test_a_generators_object_ignores_the_test_id_given_beside_it():
    assert drawn(Generators(SEED, TEST), "another test") == drawn(SEED, TEST)
