"""Record modes, and the one place that decides between recording and replaying a cassette.

The modes are vcrpy's and pytest-recording's (``--record-mode``), read for
W&B traffic, which is stateful: what a test created upstream must be
cleaned up, so a cassette is either wholly recorded or wholly replayed,
except in ``new_episodes``.

================ ====================== ========================================
mode             cassette exists        cassette missing
================ ====================== ========================================
``none``         replay                 fail: "missing, record it with ..."
``once``         replay                 record
``new_episodes`` replay, record misses  record
``all``          record (replace)       record
``rewrite``      record (replace)       record
================ ====================== ========================================

A cassette recorded earlier in the same session (two tests sharing one
name) is replayed by the later tests whatever the mode.
"""

from __future__ import annotations

import enum

from ..errors import ConfigurationError


class RecordMode(enum.StrEnum):
    """pytest-recording's ``--record-mode`` values."""

    NONE = "none"
    ONCE = "once"
    NEW_EPISODES = "new_episodes"
    ALL = "all"
    REWRITE = "rewrite"

    @classmethod
    def parse(cls, value: object) -> RecordMode:
        """``value`` as a mode; :class:`ConfigurationError` listing the valid ones otherwise."""
        if isinstance(value, RecordMode):
            return value
        try:
            return cls(str(value or "none"))
        except ValueError:
            valid = ", ".join(m.value for m in cls)
            raise ConfigurationError(f"record mode {value!r}: expected one of {valid}") from None


class Plan(enum.Enum):
    """What happens to one cassette."""

    REPLAY = "replay"
    RECORD = "record"
    #: ``new_episodes``: replay, and record (appended) what the cassette cannot answer.
    REPLAY_AND_RECORD_MISSES = "new_episodes"
    #: ``none`` and no cassette: the test fails before it starts.
    MISSING = "missing"


def plan(mode: RecordMode | str, *, exists: bool, recorded_this_session: bool = False) -> Plan:
    """Record or replay: decided here and nowhere else.

    Args:
        mode: The record mode.
        exists: Whether the cassette file exists.
        recorded_this_session: Whether this session already wrote it (a shared cassette name).
    """
    mode = RecordMode.parse(mode)
    if recorded_this_session:
        return Plan.REPLAY
    if mode in (RecordMode.ALL, RecordMode.REWRITE):
        return Plan.RECORD
    if not exists:
        return Plan.MISSING if mode is RecordMode.NONE else Plan.RECORD
    if mode is RecordMode.NEW_EPISODES:
        return Plan.REPLAY_AND_RECORD_MISSES
    return Plan.REPLAY
