"""The loopback relay: records exchanges upstream, or answers them from a cassette."""

from __future__ import annotations

from ._episodes import IdTranslation
from ._relay import Recording, Relay, Replay
from ._serve import BackgroundServer

__all__ = ["BackgroundServer", "IdTranslation", "Recording", "Relay", "Replay"]
