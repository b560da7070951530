"""Helpers for test suites: quiet throwaway runs, tiny checkpoints, epoch limits."""

from __future__ import annotations

from ._checkpoint import (
    create_minimal_checkpoint,
)
from ._epochs import (
    EPOCHS_ENV,
    EPOCHS_MARKER_HELP,
    MAX_TEST_EPOCHS,
    EpochCheck,
    EpochJustification,
    EpochLimitError,
    get_test_epochs,
    justification_from_marker,
    make_epoch_check,
    validate_epoch_usage,
)
from ._fast import (
    QUIET_SETTINGS,
    fast_wandb_test,
    quiet_settings,
)

__all__ = [
    "EPOCHS_ENV",
    "EPOCHS_MARKER_HELP",
    "MAX_TEST_EPOCHS",
    "QUIET_SETTINGS",
    "EpochCheck",
    "EpochJustification",
    "EpochLimitError",
    "create_minimal_checkpoint",
    "fast_wandb_test",
    "get_test_epochs",
    "justification_from_marker",
    "make_epoch_check",
    "quiet_settings",
    "validate_epoch_usage",
]
