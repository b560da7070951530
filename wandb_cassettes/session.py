"""One pytest process's W&B set-up: the relay, the SDK's environment, the journal.

The wandb SDK reads its environment once per process (at ``wandb.setup()``),
so the first marked test starts one relay, points the SDK at it for the rest
of the process, and each marked test only swaps the relay's cassette. Created
lazily: a suite that uses no cassette starts nothing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from . import interop, reaper
from .env import REPLAY_API_KEY, prewarm_sdk, sdk_env

if TYPE_CHECKING:
    from .journal import Journal
    from .relay import Relay


@dataclass
class ProcessSession:
    """The relay and what it replaced; :meth:`stop` puts everything back."""

    upstream: str
    rootdir: Path
    report: Callable[[str], None] = print
    written: list[Path] = field(default_factory=list)
    _relay: Relay | None = None
    _journal: Journal | None = None
    _saved_env: dict[str, str | None] = field(default_factory=dict)
    _workdir: Path | None = None

    @property
    def workdir(self) -> Path | None:
        """Where the SDK keeps its files (runs, cache) for this process."""
        return self._workdir

    def relay(self) -> Relay:
        """The relay, started (and the SDK pointed at it) on first use."""
        if self._relay is None:
            from .relay import Relay

            relay = Relay(self.upstream).start()
            reaper.guard()  # SIGTERM ends the session cleanly; no wandb-core outlives a SIGKILL
            interop.RELAY_PORTS.add(urlsplit(relay.url).port or 0)
            self._workdir = Path(tempfile.mkdtemp(prefix="wandb-cassettes-"))
            api_key = os.environ.get("WANDB_API_KEY") or REPLAY_API_KEY
            values = sdk_env(relay.url, api_key, self._workdir)
            self._saved_env = {k: os.environ.get(k) for k in values}
            os.environ.update(values)
            self._relay = relay
            prewarm_sdk()
        return self._relay

    def journal(self) -> Journal:
        """This session's journal of creates; first sweeps what dead sessions left."""
        if self._journal is None:
            from . import journal

            directory = self.rootdir / journal.JOURNAL_DIR
            orphans = [j for j in journal.orphaned(directory) if j.upstream == self.upstream]
            if orphans:
                deleted, failed = journal.sweep(orphans, api_key=os.environ.get("WANDB_API_KEY"))
                self.report(f"swept {len(deleted)} leftover(s) of interrupted recordings")
                for line in failed:
                    self.report(f"could not sweep {line}")
            self._journal = journal.Journal(directory, self.upstream)
        return self._journal

    def reset_sdk_files(self) -> None:
        """Empty the SDK's artifact cache so downloads never depend on test order."""
        if self._workdir is not None:
            for sub in ("cache", "artifacts", "data"):
                shutil.rmtree(self._workdir / sub, ignore_errors=True)

    def stop(self) -> None:
        """Close the journal, stop the relay, restore the environment. Idempotent."""
        reaper.unguard()
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        if self._relay is not None:
            interop.RELAY_PORTS.discard(urlsplit(self._relay.url).port or 0)
            self._relay.stop()
            self._relay = None
        for k, v in self._saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        self._saved_env = {}
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
