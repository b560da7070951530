"""The ``foreign_changes`` marker keyword in a real pytest session."""

from __future__ import annotations

import pytest


def test_a_bad_foreign_changes_marker_is_a_usage_error(pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.wandb_cassette(foreign_changes=3)
        def test_bad():
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_bad: @pytest.mark.wandb_cassette: foreign_changes:*"])
