"""The loopback relay: records exchanges upstream, or answers them from a cassette."""

from __future__ import annotations

from ._episodes import IdTranslation
from ._relay import Recording, Relay, Replay
from ._serve import BackgroundServer, background_thread
from ._stable import CLEANUP_KEY, RECORDING_KEY, Session, stable_form

__all__ = [
    "CLEANUP_KEY",
    "RECORDING_KEY",
    "BackgroundServer",
    "IdTranslation",
    "Recording",
    "Relay",
    "Replay",
    "Session",
    "background_thread",
    "stable_form",
]
