"""Epoch limits in a real pytest session with the plugin loaded."""

from wandb_cassettes.helpers import (
    EPOCHS_ENV,
)


def test_the_readme_marker_lets_validate_epoch_usage_through(pytester, monkeypatch):
    """The README's example: the marker raises the limit for ``validate_epoch_usage``."""
    monkeypatch.delenv(EPOCHS_ENV, raising=False)
    pytester.makepyfile(
        """
        import pytest
        from wandb_cassettes import validate_epoch_usage

        @pytest.mark.wandb_epochs(5, reason="checks the LR schedule over 5 epochs")
        def test_marked():
            validate_epoch_usage(5, "test_marked")

        @pytest.mark.wandb_epochs(5, reason="checks the LR schedule over 5 epochs")
        def test_over_its_marker():
            validate_epoch_usage(6, "test_over_its_marker")

        def test_unmarked():
            validate_epoch_usage(5, "test_unmarked")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly", "--strict-markers")
    result.assert_outcomes(passed=1, failed=2)
    text = result.stdout.str()
    assert "test_over_its_marker runs 6 epochs, over the limit set by" in text
    assert "raise its limit: @pytest.mark.wandb_epochs(6" in text
    assert "test_unmarked runs 5 epochs, over the default limit of 2" in text
