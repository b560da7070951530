"""The loopback relay: records exchanges upstream, or answers them from a cassette."""

from __future__ import annotations

from ._episodes import (
    IdTranslation,
)
from ._relay import (
    Recording,
    Relay,
    Replay,
)
from ._serve import (
    LOOPBACK,
    BackgroundServer,
    run_in_thread,
)

__all__ = [
    "LOOPBACK",
    "BackgroundServer",
    "IdTranslation",
    "Recording",
    "Relay",
    "Replay",
    "run_in_thread",
]
