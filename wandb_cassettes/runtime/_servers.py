"""Whatever W&B server the code names, the SDK's requests for it go through the relay.

The environment (``WANDB_BASE_URL``) points the SDK at the relay only while the code
leaves the server to it. Code names its own server in many ways: ``wandb.login(host=)``,
``wandb.Settings(base_url=)``, ``wandb.Api(overrides={"base_url": ...})``, a settings
file (``wandb login --host``; the ``wandb/settings`` of a folder a test goes into, which
the session's ``WANDB_BASE_URL`` would otherwise hide: :meth:`Target.server`),
``WANDB_BASE_URL`` set inside a test. All of them end in
one place in wandb 0.31, the ``base_url`` of a ``wandb.Settings``, and the SDK reads it
from there in two ways only:

* **wandb-core** (every run request, every public-API request) gets its settings as a
  protobuf made by ``Settings.to_proto()`` (wandb/sdk/wandb_settings.py), the SDK's
  only way to hand them over: wandb/sdk/wandb_init.py (``inform_init``),
  wandb/apis/public/service_api.py (``api_init_request``, which ``wandb.Api`` and
  ``wandb.login``'s key check use), wandb/sdk/lib/service/service_connection.py
  (``init_sync``, ``init_sweep_scheduler``), wandb/sdk/artifacts/artifact.py (a
  download outside a run);
* **in-process Python** builds URLs from ``ServiceApi.base_url``
  (wandb/apis/public/service_api.py): artifact downloads without a signed URL
  (wandb/sdk/artifacts/storage_policies/wandb_storage_policy.py ``_file_url``), a run
  file's relative upload URL (wandb/apis/public/runs.py ``upload_file``), evaluation
  tables (wandb/sdk/data_types/eval_table/_writer_ces.py). The SDK's own telemetry
  (wandb/analytics/opentelemetry/opentelemetry_proxy.py, which posts to the settings'
  ``base_url`` from Python) is turned off for the process (its ``disable()``), as the
  session's environment already asks (``WANDB_ERROR_REPORTING=false``).

:func:`install` wraps both, so the protobuf and the URL say ``<relay>/_srv/<server>``
(:func:`.store.server_route`) for whatever server the settings name, and the relay URL
itself for the session's upstream. The Python side keeps the user's URL: what the code
reads back (``run.url``, ``api.settings``), what ``wandb login`` writes to the settings
file and the netrc, and which key the SDK picks for that server are the SDK's own.
Each online use is noted (:data:`USES`): a marked test that used W&B and recorded
nothing fails, and the cassette's metadata says what it used.

The wrappers are installed once per process and follow :func:`point` (a session starts,
an inner session takes over, the session ends): with no target they change nothing.
"""

from __future__ import annotations

import configparser
import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from .. import compat
from ..errors import ConfigurationError
from ..store import normal_server, server_route

#: Marks a wrapper this module installed (never wrap twice).
_MARK = "_wandb_cassettes_route"

#: The SDK modules whose attributes are wrapped, and what wraps them.
SETTINGS_MODULE = compat.SETTINGS_MODULE
SERVICE_API_MODULE = compat.SERVICE_API_MODULE
TELEMETRY_MODULE = compat.TELEMETRY_MODULE


@dataclass(frozen=True)
class Target:
    """Where the SDK's requests go: ``relay`` (its base URL, the session's secret in its
    path) for ``upstream``, ``<relay>/_srv/<server>`` for any other server."""

    relay: str
    #: The session's upstream; None while unknown (a session that only replays).
    upstream: str | None = None
    #: Settings files, and folders of them, that never name a server of their own: the
    #: session's (its start folder's ``wandb/settings`` and the user's settings file, which
    #: the upstream already stands for: ``--wandb-upstream`` and ``WANDB_CASSETTES_UPSTREAM``
    #: win over them) and everything under the session's working folder (where the SDK
    #: keeps its files: what one test's ``wandb.login(host=)`` writes there must not route
    #: the next test, or replay would depend on the order of tests).
    settled: tuple[str, ...] = ()
    #: The shell set ``WANDB_BASE_URL``: it wins over every settings file, in the SDK
    #: (wandb/sdk/wandb_setup.py ``_load_settings``: files, then the environment) as here.
    shell_names_server: bool = False

    def route(self, base_url: str) -> str:
        """The base URL the SDK must use for ``base_url``."""
        base = normal_server(base_url)
        if self._is_relay(base):
            return base  # already the relay (the session's WANDB_BASE_URL)
        if self.upstream is not None and base == normal_server(self.upstream):
            return self.relay
        return server_route(self.relay, base)

    def named(self, base_url: str) -> str:
        """The server ``base_url`` names, as a person would: the relay stands for the
        upstream (never shown: its path holds the session's secret)."""
        base = normal_server(base_url)
        if self._is_relay(base):
            return self.upstream or "the session's upstream"
        return base

    def server(self, settings: Any, base_url: str) -> str:
        """The server the SDK would use for ``settings``, whose ``base_url`` is given.

        ``base_url`` is the relay when the settings took it from the session's
        ``WANDB_BASE_URL``: then the SDK, without the session's environment, would go
        where a settings file the test brought names (a project folder it went into, a
        ``WANDB_DIR`` or ``WANDB_CONFIG_DIR`` it set; :func:`settings_file_server`),
        unless the shell's ``WANDB_BASE_URL`` names the server. Any other ``base_url``
        is the code's own.
        """
        if self.shell_names_server or settings is None or not self._is_relay(base_url):
            return base_url
        return settings_file_server(settings, self.settled) or base_url

    def as_state(self) -> dict[str, Any]:
        """This target as the session's state file holds it (children read it back with
        :meth:`from_state`)."""
        return {
            "relay": self.relay,
            "upstream": self.upstream,
            "settled": list(self.settled),
            "shell_names_server": self.shell_names_server,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Target:
        """The target :meth:`as_state` wrote (a state file is read leniently: a field of
        another type is left at its default).

        Raises:
            KeyError: The state names no relay.
        """
        upstream, settled = state.get("upstream"), state.get("settled")
        return cls(
            str(state["relay"]),
            str(upstream) if upstream else None,
            tuple(str(p) for p in settled) if isinstance(settled, list) else (),
            state.get("shell_names_server") is True,
        )

    def _is_relay(self, base_url: str) -> bool:
        base = normal_server(base_url)
        return base == self.relay or base.startswith(self.relay + "/")


def settings_file_server(settings: Any, settled: tuple[str, ...] = ()) -> str | None:
    """The ``base_url`` a wandb settings file names for ``settings``, read the way the SDK
    reads one (wandb/sdk/lib/settings_file.py: section ``[default]``, the workspace file
    over the system one), skipping files under ``settled``; None when none names one.

    The workspace file is the SDK's (``settings.settings_workspace``, under
    ``WANDB_DIR``), or, when that is the session's own, the one the SDK would read
    without the session's ``WANDB_DIR``: ``./wandb/settings`` of the current folder.
    """
    workspace = _attribute(settings, "settings_workspace")
    candidates = [workspace]
    if workspace is None or _under(workspace, settled):
        candidates.append(os.path.join(os.getcwd(), "wandb", "settings"))
    candidates.append(_attribute(settings, "settings_system"))
    for path in candidates:
        if path and not _under(path, settled) and (server := _base_url_in(path)):
            return server
    return None


def _attribute(settings: Any, name: str) -> str | None:
    try:  # a computed property of the SDK's: it may need settings this one lacks
        value = getattr(settings, name, None)
    except Exception:
        return None
    return str(value) if value else None


def _under(path: str, settled: tuple[str, ...]) -> bool:
    resolved = Path(path).resolve()
    return any(resolved == Path(s) or Path(s) in resolved.parents for s in settled)


def _base_url_in(path: str) -> str | None:
    parser = configparser.ConfigParser()
    try:
        if not os.path.isfile(path):
            return None
        parser.read(path)
        value = parser.get("default", "base_url", fallback="")
    except (OSError, configparser.Error):  # the SDK warns and ignores such a file too
        return None
    return value.strip().rstrip("/") or None


@dataclass(frozen=True)
class Use:
    """One online use of W&B: ``kind`` ``run`` (``wandb.init``) or ``api`` (``wandb.Api``,
    ``wandb.login``'s key check...), against ``server``."""

    kind: str
    server: str


_target: Target | None = None
_lock = threading.Lock()
#: Every online use of W&B in this process, in order (a cassette reads its own part).
USES: list[Use] = []
#: Also called with each use (a child process writes it where its parent reads it).
on_use: list[Callable[[Use], None]] = []


def point(target: Target | None) -> None:
    """Send the SDK's requests to ``target`` from now on (None: leave them alone)."""
    global _target
    _target = target


def target() -> Target | None:
    return _target


def route(base_url: str, settings: Any = None) -> str:
    """``base_url`` (of ``settings``, when given) as the SDK must use it now (unchanged
    with no target)."""
    current = _current()
    if current is None or not base_url:
        return base_url
    return current.route(current.server(settings, base_url))


_local = threading.local()


@contextlib.contextmanager
def direct() -> Iterator[None]:
    """Within the block, this thread's SDK goes where its settings say: the library's own
    calls that must reach a server itself (the sweep of an interrupted recording's
    leftovers, before any cassette), never the code under test's."""
    before = getattr(_local, "direct", False)
    _local.direct = True
    try:
        yield
    finally:
        _local.direct = before


def _current() -> Target | None:
    return None if getattr(_local, "direct", False) else _target


def install() -> None:
    """Wrap the SDK where it hands over its server (wandb is imported here).

    Raises:
        ConfigurationError: The installed wandb has no ``Settings.to_proto`` (the only
            way wandb 0.31 hands wandb-core its settings): its requests could not be
            taken to the relay, so nothing may run against it.
    """
    import importlib

    patch_settings(importlib.import_module(SETTINGS_MODULE))
    with contextlib.suppress(ImportError):
        patch_service_api(importlib.import_module(SERVICE_API_MODULE))
    with contextlib.suppress(ImportError):
        patch_telemetry(importlib.import_module(TELEMETRY_MODULE))


def patch_settings(module: ModuleType) -> None:
    """Wrap ``Settings.to_proto``: the protobuf names the route of the settings' server."""
    settings_class = getattr(module, "Settings", None)
    original = getattr(settings_class, "to_proto", None)
    if settings_class is None or original is None:
        import wandb

        raise ConfigurationError(
            f"wandb {getattr(wandb, '__version__', '?')} has no Settings.to_proto: "
            "wandb-cassettes cannot take its requests to the relay"
        )
    if getattr(original, _MARK, False):
        return

    def to_proto(self: Any) -> Any:
        proto = original(self)
        current = _current()
        if current is None:
            return proto
        named = current.server(self, str(getattr(self, "base_url", "") or proto.base_url.value))
        if not (_flag(self, "_offline") or _flag(self, "_noop")):
            _note(Use("run" if getattr(self, "run_id", None) else "api", current.named(named)))
        proto.base_url.value = current.route(named)
        return proto

    to_proto.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(to_proto, _MARK, True)
    settings_class.to_proto = to_proto


def patch_service_api(module: ModuleType) -> None:
    """Wrap ``ServiceApi.base_url``: URLs built in Python name the route too."""
    service_api = getattr(module, "ServiceApi", None)
    prop = getattr(service_api, "base_url", None) if service_api is not None else None
    if not isinstance(prop, property) or prop.fget is None or getattr(prop.fget, _MARK, False):
        return
    original = prop.fget

    def base_url(self: Any) -> str:
        return route(str(original(self)), getattr(self, "_settings", None))

    setattr(base_url, _MARK, True)
    service_api.base_url = property(base_url)  # type: ignore[union-attr]


def patch_telemetry(module: ModuleType) -> None:
    """The SDK's own telemetry posts from Python to the settings' server: off."""
    disable = getattr(module, "disable", None)
    if callable(disable):
        disable()


def _flag(settings: Any, name: str) -> bool:
    try:
        return bool(getattr(settings, name, False))
    except Exception:
        return False


def _note(use: Use) -> None:
    with _lock:
        USES.append(use)
    for listener in list(on_use):
        with contextlib.suppress(Exception):  # never the reason the SDK fails
            listener(use)


def write_uses_to(folder: Path) -> Callable[[Use], None]:
    """A listener that appends each use to ``<folder>/use-<pid>`` (a child's, for its parent)."""

    def write(use: Use) -> None:
        path = folder / f"use-{os.getpid()}"
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"kind": use.kind, "server": use.server}) + "\n")

    return write


def read_uses(folder: Path) -> list[Use]:
    """The uses children of a cassette wrote (:func:`write_uses_to`); unreadable lines skipped."""
    found: list[Use] = []
    with contextlib.suppress(OSError):
        for path in sorted(folder.glob("use-*")):
            with contextlib.suppress(OSError):
                for line in path.read_text("utf-8").splitlines():
                    with contextlib.suppress(ValueError, TypeError, KeyError):
                        data = json.loads(line)
                        found.append(Use(str(data["kind"]), str(data["server"])))
    return found
