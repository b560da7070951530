"""Every code block of the README is run by ``tests/e2e/test_readme.py``, or says why not."""

from __future__ import annotations

from support.readme import BLOCKS, CI_RECIPE, FILES, MISMATCH, SHELL, SNIPPETS, TRY


def test_every_block_is_run_or_says_why_not():
    kinds = {id(b) for b in [*FILES, *SHELL, *TRY, *SNIPPETS, CI_RECIPE, MISMATCH]}
    stray = [str(b) for b in BLOCKS if id(b) not in kinds and not b.not_run]
    assert not stray, f"README blocks neither run nor excused: {stray}"
    assert len(SHELL) >= 2 and len(SNIPPETS) >= 3 and FILES
