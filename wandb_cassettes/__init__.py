"""wandb-cassettes: record W&B traffic once, replay it offline.

The wandb SDK (0.31+) sends every request from its Go service ``wandb-core``,
so recording and replay happen in a loopback HTTP relay that the SDK is
pointed at through ``WANDB_BASE_URL``. See README.md.

Public API (everything else is internal): :func:`use_cassette`,
:class:`RecordMode`, the exception tree rooted at :class:`WandbCassettesError`
and :class:`WandbCassetteWarning` (:mod:`wandb_cassettes.errors`), and the test
helpers. Names are imported on first use, so that loading the pytest plugin
costs a suite that does not use them nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

if TYPE_CHECKING:
    from .cleanup import CleanupReport
    from .errors import (
        CassetteError,
        CleanupError,
        ConfigurationError,
        JournalError,
        MissingCassette,
        NoMatch,
        RecordingError,
        RelayError,
        ReplayError,
        StateError,
        UnsupportedSdk,
        WandbCassettesError,
        WandbCassetteWarning,
    )
    from .helpers import (
        EpochLimitError,
        WandbArtifactCleaner,
        create_minimal_checkpoint,
        fast_wandb_test,
        get_test_epochs,
        validate_epoch_usage,
    )
    from .record import BackgroundServer
    from .runtime import CassetteUse, RecordMode, use_cassette
    from .store import BACKEND_HEADER

_LAZY = {
    "BACKEND_HEADER": "store",
    "BackgroundServer": "record",
    "create_minimal_checkpoint": "helpers",
    "CleanupReport": "cleanup",
    "WandbArtifactCleaner": "helpers",
    "EpochLimitError": "errors",
    "get_test_epochs": "helpers",
    "validate_epoch_usage": "helpers",
    "CassetteError": "errors",
    "CleanupError": "errors",
    "ConfigurationError": "errors",
    "JournalError": "errors",
    "MissingCassette": "errors",
    "NoMatch": "errors",
    "RecordingError": "errors",
    "RelayError": "errors",
    "ReplayError": "errors",
    "StateError": "errors",
    "UnsupportedSdk": "errors",
    "WandbCassettesError": "errors",
    "WandbCassetteWarning": "errors",
    "fast_wandb_test": "helpers",
    "CassetteUse": "runtime",
    "use_cassette": "runtime",
    "RecordMode": "runtime",
}

__all__ = [
    "BACKEND_HEADER",
    "BackgroundServer",
    "CassetteError",
    "CassetteUse",
    "CleanupError",
    "CleanupReport",
    "ConfigurationError",
    "EpochLimitError",
    "JournalError",
    "MissingCassette",
    "NoMatch",
    "RecordMode",
    "RecordingError",
    "RelayError",
    "ReplayError",
    "StateError",
    "UnsupportedSdk",
    "WandbArtifactCleaner",
    "WandbCassetteWarning",
    "WandbCassettesError",
    "__version__",
    "create_minimal_checkpoint",
    "fast_wandb_test",
    "get_test_epochs",
    "use_cassette",
    "validate_epoch_usage",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'wandb_cassettes' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__() -> list[str]:
    # The lazy names too (PEP 562): dir() and tab completion list the public API.
    return sorted({*globals(), *__all__})
