from types import SimpleNamespace
from typing import cast

import pytest

from wandb_cassettes.helpers import (
    EPOCHS_ENV,
    MAX_TEST_EPOCHS,
    EpochJustification,
    EpochLimitError,
    get_test_epochs,
    justification_from_marker,
    validate_epoch_usage,
)


@pytest.fixture
def no_epochs_env(monkeypatch):
    monkeypatch.delenv(EPOCHS_ENV, raising=False)


def test_default_is_two_epochs(no_epochs_env):
    assert MAX_TEST_EPOCHS == 2
    assert get_test_epochs() == 2


@pytest.mark.parametrize(("raw", "expected"), [("1", 1), (" 3 ", 3), ("", 2)])
def test_env_overrides_epochs(monkeypatch, raw, expected):
    monkeypatch.setenv(EPOCHS_ENV, raw)
    assert get_test_epochs() == expected


@pytest.mark.parametrize("raw", ["two", "1.5", "0", "-1"])
def test_bad_env_value_names_the_variable(monkeypatch, raw):
    monkeypatch.setenv(EPOCHS_ENV, raw)
    with pytest.raises(ValueError, match=EPOCHS_ENV):
        get_test_epochs()


@pytest.mark.parametrize("epochs", [1, MAX_TEST_EPOCHS])
def test_within_limit_passes(epochs):
    validate_epoch_usage(epochs, "test_ok")


def test_over_limit_names_limit_test_and_remedies():
    with pytest.raises(EpochLimitError) as info:
        validate_epoch_usage(3, "test_too_long")
    message = str(info.value)
    assert "test_too_long" in message
    assert f"of {MAX_TEST_EPOCHS}" in message
    assert '@pytest.mark.wandb_epochs(3, reason="...")' in message
    assert "justification=" in message
    assert isinstance(info.value, ValueError)


def test_string_justification_lifts_the_limit():
    validate_epoch_usage(50, "test_long", justification="checks LR schedule over many epochs")


@pytest.mark.parametrize("blank", ["", "   "])
def test_blank_justification_is_refused(blank):
    with pytest.raises(ValueError, match="non-empty reason"):
        validate_epoch_usage(3, "test_x", justification=blank)


def test_structured_justification_raises_limit_to_its_max():
    allowed = EpochJustification(reason="needs 4", max_epochs=4, source="the marker")
    validate_epoch_usage(4, "test_x", justification=allowed)
    with pytest.raises(EpochLimitError, match="the limit set by the marker of 4"):
        validate_epoch_usage(5, "test_x", justification=allowed)


def test_zero_epochs_is_an_error():
    with pytest.raises(ValueError, match="at least 1"):
        validate_epoch_usage(0, "test_x")


def _mark(*args, **kwargs):
    return SimpleNamespace(args=args, kwargs=kwargs)


class _Item:
    nodeid = "tests/test_a.py::test_b"

    def __init__(self, marker):
        self._marker = marker

    def get_closest_marker(self, name):
        return self._marker if name == "wandb_epochs" else None


def _item(marker: object) -> pytest.Item:
    """A test item with ``marker`` as its ``wandb_epochs`` (what the reader asks of an item)."""
    return cast(pytest.Item, _Item(marker))


def test_no_marker_means_no_justification():
    assert justification_from_marker(_item(None)) is None


@pytest.mark.parametrize(
    "marker",
    [
        _mark(5, reason="convergence check"),
        _mark(max_epochs=5, reason="convergence check"),
        _mark(5, "convergence check"),
    ],
)
def test_marker_is_read_positionally_or_by_keyword(marker):
    justification = justification_from_marker(_item(marker))
    assert justification is not None
    assert justification.max_epochs == 5
    assert justification.reason == "convergence check"


@pytest.mark.parametrize(
    ("marker", "complaint"),
    [
        (_mark(reason="r"), "max_epochs >= 1"),
        (_mark(0, reason="r"), "max_epochs >= 1"),
        (_mark(True, reason="r"), "max_epochs >= 1"),
        (_mark(3), "non-empty reason"),
        (_mark(3, reason=" "), "non-empty reason"),
    ],
)
def test_malformed_marker_names_the_test(marker, complaint):
    with pytest.raises(ValueError, match=complaint) as info:
        justification_from_marker(_item(marker))
    assert "tests/test_a.py::test_b" in str(info.value)


def test_fixture_binds_test_name_and_marker(pytester, monkeypatch):
    monkeypatch.delenv(EPOCHS_ENV, raising=False)
    pytester.makeconftest(
        """
        from wandb_cassettes.helpers import EPOCHS_MARKER_HELP
        from wandb_cassettes.plugin import wandb_epochs

        def pytest_configure(config):
            config.addinivalue_line("markers", EPOCHS_MARKER_HELP)
        """
    )
    pytester.makepyfile(
        """
        import pytest

        def test_default(wandb_epochs):
            assert wandb_epochs() == 2

        def test_too_many(wandb_epochs):
            wandb_epochs(3)

        @pytest.mark.wandb_epochs(4, reason="needs a longer schedule")
        def test_justified(wandb_epochs):
            assert wandb_epochs(4) == 4

        @pytest.mark.wandb_epochs(4, reason="needs a longer schedule")
        def test_over_marker(wandb_epochs):
            wandb_epochs(5)
        """
    )
    result = pytester.runpytest("-p", "no:wandb_cassettes", "-p", "no:randomly", "--strict-markers")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*EpochLimitError: test_fixture_binds_test_name_and_marker.py::test_too_many runs 3*",
            "*EpochLimitError: *::test_over_marker runs 5 epochs, over the limit set by"
            " @pytest.mark.wandb_epochs(4) of 4*",
        ]
    )
