"""One exception tree and one warning class for everything wandb-cassettes raises.

Modelled on httpx's: catch :class:`WandbCassettesError` for any failure of
this library, or one of its subclasses for a kind of failure::

    WandbCassettesError
    ├── CassetteError           a cassette file cannot be used (file and line named)
    │   └── MissingCassette     replay, and there is no cassette (the record command said)
    ├── ConfigurationError      a bad marker argument, option, ignore path or setting
    ├── NoMatch                 a replayed request has no recorded answer (also a LookupError)
    ├── ReplayError             a replayed test did not do what its cassette recorded
    ├── RecordingError          recording had to stop (journal not writable, upstream refused)
    ├── CleanupError            resources a test created could not be deleted
    └── JournalError            the crash journal cannot be written or read

:class:`WandbCassetteWarning` is the one warning class: something in a
cassette deserves attention but does not fail the test (use it in pytest's
``filterwarnings``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "CassetteError",
    "CleanupError",
    "ConfigurationError",
    "JournalError",
    "MissingCassette",
    "NoMatch",
    "RecordingError",
    "ReplayError",
    "WandbCassetteWarning",
    "WandbCassettesError",
]


class WandbCassettesError(Exception):
    """Base class of every error this library raises."""


class CassetteError(WandbCassettesError):
    """A cassette cannot be used. The message names the file (and line when known)."""

    def __init__(self, path: object, message: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class MissingCassette(CassetteError):
    """Replay asked for a cassette that does not exist; the message says how to record it."""

    def __init__(self, path: object, command: str) -> None:
        self.command = command
        WandbCassettesError.__init__(
            self, f"wandb cassette missing: {path}\nrecord it with:\n  {command}"
        )
        self.path, self.line = str(path), None


class ConfigurationError(WandbCassettesError, ValueError):
    """A marker argument, option, ``ignore`` path or setting is not valid.

    The message names the setting and lists the valid forms.
    """


class ReplayError(WandbCassettesError):
    """A replayed test asked for what its cassette cannot answer, or left recordings unplayed."""


class RecordingError(WandbCassettesError):
    """Recording stopped: nothing more may reach the upstream (e.g. no journal)."""


class JournalError(RecordingError):
    """The crash journal (``.wandb_cassettes/journal/``) cannot be written: no recording."""


class WandbCassetteWarning(UserWarning):
    """Something in a cassette deserves attention but does not fail the test."""


class NoMatch(WandbCassettesError, LookupError):
    """A live request has no recorded interaction; the message says what was asked and why not.

    ``key`` is the request's :class:`~wandb_cassettes.replay._matching.RequestKey`;
    ``candidates`` the recorded requests most like it, described.
    """

    def __init__(self, key: Any, candidates: Sequence[str], message: str) -> None:
        self.key = key
        self.candidates = list(candidates)
        super().__init__(message)


class CleanupError(WandbCassettesError):
    """Some W&B resources could not be deleted, or changes to others' not restored.

    ``report`` (a ``CleanupReport``) has the details.
    """

    def __init__(self, report: Any) -> None:
        self.report = report
        skipped = list(getattr(report, "skipped", ()))
        unrestored = list(getattr(report, "restore_failed", ()))
        parts = []
        if report.failed or skipped:
            lines = "\n".join(f"  - {item}" for item in [*report.failed, *skipped])
            parts.append(
                f"could not delete {len(report.failed) + len(skipped)} W&B resource(s); "
                f"they are still in W&B:\n{lines}"
            )
        if unrestored:
            lines = "\n".join(f"  - {item}" for item in unrestored)
            parts.append(
                f"could not restore {len(unrestored)} change(s) to W&B resources the test "
                f"did not create; they stay as the test left them:\n{lines}"
            )
        super().__init__("\n".join(parts))
