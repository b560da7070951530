"""The epoch budget of W&B tests: two epochs unless a test says why it needs more.

Every epoch of a logged training loop adds metrics, checkpoints and uploads to
a recording (and to the real W&B project while recording), so tests run
:data:`MAX_TEST_EPOCHS` at most. A test that needs more states it, either with
the marker ``@pytest.mark.wandb_epochs(n, reason="...")`` or with
``validate_epoch_usage(..., justification="...")``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import ConfigurationError, EpochLimitError

if TYPE_CHECKING:
    import pytest


EPOCHS_ENV = "WANDB_CASSETTES_TEST_EPOCHS"
"""Environment variable that overrides :func:`get_test_epochs`."""

DEFAULT_TEST_EPOCHS = 2
MAX_TEST_EPOCHS = 2
"""Most epochs a test may run without a justification."""

EPOCHS_MARKER = "wandb_epochs"
EPOCHS_MARKER_HELP = (
    f"{EPOCHS_MARKER}(max_epochs, reason): allow a test more than {MAX_TEST_EPOCHS} "
    "epochs, up to max_epochs, and say why"
)
"""The marker's line for pytest's ``markers`` ini setting."""


@dataclass(frozen=True)
class EpochJustification:
    """Why a test may run more than :data:`MAX_TEST_EPOCHS` epochs, and up to how many.

    ``max_epochs=None`` lifts the limit altogether (a bare ``justification=`` string).
    """

    reason: str
    max_epochs: int | None = None
    source: str = "justification="


class EpochCheck(Protocol):
    """What the :func:`wandb_epochs` fixture returns."""

    def __call__(self, epochs: int | None = None) -> int:
        """Validate ``epochs`` (default: :func:`get_test_epochs`) and return it."""


def get_test_epochs() -> int:
    """Number of epochs a test should train for.

    Returns :data:`DEFAULT_TEST_EPOCHS` unless ``WANDB_CASSETTES_TEST_EPOCHS`` is set.

    Raises:
        ValueError: The variable is not an integer of at least 1.
    """
    raw = os.environ.get(EPOCHS_ENV, "").strip()
    if not raw:
        return DEFAULT_TEST_EPOCHS
    try:
        epochs = int(raw)
    except ValueError:
        raise ConfigurationError(f"{EPOCHS_ENV}={raw!r} is not an integer") from None
    if epochs < 1:
        raise ConfigurationError(f"{EPOCHS_ENV}={raw!r} must be at least 1")
    return epochs


def validate_epoch_usage(
    epochs: int,
    test_name: str,
    *,
    justification: str | EpochJustification | None = None,
) -> None:
    """Check that ``test_name`` stays within the epoch budget.

    Args:
        epochs: Epochs the test is about to run.
        test_name: Named in the error, to find the test.
        justification: Why the test needs more than :data:`MAX_TEST_EPOCHS`.
            A string lifts the limit; an :class:`EpochJustification` (what
            :func:`justification_from_marker` returns) raises it to its ``max_epochs``.

    Without ``justification``, the ``@pytest.mark.wandb_epochs`` marker of the
    test that is running (if any) applies. Up to the epochs set in
    ``WANDB_CASSETTES_TEST_EPOCHS`` (what :func:`get_test_epochs` returns) always
    pass: the variable is the run's own, stated budget.

    Raises:
        EpochLimitError: ``epochs`` exceeds the limit that applies.
        ValueError: ``epochs`` is below 1, or the justification is blank.
    """
    if justification is None:
        justification = _current_justification()
    if epochs < 1:
        raise ConfigurationError(f"{test_name}: epochs must be at least 1, got {epochs}")
    if isinstance(justification, str):
        justification = EpochJustification(reason=justification)
    if justification is not None and not justification.reason.strip():
        raise ConfigurationError(f"{test_name}: an epoch justification needs a non-empty reason")

    if os.environ.get(EPOCHS_ENV, "").strip() and epochs <= get_test_epochs():
        # The epochs the run was told to use (the README's get_test_epochs() and the
        # wandb_epochs fixture pass them here): whoever set the variable chose them.
        return
    if justification is None:
        limit: int | None = MAX_TEST_EPOCHS
        origin = "the default limit"
    else:
        limit = justification.max_epochs
        origin = f"the limit set by {justification.source}"
    if limit is None or epochs <= limit:
        return
    remedy = (
        f"raise its limit: @pytest.mark.{EPOCHS_MARKER}({epochs}, ...)"
        if justification is not None and justification.source.startswith("@")
        else f'justify more: mark the test @pytest.mark.{EPOCHS_MARKER}({epochs}, reason="...") '
        'or pass justification="..." to validate_epoch_usage()'
    )
    raise EpochLimitError(
        f"{test_name} runs {epochs} epochs, over {origin} of {limit}. Run fewer epochs "
        f"(get_test_epochs(), {EPOCHS_ENV}), or {remedy}."
    )


def _current_justification() -> EpochJustification | None:
    """The ``wandb_epochs`` marker of the pytest test running now, if any."""
    if "pytest" not in sys.modules or not os.environ.get("PYTEST_CURRENT_TEST"):
        return None
    node = _running_item()
    return justification_from_marker(node) if node is not None else None


def _running_item() -> Any:
    """The test item pytest is running (found through its ``PYTEST_CURRENT_TEST``)."""
    nodeid = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]
    running = getattr(sys.modules.get("wandb_cassettes.plugin"), "RUNNING", None) or {}
    return running.get(nodeid)


def justification_from_marker(node: pytest.Item) -> EpochJustification | None:
    """Read ``@pytest.mark.wandb_epochs(max_epochs, reason=...)`` from a test item.

    Returns:
        The justification, or None when the test has no such marker.

    Raises:
        ValueError: The marker is malformed (no positive ``max_epochs``, or no reason).
    """
    marker = node.get_closest_marker(EPOCHS_MARKER)
    if marker is None:
        return None
    usage = f'@pytest.mark.{EPOCHS_MARKER}(max_epochs, reason="...")'
    max_epochs = marker.kwargs.get("max_epochs", marker.args[0] if marker.args else None)
    reason = marker.kwargs.get("reason", marker.args[1] if len(marker.args) > 1 else None)
    # bool is an int: wandb_epochs(True, ...) is a mistake, not one epoch.
    if not isinstance(max_epochs, int) or isinstance(max_epochs, bool) or max_epochs < 1:
        raise ConfigurationError(
            f"{node.nodeid}: {usage} needs max_epochs >= 1, got {max_epochs!r}"
        )
    if not isinstance(reason, str) or not reason.strip():
        raise ConfigurationError(f"{node.nodeid}: {usage} needs a non-empty reason")
    return EpochJustification(
        reason=reason, max_epochs=max_epochs, source=f"@pytest.mark.{EPOCHS_MARKER}({max_epochs})"
    )


def make_epoch_check(node: pytest.Item) -> EpochCheck:
    """A ``check(epochs=None) -> int`` bound to test ``node`` and its marker.

    ``check()`` validates :func:`get_test_epochs`; ``check(n)`` validates ``n``.
    Either returns the validated count, or raises :class:`EpochLimitError`.
    """
    justification = justification_from_marker(node)

    def check(epochs: int | None = None) -> int:
        if epochs is None:
            epochs = get_test_epochs()
        validate_epoch_usage(epochs, node.nodeid, justification=justification)
        return epochs

    return check
