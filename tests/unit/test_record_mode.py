"""The record mode, and the one place that decides between recording and replaying a cassette.

The table in ``runtime/_record_mode.py``'s docstring is what users read; it is parsed here
and held against :func:`plan`, so that the documentation and the decision cannot drift.
"""

from __future__ import annotations

import itertools
import re

import pytest

from wandb_cassettes import errors
from wandb_cassettes.runtime import RecordMode, _record_mode
from wandb_cassettes.runtime._record_mode import Plan, plan

#: The docstring table's cells, as plans.
CELLS = {
    "replay": Plan.REPLAY,
    "record": Plan.RECORD,
    "record (replace)": Plan.RECORD,
    "replay, record misses": Plan.REPLAY_AND_RECORD_MISSES,
}


def documented() -> dict[tuple[str, bool], Plan]:
    """``{(mode, cassette exists): plan}`` as the module docstring's table says it.

    A simple reStructuredText table: its ``=`` borders give the columns, and a cell that
    runs into the space between two columns is a malformed table (docutils refuses it).
    """
    lines = (_record_mode.__doc__ or "").splitlines()
    border = next(line for line in lines if line.startswith("==="))
    columns = [m.span() for m in re.finditer(r"=+", border)]
    table: dict[tuple[str, bool], Plan] = {}
    for line in lines:
        if not line.startswith("``"):
            continue
        for (_, end), (start, _) in itertools.pairwise(columns):
            assert line[end:start].strip() == "", f"text in a column margin: {line!r}"
        # The last column runs to the end of the line (its text may be longer than its border).
        spans = [*columns[:-1], (columns[-1][0], len(line))]
        mode, exists, missing = (line[start:end].strip() for start, end in spans)
        mode = mode.strip("`")
        table[mode, True] = CELLS[exists]
        table[mode, False] = Plan.MISSING if missing.startswith("fail") else CELLS[missing]
    return table


def test_the_documented_table_covers_every_mode():
    assert {mode for mode, _ in documented()} == {m.value for m in RecordMode}
    assert len(documented()) == 2 * len(RecordMode)


@pytest.mark.parametrize(("mode", "exists"), sorted(documented()))
def test_the_plan_is_what_the_table_says(mode: str, exists: bool):
    assert plan(mode, exists=exists) is documented()[mode, exists]
    assert plan(RecordMode(mode), exists=exists) is documented()[mode, exists]


@pytest.mark.parametrize("mode", list(RecordMode))
@pytest.mark.parametrize("exists", [True, False])
def test_a_cassette_this_session_recorded_is_replayed_whatever_the_mode(
    mode: RecordMode, exists: bool
):
    # Two tests sharing one name: the first records, the later ones replay what it wrote,
    # in rewrite and all too (they must not record over it).
    assert plan(mode, exists=exists, recorded_this_session=True) is Plan.REPLAY


def test_only_none_fails_on_a_missing_cassette():
    failing = [m for m in RecordMode if plan(m, exists=False) is Plan.MISSING]
    assert failing == [RecordMode.NONE]


def test_only_all_and_rewrite_record_over_an_existing_cassette():
    replacing = {m for m in RecordMode if plan(m, exists=True) is Plan.RECORD}
    assert replacing == {RecordMode.ALL, RecordMode.REWRITE}


@pytest.mark.parametrize("value", ["none", "once", "new_episodes", "all", "rewrite"])
def test_parse_reads_pytest_recordings_values(value: str):
    parsed = RecordMode.parse(value)
    assert parsed is RecordMode(value) and parsed == value  # a str enum: compares as text


def test_parse_returns_a_mode_as_it_is():
    assert RecordMode.parse(RecordMode.ONCE) is RecordMode.ONCE


@pytest.mark.parametrize("unset", [None, ""])
def test_no_value_is_none_the_ci_default(unset: str | None):
    assert RecordMode.parse(unset) is RecordMode.NONE


@pytest.mark.parametrize("bad", ["ONCE", "once ", "replay", "new-episodes", 1, object()])
def test_an_unknown_mode_is_a_configuration_error_listing_the_valid_ones(bad: object):
    with pytest.raises(errors.ConfigurationError) as info:
        RecordMode.parse(bad)
    message = str(info.value)
    assert repr(bad) in message
    assert "none, once, new_episodes, all, rewrite" in message
    assert isinstance(info.value, errors.WandbCassettesError)


def test_plan_refuses_an_unknown_mode_before_deciding():
    with pytest.raises(errors.ConfigurationError, match="'sometimes'"):
        plan("sometimes", exists=True, recorded_this_session=True)
