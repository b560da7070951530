"""One process's W&B set-up: the relay, the SDK's environment, the child hook, the journal.

The wandb SDK reads its environment once per process (at ``wandb.setup()``),
so a process that uses cassettes points the SDK at one relay for its whole
life, before any of its code (a session fixture, an unmarked test) can set
the SDK up for another server; each cassette then only pushes its session on
the relay. :meth:`WandbProcess.start` does that and is idempotent; the pytest
plugin calls it when the test loop starts with a test that uses cassettes, and
:func:`wandb_cassettes.use_cassette` on first use.

Isolation from the shell it runs in (see :mod:`.env`): the relay is reachable
past any proxy, ``WANDB_*`` variables that would change requests are taken
out for the session (those that say what the user means, such as
``WANDB_ENTITY``, are recorded into each cassette and applied again when it
replays), ``wandb.login(key=...)`` writes a private netrc, and SDK state that
outlives a test (artifact caches) is reset between cassettes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import queue
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..errors import ConfigurationError, JournalError, RecordingError, StateError
from ..store import check_upstream, prune_cache
from . import _children as children
from . import _derived as derived
from . import _interop as interop
from . import _watchdog as reaper
from ._env import NEUTRALISED, REPLAY_API_KEY, prewarm_sdk, recorded_settings, sdk_env

if TYPE_CHECKING:
    from ..cleanup import Journal
    from ..record import Relay

UPSTREAM_ENV = "WANDB_CASSETTES_UPSTREAM"
WORKDIR_NAME = ".wandb_cassettes"


def explicit_upstream(environ: Mapping[str, str] | None = None) -> str | None:
    """``WANDB_CASSETTES_UPSTREAM``, else the shell's ``WANDB_BASE_URL``, else None."""
    env = os.environ if environ is None else environ
    explicit = env.get(UPSTREAM_ENV) or env.get("WANDB_BASE_URL")
    return explicit.rstrip("/") if explicit else None


def default_upstream(environ: Mapping[str, str] | None = None) -> str:
    """The upstream a recording uses when none is given: where the SDK itself would go.

    :func:`explicit_upstream`, else the ``base_url`` of the user's wandb settings
    files (``wandb login --host`` writes it to ``$WANDB_CONFIG_DIR/settings`` or
    ``~/.config/wandb/settings``; a project's ``wandb/settings`` too), read the way
    the SDK reads them (wandb/sdk/wandb_setup.py, ``_load_settings``), else the
    SDK's own default (``wandb.sdk.lib.urls.DEFAULT_BASE_URL``; in wandb 0.31 the
    CoreWeave Forge API host, with ``api.wandb.ai`` behind it).
    """
    env = os.environ if environ is None else environ
    explicit = explicit_upstream(env)
    if explicit:
        return explicit
    from wandb.sdk.lib import urls
    from wandb.sdk.wandb_settings import Settings

    settings = Settings(silent=True)
    config_dir = env.get("WANDB_CONFIG_DIR")
    folder = Path(config_dir).expanduser() if config_dir else Path("~/.config/wandb").expanduser()
    settings.settings_system = str(folder / "settings")
    try:
        settings.update_from_system_settings()
    except Exception:  # an unreadable settings file: the SDK reports and ignores it too
        return str(urls.DEFAULT_BASE_URL).rstrip("/")
    return str(settings.base_url or urls.DEFAULT_BASE_URL).rstrip("/")


def upstream_api_key(upstream: str, environ: dict[str, str] | None = None) -> str | None:
    """The API key for ``upstream``, found where the SDK finds it.

    ``WANDB_API_KEY``, else the netrc entry that ``wandb login`` wrote for
    that host (read with the SDK's own reader, which also knows the Forge
    host's ``api.wandb.ai`` alias). A key the test gives ``wandb.login(key=...)``
    reaches the upstream through the relay as it is.
    """
    env = os.environ if environ is None else environ
    key = env.get("WANDB_API_KEY")
    if key and key != REPLAY_API_KEY:
        return key
    try:
        from wandb.sdk.lib import wbauth

        return wbauth.read_netrc_auth(host=upstream) or None
    except Exception:
        return None


@dataclass(frozen=True)
class Recorded:
    """What one recording did: the session's summary line adds them up.

    ``kept``: as the cassette (``"new"`` or ``"replaced"``), or beside it as
    ``"failed"`` (``<name>.yaml.failed``); then the counts of W&B resources the
    recording's ledger saw created, deleted, kept on purpose, left (leaks), and left
    by design (projects, sweeps: no API deletes them).
    """

    path: str
    kept: str
    created: int = 0
    deleted: int = 0
    kept_on_purpose: int = 0
    left: int = 0
    left_by_design: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def summarise(recorded: Iterable[Recorded]) -> str:
    """One line: ``recorded 3 cassette(s) (2 new, 1 replaced), 1 failed recording kept as
    .yaml.failed; W&B resources created 5, deleted 5, kept 0, left 0`` (and what is left by
    design, when any)."""
    done = list(recorded)
    saved = [r for r in done if r.kept != "failed"]
    new = sum(1 for r in saved if r.kept == "new")
    failed = len(done) - len(saved)
    line = f"recorded {len(saved)} cassette(s) ({new} new, {len(saved) - new} replaced)"
    if failed:
        line += f", {failed} failed recording(s) kept as .yaml.failed"
    total = {
        name: sum(getattr(r, name) for r in done)
        for name in ("created", "deleted", "kept_on_purpose", "left", "left_by_design")
    }
    line += (
        f"; W&B resources created {total['created']}, deleted {total['deleted']}, "
        f"kept {total['kept_on_purpose']}, left {total['left']}"
    )
    if total["left_by_design"]:
        line += f" (and {total['left_by_design']} left by design: projects, sweeps)"
    return line


class WandbProcess:
    """The relay and everything it replaced in this process; :meth:`stop` puts it back.

    Args:
        upstream: The W&B base URL recordings go to; None: :func:`default_upstream`,
            looked up when first needed (the SDK's default costs a ``wandb`` import,
            which a pytest run without cassettes should not pay).
        rootdir: The project's root: working files go under ``<rootdir>/.wandb_cassettes``.
        report: Where to say things the user must see (the terminal).
    """

    def __init__(
        self, upstream: str | None, rootdir: Path, report: Callable[[str], None] = print
    ) -> None:
        self._upstream = upstream
        self.rootdir = rootdir
        self.report = report
        #: Cassettes written in this session (``--wandb-audit``, shared names).
        self.written: list[Path] = []
        #: What each recording of this session did (:class:`Recorded`), for its summary.
        self.recorded: list[Recorded] = []
        #: The user's values of :data:`.env.RECORDED_SETTINGS`, applied while recording.
        self.user_settings: dict[str, str] = {}
        #: The API key for the upstream, None when none was found (replay needs none).
        self.api_key: str | None = None
        #: The netrc file the SDK reads keys from in the user's shell (messages name it).
        self.user_netrc = os.environ.get("NETRC") or "~/.netrc"
        self._relay: Relay | None = None
        self._journal: Journal | None = None
        self._saved_env: dict[str, str | None] = {}
        self._workdir: Path | None = None
        self._trash = _Trash()
        self._started_at = time.time()
        self._lock = threading.Lock()
        #: The WANDB_* environment as the session set it, restored for each cassette.
        self._baseline: dict[str, str] = {}

    @property
    def upstream(self) -> str:
        """The W&B base URL recordings go to (checked: https, or http on loopback)."""
        if self._upstream is None:
            self._upstream = check_upstream(default_upstream(), source="the SDK's default")
        return self._upstream

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self._relay is not None

    @property
    def workdir(self) -> Path:
        """Where the SDK keeps its files (runs, cache) for this process."""
        if self._workdir is None:
            raise StateError("the wandb-cassettes process runtime is not started")
        return self._workdir

    @property
    def files(self) -> Path:
        """The library's working files: ``<rootdir>/.wandb_cassettes``."""
        return self.rootdir / WORKDIR_NAME

    def start(self) -> Relay:
        """Start the relay and point the SDK at it (once); returns the relay.

        Raises:
            RecordingError: wandb was already set up in this process for another
                server with a run still going: its traffic could not be stopped.
        """
        with self._lock:
            if self._relay is not None:
                return self._relay
            from ..record import Relay  # aiohttp (~150 ms): only once a cassette is used

            relay = Relay(self.upstream).start()
            reaper.guard()  # SIGTERM ends the session cleanly; no wandb-core outlives a SIGKILL
            interop.RELAY_PORTS.add(urlsplit(relay.url).port or 0)
            self._workdir = Path(tempfile.mkdtemp(prefix="wandb-cassettes-"))
            self.api_key = upstream_api_key(self.upstream)
            self.user_settings = recorded_settings(os.environ)
            values = sdk_env(relay.url, self.api_key or REPLAY_API_KEY, self._workdir)
            touched = {*values, *NEUTRALISED, SERVICE_ENV}
            self._saved_env = {k: os.environ.get(k) for k in touched}
            for name in NEUTRALISED:
                os.environ.pop(name, None)
            if _inherited_service(os.environ.get(SERVICE_ENV)):
                # Another process's wandb-core (pytest-xdist's controller, whose conftest
                # called wandb.setup()): started with that process's settings, not the
                # relay's quiet ones; this process starts its own.
                os.environ.pop(SERVICE_ENV, None)
            os.environ.update(values)
            # WANDB_SERVICE is the SDK's own connection to its service (set, and cleared by
            # wandb.teardown(), by the SDK): never part of what each cassette starts from.
            self._baseline = {
                k: v for k, v in os.environ.items() if k.startswith("WANDB_") and k != SERVICE_ENV
            }
            self._relay = relay
            children.install_pth()
            # Joined at once: while that thread imports, pydantic parses class sources
            # (ast.parse, its use_attribute_docstrings), and an ast.parse in another thread
            # at the same time (pytest's assertion rewriting of a lazily imported module)
            # can fail with "SystemError: AST constructor recursion depth mismatch":
            # CPython 3.11 keeps that depth per interpreter (python/cpython#106905).
            prewarm_sdk().join()
            derived.install()  # wandb is imported by now
        self._reset_sdk_setup(relay.url)
        return relay

    def prewarm(self, modules: Iterable[str]) -> None:
        """Import ``modules`` now, from a shallow stack (:func:`.env.prewarm_sdk`), unless
        this process has them already. Call it between tests, never from the relay."""
        missing = [m for m in modules if m not in sys.modules]
        if missing:
            prewarm_sdk(missing).join()

    def relay(self) -> Relay:
        """The relay, started on first use."""
        return self._relay or self.start()

    def stop(self) -> None:
        """Close the journal, stop the relay, restore the environment. Idempotent."""
        reaper.unguard()
        children.remove_pth()  # first: nothing below may leave it in site-packages
        journal, self._journal = self._journal, None
        if journal is not None:
            try:
                journal.close()
            except JournalError as exc:
                self.report(str(exc))  # the session is over: said, not raised
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
        self._trash.close()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        prune_cache(self.files / "cache", used_since=self._started_at)

    # -- per cassette ---------------------------------------------------------------------

    def journal(self) -> Journal:
        """This session's journal of creates; first sweeps what dead sessions left.

        Raises:
            JournalError: The journal cannot be written (the message names the path).
        """
        if self._journal is None:
            from .. import cleanup as journal  # loads with the first recording (start-up)

            directory = self.files / "journal"
            unusable: list[JournalError] = []
            # Only journals of this upstream: the one the user records against.
            orphans = [
                j
                for j in journal.orphaned(directory, unusable=unusable)
                if j.upstream == self.upstream
            ]
            for exc in unusable:
                self.report(str(exc))
            left = sum(j.pending for j in orphans)
            problem = journal.unreachable(self.upstream) if left else None
            if problem:
                # Checked first: the SDK would retry each delete for many seconds.
                self.report(
                    f"not swept: {left} leftover(s) of interrupted recordings ({problem}); "
                    "they stay in the journal for the next session or `wandb-cassettes sweep`"
                )
            elif orphans:
                result = journal.sweep(orphans, upstreams=[self.upstream], api_key=self.api_key)
                restored = f", restored {len(result.restored)} change(s)" if result.restored else ""
                self.report(
                    f"swept {len(result.deleted)} leftover(s) of interrupted recordings{restored}"
                )
                for line in result.failed + result.skipped + result.unidentified:
                    self.report(f"could not sweep {line}")
            self._journal = journal.Journal(directory, self.upstream)
        return self._journal

    def reset_sdk_state(self) -> None:
        """Forget SDK state that would make one cassette depend on another.

        The ``WANDB_*`` environment goes back to what the session set (the
        SDK's own code leaves variables behind: ``wandb.agent`` sets
        ``WANDB_ENTITY``, ``WANDB_SWEEP_ID``... for its runs and never unsets
        them); the artifact caches (files, and the instance caches keyed by
        server id: two cassettes recorded against different servers can share
        ids) are emptied, so that downloads and lookups never depend on test order.
        """
        self.restore_environment()
        if self._workdir is not None:
            for sub in ("cache", "artifacts", "data"):
                folder = self._workdir / sub
                if not _is_empty(folder):  # most tests leave none: no rmtree and mkdir
                    shutil.rmtree(folder, ignore_errors=True)
                    folder.mkdir(parents=True, exist_ok=True)

    def discard_finished_runs(self, active: Iterable[str | os.PathLike[str]]) -> None:
        """Delete the SDK's folders of finished runs, in the background.

        Each run leaves a folder under ``<workdir>/wandb`` (its logs, config and summary
        files); deleting them at the end of the session took 2 ms per test on an idle
        disk and 21 ms under contention, all on the session's critical path. A folder is
        handed to a background thread once its cassette stops, except those of
        ``active`` runs (a scoped fixture's run goes on).
        """
        if self._workdir is None:
            return
        keep = {os.path.realpath(a) for a in active}
        with contextlib.suppress(OSError), os.scandir(self._workdir / "wandb") as found:
            for entry in found:
                if (
                    entry.name.startswith(("run-", "offline-run-"))
                    and entry.is_dir(follow_symlinks=False)
                    and os.path.realpath(entry.path) not in keep
                ):
                    self._trash.put(Path(entry.path))
        caches = sys.modules.get("wandb.sdk.artifacts.artifact_instance_cache")
        if caches is not None:
            for name in ("artifact_instance_cache", "artifact_instance_cache_by_client_id"):
                getattr(caches, name, {}).clear()
        file_cache = sys.modules.get("wandb.sdk.artifacts.artifact_file_cache")
        if file_cache is not None:
            # ``download(skip_cache=True)`` sets ``_override_cache_path`` on the process-wide
            # file cache and never unsets it (wandb 0.31, WandbStoragePolicy.load_file): every
            # later lookup would answer with that file, a later test's download included.
            file_cache._build_artifact_file_cache.cache_clear()
        gqlutils = sys.modules.get("wandb.sdk.artifacts._gqlutils")
        if gqlutils is not None:
            # Server features and an entity's organization are cached per public-API
            # object (wandb 0.31, _gqlutils.py lru_cache): with a ``wandb.Api()`` shared by
            # a session fixture, only the first test would ask, whichever it is.
            for name in ("_server_features", "org_info_from_entity"):
                cached = getattr(gqlutils, name, None)
                if cached is not None and hasattr(cached, "cache_clear"):
                    cached.cache_clear()

    def restore_environment(self) -> None:
        """The ``WANDB_*`` environment as the session set it (what code under test left goes)."""
        if not self._baseline:
            return
        for name in [k for k in os.environ if k.startswith("WANDB_")]:
            if name not in self._baseline and name != SERVICE_ENV:
                del os.environ[name]
        os.environ.update(self._baseline)
        _forget_sdk_settings()

    def check_recording(self) -> None:
        """Raise when recording cannot work: no API key was found for the upstream."""
        if self.api_key is None:
            raise RecordingError(
                f"recording needs an API key for {self.upstream}: set WANDB_API_KEY, or run "
                f"`wandb login --host {self.upstream}` (the netrc entry is read), or point "
                "--wandb-upstream at the server your key belongs to"
            )

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _reset_sdk_setup(relay_url: str) -> None:
        """A wandb already set up for another server is set up again, for the relay.

        Raises:
            RecordingError: A run of that set-up is still going (its traffic
                would keep reaching the other server).
        """
        setup = sys.modules.get("wandb.sdk.wandb_setup")
        singleton = getattr(setup, "_singleton", None) if setup is not None else None
        if singleton is None or getattr(singleton, "_pid", None) != os.getpid():
            return
        settings = getattr(singleton, "_settings", None)
        base_url = str(getattr(settings, "base_url", "") or "")
        if base_url.rstrip("/") == relay_url:
            return
        active = getattr(singleton, "_active_runs", None) or []
        if active:
            raise RecordingError(
                f"wandb was set up in this process for {base_url} before wandb-cassettes "
                f"started, and run {active[-1].id} is still going: its traffic cannot be "
                "moved to the relay. Start runs inside tests or fixtures, not at import time."
            )
        import wandb

        wandb.teardown()  # the next wandb.setup() reads the relay's environment


#: The SDK's connection to its running service (``wandb.env.SERVICE``).
SERVICE_ENV = "WANDB_SERVICE"


def _inherited_service(token: str | None) -> bool:
    """Whether a ``WANDB_SERVICE`` token names a service another process started.

    The token is ``<version>-<pid of the process that started it>-unix|tcp-...``
    (wandb/sdk/lib/service/service_token.py, ``_as_env_string``).
    """
    match = re.match(r"\d+-(\d+)-", token or "")
    return match is not None and int(match.group(1)) != os.getpid()


def _forget_sdk_settings() -> None:
    """Make the SDK read its settings from the environment again at its next ``wandb.init``.

    wandb 0.31 reads ``WANDB_*`` once, into the process's setup singleton
    (wandb/sdk/wandb_setup.py, ``_WandbSetup._load_settings``), and ignores later
    changes ("Changes to your wandb environment variables will be ignored", its
    wandb_init.py): a test that sets ``WANDB_PROJECT`` with ``monkeypatch`` would run
    differently after another test's ``wandb.init``. The singleton reloads them when
    its settings are unset (its ``settings`` property and ``_update``); its service
    connection, and the settings each open run keeps, are left as they are.
    """
    setup = sys.modules.get("wandb.sdk.wandb_setup")
    singleton = getattr(setup, "_singleton", None) if setup is not None else None
    if singleton is not None and getattr(singleton, "_pid", None) == os.getpid():
        singleton._settings = None
        singleton._settings_environ = None


_shared: WandbProcess | None = None


def set_shared(process: WandbProcess | None) -> None:
    """Make ``process`` the one :func:`shared_process` returns (the pytest plugin's)."""
    global _shared
    _shared = process


def _checked(upstream: str | None) -> str | None:
    return check_upstream(upstream, source=UPSTREAM_ENV) if upstream else None


def shared_process(upstream: str | None, rootdir: Path) -> WandbProcess:
    """This process's runtime: the pytest plugin's, or one made now and stopped at exit.

    Raises:
        ConfigurationError: ``upstream`` differs from the one the process already uses.
    """
    global _shared
    wanted = check_upstream(upstream, source="upstream") if upstream else None
    if _shared is None:
        import atexit

        _shared = WandbProcess(wanted or _checked(explicit_upstream()), rootdir)
        atexit.register(_shared.stop)
    elif wanted and wanted != _shared.upstream:
        raise ConfigurationError(
            f"upstream={wanted!r}: this process already records against "
            f"{_shared.upstream!r} (the SDK reads its address once per process)"
        )
    return _shared


def _is_empty(folder: Path) -> bool:
    """Whether ``folder`` holds nothing (a missing folder counts as not empty: made anew)."""
    try:
        with os.scandir(folder) as entries:
            return next(entries, None) is None
    except OSError:
        return False


class _Trash:
    """Deletes folders in a background thread (a daemon: it never keeps the process
    alive; :meth:`close` joins it). Each folder is renamed first, so that nothing that
    runs meanwhile finds it half deleted."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Path | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def put(self, folder: Path) -> None:
        trash = folder.with_name(f".trash-{folder.name}")
        try:
            folder.rename(trash)
        except OSError:
            return  # gone already, or not ours to move: left for the end of the session
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="wandb-cassettes-trash", daemon=True
            )
            self._thread.start()
        self._queue.put(trash)

    def close(self, timeout: float = 30.0) -> None:
        """Delete what is queued, then stop the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while (folder := self._queue.get()) is not None:
            shutil.rmtree(folder, ignore_errors=True)
