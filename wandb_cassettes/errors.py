"""One exception tree and one warning class for everything wandb-cassettes raises.

Modelled on httpx's: catch :class:`WandbCassettesError` for any failure of
this library, or one of its subclasses for a kind of failure::

    WandbCassettesError
    ├── CassetteError           a cassette (or a blob it names) cannot be used: file and line named
    │   └── MissingCassette     replay, and there is no cassette (the record command said)
    ├── ConfigurationError      a bad marker argument, option, ignore path or setting (a ValueError)
    │   ├── EpochLimitError     a test runs more epochs than allowed without saying why
    │   └── UnsupportedSdk      wandb older than the supported window, or lacking an internal
    ├── NoMatch                 a replayed request has no recorded answer (also a LookupError)
    ├── ReplayError             a replayed test did not do what its cassette recorded
    │   └── RelayError          the relay could not serve it (no bytes to send, no descriptor left)
    ├── RecordingError          recording had to stop (upstream refused, a secret in a file name)
    │   └── JournalError        the crash journal cannot be written or read: nothing is recorded
    ├── CleanupError            what a test created could not be deleted, or a change not put back
    └── StateError              an object used in a state that forbids it (also a RuntimeError)

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
    "EpochLimitError",
    "JournalError",
    "MissingCassette",
    "NoMatch",
    "RecordingError",
    "RelayError",
    "ReplayError",
    "StateError",
    "UnsupportedSdk",
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

    def __init__(self, path: object, command: str, note: str = "") -> None:
        self.command = command
        WandbCassettesError.__init__(
            self, f"wandb cassette missing: {path}\nrecord it with:\n  {command}{note}"
        )
        self.path, self.line = str(path), None


class ConfigurationError(WandbCassettesError, ValueError):
    """A marker argument, option, ``ignore`` path or setting is not valid.

    The message names the setting and lists the valid forms.
    """


class EpochLimitError(ConfigurationError):
    """A test uses more epochs than its limit without a stated reason.

    The message names the test, the limit, and the marker that raises it
    (``@pytest.mark.wandb_epochs(n, reason=...)``).
    """


class UnsupportedSdk(ConfigurationError):
    """The installed wandb is older than the supported window, or lacks an SDK internal the
    library needs (:mod:`wandb_cassettes.compat`). One line, naming the supported range."""


class ReplayError(WandbCassettesError):
    """A replayed test asked for what its cassette cannot answer, or left recordings unplayed."""


class RelayError(ReplayError):
    """The relay could not serve a replayed request: a download with no bytes in the
    cassette, a blob that is missing, or no file descriptor left to accept a connection."""


class RecordingError(WandbCassettesError):
    """Recording stopped: nothing more may reach the upstream (e.g. no journal)."""


class JournalError(RecordingError):
    """The crash journal (``.wandb_cassettes/journal/``) cannot be written: no recording."""


class StateError(WandbCassettesError, RuntimeError):
    """An object was used in a state that forbids it: a server not started (or started
    twice), the process runtime not set up."""


class WandbCassetteWarning(UserWarning):
    """Something in a cassette deserves attention but does not fail the test."""


class NoMatch(WandbCassettesError, LookupError):
    """A live request has no recorded interaction; the message says what was asked and why not.

    ``key`` is the request's :class:`~wandb_cassettes.replay._matching.RequestKey`;
    ``candidates`` the recorded requests most like it, described. ``rerecord``: whether
    a new recording would answer it (False: the message says what else would, such as
    an ``ignore`` of values that change from run to run).
    """

    def __init__(
        self, key: Any, candidates: Sequence[str], message: str, *, rerecord: bool = True
    ) -> None:
        self.key = key
        self.candidates = list(candidates)
        self.rerecord = rerecord
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
