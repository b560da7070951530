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

Whatever server the code names goes through the relay too (:mod:`._servers` wraps the
SDK where it hands its server over; :mod:`._children` does the same in every process
the session starts). A session that only replays never looks for an upstream: it
neither reads one from the user's settings nor refuses one (``records=False``); the
upstream, and its key, are looked up when something first records
(:meth:`WandbProcess.ensure_recording`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import queue
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

from .. import compat
from ..errors import ConfigurationError, JournalError, RecordingError, StateError
from ..store import check_upstream, prune_cache
from . import _children as children
from . import _derived as derived
from . import _interop as interop
from . import _servers as servers
from . import _watchdog as reaper
from ._env import (
    NEUTRALISED,
    QUIET_SETTINGS,
    REPLAY_API_KEY,
    prewarm_sdk,
    recorded_settings,
    sdk_env,
)

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
    SDK's own default (:func:`.compat.default_base_url`; in wandb 0.31 the CoreWeave
    Forge API host, with ``api.wandb.ai`` behind it; ``api.wandb.ai`` in 0.29 and 0.30).
    """
    return upstream_and_source(environ)[0]


def upstream_and_source(environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """:func:`default_upstream` and where it comes from, as a message names it."""
    env = os.environ if environ is None else environ
    explicit = explicit_upstream(env)
    if explicit:
        return explicit, f"{UPSTREAM_ENV} or WANDB_BASE_URL"
    from wandb import Settings

    settings = Settings(silent=True)
    settings.settings_system = str(_user_settings_file(env))
    default = compat.default_base_url().rstrip("/"), "the SDK's default"
    try:
        settings.update_from_system_settings()
    except Exception:  # an unreadable settings file: the SDK reports and ignores it too
        return default
    if not settings.base_url or settings.base_url == compat.default_base_url():
        return default
    return str(settings.base_url).rstrip("/"), f"the base_url of {settings.settings_system}"


def _user_settings_file(environ: Mapping[str, str]) -> Path:
    """The user's wandb settings file, where the SDK looks for it (wandb/sdk/wandb_setup.py
    ``_load_settings``): ``$WANDB_CONFIG_DIR/settings``, else ``~/.config/wandb/settings``."""
    config_dir = environ.get("WANDB_CONFIG_DIR")
    folder = Path(config_dir).expanduser() if config_dir else Path("~/.config/wandb").expanduser()
    return folder / "settings"


def _settled_settings(rootdir: Path, workdir: Path) -> tuple[str, ...]:
    """The settings files (and the folder) the session's upstream stands for: the
    ``wandb/settings`` of the folder pytest started in and of its rootdir, the user's
    settings file, and the session's working folder (:attr:`.servers.Target.settled`)."""
    paths = (
        Path.cwd() / "wandb" / "settings",
        rootdir / "wandb" / "settings",
        _user_settings_file(os.environ),
        workdir,
    )
    return tuple(dict.fromkeys(str(p.resolve()) for p in paths))


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
    return compat.netrc_api_key(upstream)


def missing_key(upstream: str, netrc: str) -> str:
    """The one line that says a recording has no API key, and where the SDK looks for one
    (``WANDB_API_KEY``, else the netrc entry ``wandb login`` writes for the host in
    ``netrc``: ``$NETRC``, else ``~/.netrc``; wandb/sdk/lib/wbauth/wbnetrc.py)."""
    return (
        f"cannot record: no W&B API key for {upstream}: set WANDB_API_KEY, or run "
        f"`wandb login --host {upstream}` (the SDK reads that host's entry in {netrc}), or "
        "point --wandb-upstream at the server your key belongs to"
    )


def netrc_path(environ: Mapping[str, str] | None = None) -> Path:
    """The netrc file the SDK reads (wandb/sdk/lib/wbauth/wbnetrc.py, ``_get_netrc_file_path``):
    ``NETRC``, else ``~/.netrc``, else ``~/_netrc`` when only that one exists."""
    env = os.environ if environ is None else environ
    if env.get("NETRC"):
        return Path(env["NETRC"]).expanduser()
    unix, windows = Path("~/.netrc").expanduser(), Path("~/_netrc").expanduser()
    return windows if windows.exists() and not unix.exists() else unix


def netrc_key(path: Path, server: str) -> str | None:
    """The API key of ``server``'s entry in the netrc file ``path``, found as the SDK finds
    it (wandb/sdk/lib/wbauth/wbnetrc.py, ``read_netrc_auth_with_source``: the machine is the
    URL's ``host[:port]``, then the Forge host's W&B host): read here from a path fixed at
    the session's start, since the SDK's own reader follows ``NETRC``, which the session
    points at its private file."""
    import netrc

    try:
        entries = netrc.netrc(path)
    except (OSError, netrc.NetrcParseError):
        return None
    machines = [urlsplit(server).netloc]
    forge = compat.forge_host(server)
    if forge:
        machines.append(urlsplit(forge).netloc)
    for machine in dict.fromkeys(m for m in machines if m):
        found = entries.authenticators(machine)
        if found and found[2]:
            return found[2]
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
        upstream: The W&B base URL recordings go to, not checked yet; None:
            :func:`default_upstream`, looked up when first needed (the SDK's default
            costs a ``wandb`` import, which a pytest run without cassettes should not pay).
        rootdir: The project's root: working files go under ``<rootdir>/.wandb_cassettes``.
        report: Where to say things the user must see (the terminal).
        records: Whether this session records (a record mode other than ``none``): the
            upstream and its key are then looked up as the relay starts. A session that
            only replays looks for neither (:meth:`ensure_recording` does, should a
            cassette of it record after all).
        source: Where ``upstream`` comes from, for messages.
    """

    def __init__(
        self,
        upstream: str | None,
        rootdir: Path,
        report: Callable[[str], None] = print,
        *,
        records: bool = True,
        source: str = "upstream",
    ) -> None:
        self._upstream = upstream
        self._source = source
        self._checked: str | None = None
        self.records = records
        self.rootdir = rootdir
        self.report = report
        #: Cassettes written in this session (``--wandb-audit``, shared names).
        self.written: list[Path] = []
        #: The text of each cassette this process recorded, as it wrote it: a later test of
        #: the session that shares its name replays this, whatever another process (an
        #: xdist worker under ``--dist each``) has written to the file since.
        self.recorded: dict[Path, str] = {}
        #: What each recording of this session did (:class:`Recorded`), for its summary.
        self.recordings: list[Recorded] = []
        #: The user's values of :data:`.env.RECORDED_SETTINGS`, applied while recording.
        self.user_settings: dict[str, str] = {}
        #: The API key for the upstream, None when none was found (replay needs none).
        self.api_key: str | None = None
        #: The netrc file the SDK reads keys from in the user's shell (messages name it).
        self.user_netrc = os.environ.get("NETRC") or "~/.netrc"
        self._relay: Relay | None = None
        self._journal: Journal | None = None
        #: Journals of the other W&B servers the code named, by server.
        self._journals: dict[str, Journal] = {}
        #: Servers whose leftovers of interrupted recordings this session swept (or tried).
        self._swept: set[str] = set()
        #: The user's own ``WANDB_API_KEY`` and netrc file, as they were before the session.
        self._user_key: str | None = None
        self._user_netrc: Path | None = None
        self._saved_env: dict[str, str | None] = {}
        self._workdir: Path | None = None
        self._settled: tuple[str, ...] = ()
        self._shell_names_server = False
        self._trash = _Trash()
        self._started_at = time.time()
        self._lock = threading.Lock()
        #: The WANDB_* environment as the session set it, restored for each cassette.
        self._baseline: dict[str, str] = {}

    @property
    def upstream(self) -> str:
        """The W&B base URL recordings go to (checked: https, or http on loopback).

        Raises:
            ConfigurationError: It is not one an API key may be sent to (the message names
                where it came from: an option, a variable, the user's settings file).
        """
        if self._checked is None:
            if self._upstream:
                url, source = self._upstream, self._source
            else:
                url, source = upstream_and_source()
            self._checked = check_upstream(url, source=source)
        return self._checked

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self._relay is not None

    def _target(self, relay: str, upstream: str | None) -> servers.Target:
        return servers.Target(relay, upstream, self._settled, self._shell_names_server)

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
            UnsupportedSdk: The installed wandb is older than the supported window, or
                lacks an SDK internal without a fallback (:func:`.compat.check_sdk`):
                checked first, before anything starts.
            RecordingError: wandb was already set up in this process for another
                server with a run still going: its traffic could not be stopped.
        """
        with self._lock:
            if self._relay is not None:
                return self._relay
            compat.check_version()  # no wandb import: an old SDK is refused in one line
            from ..record import Relay  # aiohttp (~150 ms): only once a cassette is used

            children.disown()  # a process of another session's (pytest run by a test)
            upstream = self.upstream if self.records else None
            servers.install()  # ConfigurationError: a wandb whose server cannot be taken
            relay = Relay(upstream).start()
            reaper.guard()  # SIGTERM ends the session cleanly; no wandb-core outlives a SIGKILL
            interop.RELAY_PORTS.add(urlsplit(relay.url).port or 0)
            self._workdir = Path(tempfile.mkdtemp(prefix="wandb-cassettes-"))
            user_key = os.environ.get("WANDB_API_KEY") or None
            self._user_key = user_key if user_key != REPLAY_API_KEY else None
            self._user_netrc = netrc_path()
            self.api_key = upstream_api_key(upstream) if upstream else None
            relay.injected = {REPLAY_API_KEY, *self._found_key()}
            relay.key_for = self.key_for
            self.user_settings = recorded_settings(os.environ)
            self._settled = _settled_settings(self.rootdir, self._workdir)
            self._shell_names_server = bool(os.environ.get("WANDB_BASE_URL"))
            values = sdk_env(relay.url, self.api_key or REPLAY_API_KEY, self._workdir)
            values[children.SESSION_ENV] = str(self._workdir / "session.json")
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
            servers.point(self._target(relay.url, upstream))
            state = self._workdir / "session.json"
            children.begin_session(state, self._target(relay.url, upstream), QUIET_SETTINGS)
            children.install_pth(state)
            # Joined at once: while that thread imports, pydantic parses class sources
            # (ast.parse, its use_attribute_docstrings), and an ast.parse in another thread
            # at the same time (pytest's assertion rewriting of a lazily imported module)
            # can fail with "SystemError: AST constructor recursion depth mismatch":
            # CPython 3.11 keeps that depth per interpreter (python/cpython#106905).
            prewarm_sdk().join()
            for note in compat.check_sdk():  # wandb is imported now: its internals probed
                self.report(note)
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
        """Close the journals, stop the relay, restore the environment. Idempotent."""
        reaper.unguard()
        children.remove_pth()  # first: nothing below may leave it in site-packages
        if self._relay is not None:
            children.end_session()
            servers.point(None)
        journals = [self._journal, *self._journals.values()]
        self._journal, self._journals = None, {}
        for journal in journals:
            if journal is None:
                continue
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

    def journal(self, server: str | None = None) -> Journal:
        """This session's journal of creates on ``server`` (None: the upstream); the
        upstream's first sweeps what dead sessions left there.

        Another server's journal is only opened here (this may run on the relay's thread,
        where nothing may wait for the network): :meth:`sweep_server` sweeps it later.

        Raises:
            JournalError: The journal cannot be written (the message names the path).
        """
        from .. import cleanup as journal  # loads with the first recording (start-up)

        directory = self.files / "journal"
        if server is not None and server != self.upstream:
            with self._lock:
                if server not in self._journals:
                    tag = hashlib.sha256(server.encode()).hexdigest()[:12]
                    self._journals[server] = journal.Journal(directory, server, tag)
                return self._journals[server]
        if self._journal is None:
            self._swept.add(self.upstream)
            with servers.direct():  # the sweep goes to the upstream itself, unrecorded
                self._sweep_orphans(self.upstream, self.api_key)
            self._journal = journal.Journal(directory, self.upstream)
        return self._journal

    def sweep_server(self, server: str) -> None:
        """Sweep, once per session, what interrupted recordings left on ``server``: a server
        the code named and this session recorded to (its journal names it; the sweep goes
        straight there, not through the relay)."""
        if server in self._swept:
            return
        self._swept.add(server)
        with servers.direct():
            self._sweep_orphans(server, self.server_key(server))

    def _sweep_orphans(self, upstream: str, api_key: str | None) -> None:
        from .. import cleanup as journal

        directory = self.files / "journal"
        unusable: list[JournalError] = []
        # Only journals of this server: one the user records against.
        orphans = [
            j for j in journal.orphaned(directory, unusable=unusable) if j.upstream == upstream
        ]
        for exc in unusable if upstream == self.upstream else []:
            self.report(str(exc))
        left = sum(j.pending for j in orphans)
        problem = journal.unreachable(upstream) if left else None
        if problem:
            # Checked first: the SDK would retry each delete for many seconds.
            self.report(
                f"not swept: {left} leftover(s) of interrupted recordings ({problem}); "
                "they stay in the journal for the next session or `wandb-cassettes sweep`"
            )
        elif orphans:
            result = journal.sweep(orphans, upstreams=[upstream], api_key=api_key)
            restored = f", restored {len(result.restored)} change(s)" if result.restored else ""
            where = "" if upstream == self.upstream else f" on {upstream}"
            self.report(
                f"swept {len(result.deleted)} leftover(s) of interrupted recordings"
                f"{where}{restored}"
            )
            for line in result.failed + result.skipped + result.unidentified:
                self.report(f"could not sweep {line}")
            for line in result.lasting:
                self.report(f"an interrupted recording left, and nothing undoes: {line}")

    # -- keys -------------------------------------------------------------------------------

    def _found_key(self) -> list[str]:
        """The upstream's key when this session found it (netrc), not the user's variable:
        a key that must go to the upstream only."""
        key = self.api_key
        return [key] if key and key != self._user_key else []

    def key_for(self, server: str) -> str | None:
        """The key the SDK would use for ``server`` in the user's shell: ``WANDB_API_KEY``
        (the SDK's first choice for any server: wandb/sdk/lib/wbauth/authenticate.py,
        ``_use_system_auth``), else the netrc entry for that server."""
        if self._user_key:
            return self._user_key
        return netrc_key(self._user_netrc, server) if self._user_netrc is not None else None

    def server_key(self, server: str) -> str | None:
        """The key for ``server`` that the library's own calls use (the cleanup): the one
        the SDK sent there in this session, else :meth:`key_for`."""
        relay = self._relay
        return (relay.keys.get(server) if relay is not None else None) or self.key_for(server)

    def ensure_recording(self) -> None:
        """Make sure this session can record: its upstream (looked up and checked now in a
        session that only replayed so far) and the key for it.

        Raises:
            ConfigurationError: The upstream is not one a key may be sent to.
            RecordingError: No key was found for it (see :meth:`check_recording`).
        """
        relay = self.relay()
        if not relay.upstream:
            upstream = self.upstream
            with self._lock:
                relay.upstream = upstream
                key = self.key_for(upstream)
                self.api_key = key
                relay.injected.update(self._found_key())
                if key:
                    os.environ["WANDB_API_KEY"] = self._baseline["WANDB_API_KEY"] = key
                    # The SDK read the replay placeholder: it reads WANDB_API_KEY again.
                    compat.forget_session_key()
                servers.point(self._target(relay.url, upstream))
                children.set_upstream(upstream)
        self.check_recording()

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
        compat.clear_artifact_caches()

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
            raise RecordingError(missing_key(self.upstream, self.user_netrc))

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _reset_sdk_setup(relay_url: str) -> None:
        """A wandb already set up for another server is set up again, for the relay.

        Raises:
            RecordingError: A run of that set-up is still going (its traffic
                would keep reaching the other server).
        """
        singleton = compat.setup_singleton(own=True)
        if singleton is None:
            return
        settings = compat.setup_settings(singleton)
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
    """Whether a ``WANDB_SERVICE`` token names a service another process started
    (:func:`.compat.service_token_pid`)."""
    pid = compat.service_token_pid(token)
    return pid is not None and pid != os.getpid()


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
    compat.forget_setup_settings()


_shared: WandbProcess | None = None


def set_shared(process: WandbProcess | None) -> None:
    """Make ``process`` the one :func:`shared_process` returns (the pytest plugin's)."""
    global _shared
    _shared = process


def shared_process(upstream: str | None, rootdir: Path) -> WandbProcess:
    """This process's runtime: the pytest plugin's, or one made now and stopped at exit.

    Raises:
        ConfigurationError: ``upstream`` differs from the one the process already uses.
    """
    global _shared
    wanted = check_upstream(upstream, source="upstream") if upstream else None
    if _shared is None:
        import atexit

        # Looked up (and checked) when something records: replay needs no upstream.
        _shared = WandbProcess(
            wanted or explicit_upstream(),
            rootdir,
            records=False,
            source="upstream" if wanted else f"{UPSTREAM_ENV} or WANDB_BASE_URL",
        )
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
            from ..record import background_thread  # the relay's module: loaded by now

            self._thread = background_thread(self._run, name="wandb-cassettes-trash")
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
