"""Helpers for test suites: quiet throwaway runs, tiny checkpoints, epoch limits, a cleaner.

The epoch limits are what the pytest plugin needs at start-up; the rest is imported on
first use (PEP 562), since it loads the cleanup and the wandb SDK's public API.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ..errors import EpochLimitError
from ._epochs import (
    EPOCHS_ENV,
    EPOCHS_MARKER_HELP,
    MAX_TEST_EPOCHS,
    EpochCheck,
    EpochJustification,
    get_test_epochs,
    justification_from_marker,
    make_epoch_check,
    validate_epoch_usage,
)

if TYPE_CHECKING:
    from ._checkpoint import create_minimal_checkpoint
    from ._cleaner import WandbArtifactCleaner
    from ._fast import QUIET_SETTINGS, fast_wandb_test, quiet_settings

_LAZY = {
    "create_minimal_checkpoint": "._checkpoint",
    "WandbArtifactCleaner": "._cleaner",
    "QUIET_SETTINGS": "._fast",
    "fast_wandb_test": "._fast",
    "quiet_settings": "._fast",
}

__all__ = [
    "EPOCHS_ENV",
    "EPOCHS_MARKER_HELP",
    "MAX_TEST_EPOCHS",
    "QUIET_SETTINGS",
    "EpochCheck",
    "EpochJustification",
    "EpochLimitError",
    "WandbArtifactCleaner",
    "create_minimal_checkpoint",
    "fast_wandb_test",
    "get_test_epochs",
    "justification_from_marker",
    "make_epoch_check",
    "quiet_settings",
    "validate_epoch_usage",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)


def __dir__() -> list[str]:
    return sorted(__all__)
