"""wandb-cassettes: record W&B traffic once, replay it offline.

The wandb SDK (0.31+) sends every request from its Go service ``wandb-core``,
so recording and replay happen in a loopback HTTP relay that the SDK is
pointed at through ``WANDB_BASE_URL``. See README.md.

The helpers below are imported on first use, so that loading the pytest
plugin costs a suite that does not use them nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .checkpoint import create_minimal_checkpoint
    from .cleanup import CleanupError, WandbArtifactCleaner
    from .epochs import EpochLimitError, get_test_epochs, validate_epoch_usage
    from .fast import fast_wandb_test

_LAZY = {
    "create_minimal_checkpoint": "checkpoint",
    "CleanupError": "cleanup",
    "WandbArtifactCleaner": "cleanup",
    "EpochLimitError": "epochs",
    "get_test_epochs": "epochs",
    "validate_epoch_usage": "epochs",
    "fast_wandb_test": "fast",
}

__all__ = [
    "CleanupError",
    "EpochLimitError",
    "WandbArtifactCleaner",
    "__version__",
    "create_minimal_checkpoint",
    "fast_wandb_test",
    "get_test_epochs",
    "validate_epoch_usage",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'wandb_cassettes' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
