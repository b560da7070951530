"""Living beside pytest-recording and vcrpy: ``--block-network`` and ``@pytest.mark.vcr``.

Both patch the process: pytest-recording's network block refuses socket
connects, vcrpy's cassettes intercept in-process HTTP clients. W&B traffic
passes neither: the SDK must reach the relay (and wandb-core's Unix socket),
and W&B exchanges belong in wandb cassettes, not in vcr ones.

A good citizen first: none of this is in place until this process starts a
relay (:data:`RELAY_PORTS` gets a port), and it is taken back out when the
last relay stops, with one exception: the Unix socket between Python and its own
wandb-core passes ``--block-network`` from the plugin's start on (:func:`keep_service_socket_open`),
so that a test whose runs are offline or disabled behaves the same whatever else is
selected (with or without a marked test, whose relay lets it through anyway). That socket
is local and W&B's only. A project, or a session, that uses no W&B cassette runs
pytest-recording and vcrpy exactly as they are otherwise. Each extension wraps what it
extends (``functools.wraps``: the same names, the same signatures, the same results for
everything that is not W&B traffic).
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from .. import compat
from ..errors import CassetteError
from ..store import cassette_kind

#: serve.BackgroundServer names its threads so; the relay calls its upstream from one.
RELAY_THREAD_PREFIX = "wandb-cassettes-"
_LOOPBACK = ("127.0.0.1", "localhost")
#: Set on every function this module wraps, so that it never wraps one twice.
_MARK = "_wandb_cassettes"


class _RelayPorts(set[int]):
    """The ports of this process's relays; the first one switches the extensions on.

    A plain set for whoever adds and discards ports (``process.WandbProcess``);
    adding turns :func:`allow_wandb_through_network_block` on, emptying it turns
    it off again.
    """

    def add(self, port: int) -> None:
        super().add(port)
        allow_wandb_through_network_block()

    def discard(self, port: object) -> None:
        super().discard(port)
        if not self and not _SERVICE_SOCKET:
            _restore_network_guard()

    def remove(self, port: int) -> None:
        super().remove(port)
        if not self and not _SERVICE_SOCKET:
            _restore_network_guard()

    def clear(self) -> None:
        super().clear()
        if not _SERVICE_SOCKET:
            _restore_network_guard()


#: Ports of this process's relays (empty: this process uses no cassette, interop is off).
RELAY_PORTS: set[int] = _RelayPorts()
#: Whether wandb-core's Unix socket passes ``--block-network`` with no relay running.
_SERVICE_SOCKET: list[bool] = []


def keep_service_socket_open(keep: bool = True) -> bool:
    """Let wandb-core's Unix socket through ``--block-network`` from now on, relay or not
    (the pytest plugin, from its start to its end; ``keep=False`` takes it back).
    Returns whether it was kept open before."""
    before = bool(_SERVICE_SOCKET)
    _SERVICE_SOCKET[:] = [True] if keep else []
    if keep:
        allow_wandb_through_network_block()
    elif not RELAY_PORTS:
        _restore_network_guard()
    return before


# -- --block-network -------------------------------------------------------------------


def allow_wandb_through_network_block() -> None:
    """While a relay runs, let ``--block-network`` pass it and wandb-core's socket.

    Does nothing while :data:`RELAY_PORTS` is empty (no relay in this process) and
    :func:`keep_service_socket_open` was not called. Otherwise wraps pytest-recording's
    ``network.make_network_guard`` (once) so that each guard it makes lets through,
    before its own rules, connections to a ``wandb-*/socket`` Unix socket and, while a
    relay runs, to a relay port of this process and to a worker process's
    ``multiprocessing`` listener (:func:`is_worker_ipc`); it still blocks everything
    else, and keeps its name (``network_guard``). The relay starts when the test
    loop starts, before any test's block is set up. Idempotent; the original comes back
    when the last relay stops and the socket is no longer kept open.
    """
    if not RELAY_PORTS and not _SERVICE_SOCKET:
        return
    try:
        from pytest_recording import network
    except ImportError:  # pragma: no cover - a dependency; nothing to extend without it
        return
    original = network.make_network_guard
    if getattr(original, _MARK, False):
        return

    @functools.wraps(original)
    def make_network_guard(original_func: Any, allowed_hosts: Any = None) -> Any:
        guard = original(original_func, allowed_hosts=allowed_hosts)
        return _let_wandb_through(guard, original_func)

    setattr(make_network_guard, _MARK, True)
    network.make_network_guard = make_network_guard


def _restore_network_guard() -> None:
    """Put pytest-recording's own ``make_network_guard`` back (no relay runs any more)."""
    try:
        from pytest_recording import network
    except ImportError:  # pragma: no cover
        return
    current: Any = network.make_network_guard
    if getattr(current, _MARK, False):
        network.make_network_guard = current.__wrapped__


def _let_wandb_through(guard: Callable[..., Any], original_func: Callable[..., Any]) -> Any:
    """pytest-recording's ``network_guard``, passing W&B addresses while a relay runs."""

    @functools.wraps(guard)
    def network_guard(sock: Any, address: Any, *args: Any, **kwargs: Any) -> Any:
        service = _SERVICE_SOCKET and is_service_socket(address)
        if service or (RELAY_PORTS and (is_wandb_address(address) or is_worker_ipc(address))):
            return original_func(sock, address, *args, **kwargs)
        return guard(sock, address, *args, **kwargs)

    setattr(network_guard, _MARK, True)
    return network_guard


def is_service_socket(address: Any) -> bool:
    """wandb-core's Unix socket, ``<tmp>/wandb-*/socket`` (a path, ``str`` or ``bytes``)."""
    if not isinstance(address, str | bytes | bytearray):
        return False
    try:
        path = Path(os.fsdecode(bytes(address) if isinstance(address, bytearray) else address))
    except (TypeError, ValueError, UnicodeDecodeError):
        return False
    return compat.is_core_socket(str(path))


def is_wandb_address(address: Any) -> bool:
    """A relay of this process (``127.0.0.1:<port>``), or wandb-core's Unix socket.

    ``address`` is what ``socket.connect`` gets: a ``(host, port, ...)`` tuple
    for IP sockets, a path (``str`` or ``bytes``) for Unix sockets; anything
    else is not W&B's.
    """
    if isinstance(address, str | bytes | bytearray):
        return is_service_socket(address)
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return host in _LOOPBACK and isinstance(port, int) and port in RELAY_PORTS
    return False


def is_worker_ipc(address: Any) -> bool:
    """A ``multiprocessing`` listener's Unix socket: a test's own worker processes.

    ``multiprocessing.connection`` names its listeners ``<tmp>/pymp-*/listener-*``
    (CPython Lib/multiprocessing/connection.py ``arbitrary_address``, util.py
    ``get_temp_dir``); torch's DataLoader workers hand tensors to the test
    through one (torch/multiprocessing/reductions.py, the resource sharer). It is
    local IPC, no network: a marked test's DataLoader workers must not be refused.
    """
    if not isinstance(address, str | bytes):
        return False
    try:
        path = Path(os.fsdecode(address))
    except (TypeError, ValueError, UnicodeDecodeError):
        return False
    return path.name.startswith("listener-") and path.parent.name.startswith("pymp-")


# -- @pytest.mark.vcr -------------------------------------------------------------------


def keep_vcr_out_of_wandb(vcr: Any) -> None:
    """Make a pytest-recording VCR pass W&B traffic through, unrecorded (while a relay runs).

    Called for every VCR pytest-recording makes (its ``pytest_recording_configure``
    hook). With no relay in this process it does nothing. Otherwise, while
    the VCR's cassette is active vcrpy patches HTTP clients process-wide, so it
    would see the SDK's in-process downloads from the relay and the relay's own
    upstream calls (aiohttp, on the relay's thread): the cassette's request
    filter (vcrpy's ``before_record_request``, built from the user's options)
    is wrapped so that those requests get ``None`` (not recorded, not played,
    sent for real) and every other request gets exactly what the user's filters
    return. The user's options are not touched: ``use_cassette`` gets the
    same arguments, ``vcr.before_record_request`` stays the same.
    """
    if not RELAY_PORTS or getattr(vcr, _MARK, False):
        return
    get_merged_config = vcr.get_merged_config  # a bound method: vcrpy's own

    @functools.wraps(get_merged_config)
    def get_merged_config_without_wandb(**kwargs: Any) -> Any:
        config = get_merged_config(**kwargs)
        before = config.get("before_record_request")
        if callable(before):
            config["before_record_request"] = _skipping_wandb(before)
        return config

    vcr.get_merged_config = get_merged_config_without_wandb
    setattr(vcr, _MARK, True)


def _skipping_wandb(before: Callable[[Any], Any]) -> Callable[[Any], Any]:
    @functools.wraps(before)
    def before_record_request(request: Any) -> Any:
        if skip_wandb_traffic(request) is None:
            return None
        return before(request)

    return before_record_request


def skip_wandb_traffic(request: Any) -> Any:
    """vcrpy request filter: None (not recorded, sent for real) for the relay's traffic.

    Anything else, whatever its shape (vcrpy hands filters its ``Request``;
    tests hand them strings and stand-ins), comes back unchanged.
    """
    if not RELAY_PORTS:
        return request
    if threading.current_thread().name.startswith(RELAY_THREAD_PREFIX):
        return None  # the relay calling its upstream
    host = _attribute(request, "host")
    port = _attribute(request, "port")
    if host in _LOOPBACK and isinstance(port, int) and port in RELAY_PORTS:
        return None  # the SDK downloading through the relay
    return request


def _attribute(request: Any, name: str) -> Any:
    try:
        return getattr(request, name, None)
    except Exception:  # a property that cannot answer (a half-built request): not W&B's
        return None


# -- pytest-recording's cassette paths ---------------------------------------------------

#: Every file a pytest-recording VCR of this process loads or saves (its cassette and the
#: extra ones its markers name): a W&B cassette never goes there.
VCR_PATHS: set[Path] = set()


def vcr_cassette_paths(
    default_cassette: str,
    vcr_cassette_dir: str,
    markers: Iterable[Any],
    config: Mapping[str, Any],
) -> list[Path]:
    """The files pytest-recording's ``use_cassette`` reads and writes for a test.

    Computed from the same inputs, the same way (pytest_recording/_vcr.py,
    ``use_cassette`` and ``get_path_transformer``, 0.14): the ``vcr_cassette_dir`` and
    ``default_cassette_name`` fixtures' values (``@pytest.mark.default_cassette``
    included), the serializer suffix of ``vcr_config`` and the markers, a name too long
    for the file system cut and hashed; then every path the ``vcr`` markers name
    (relative ones inside ``vcr_cassette_dir``). The first path is the one it writes.
    """
    markers = list(markers)
    merged: dict[str, Any] = dict(config)
    for marker in reversed(markers):  # pytest-recording's merge_kwargs: the closest wins
        merged.update(getattr(marker, "kwargs", {}))
    suffix = f".{merged['serializer']}" if "serializer" in merged else ".yaml"
    name = default_cassette
    if len(name) + len(suffix) > _MAX_FILENAME_LEN:
        hashed = hashlib.md5(name.encode()).hexdigest()  # pytest-recording's own: a name
        name = f"{name[: _MAX_FILENAME_LEN - len(suffix) - len(hashed) - 3]}...{hashed}"
    main = os.path.join(vcr_cassette_dir, name)
    if not main.endswith(suffix):
        main += suffix
    paths = [main]
    for marker in markers:
        paths += [p if os.path.isabs(p) else os.path.join(vcr_cassette_dir, p) for p in marker.args]
    return [Path(p).resolve() for p in paths]


def _filename_max() -> int:
    try:
        return os.pathconf(".", "PC_NAME_MAX")
    except (AttributeError, ValueError, OSError):
        return 255


_MAX_FILENAME_LEN = _filename_max()


def guard_vcr_cassettes() -> None:
    """Make pytest-recording refuse a cassette path that holds a W&B cassette (once).

    Wraps ``pytest_recording._vcr.use_cassette`` (the ``vcr`` fixture imports it at
    each use, by name) so that, before it does anything (in ``rewrite`` mode it first
    deletes its cassette), each file it would read or write is checked: one that
    holds a W&B cassette (:func:`.store.cassette_kind`) fails the test's set-up with
    a :class:`~.errors.CassetteError` naming it; the others are remembered in
    :data:`VCR_PATHS`, where no W&B cassette may go. Everything else is
    pytest-recording's own: the same arguments, the same result. Imports
    ``pytest_recording._vcr`` (and vcrpy): call it once a test uses ``@pytest.mark.vcr``.
    """
    try:
        from pytest_recording import _vcr
    except ImportError:  # pytest-recording not installed, or its layout changed: no vcr
        return
    original = getattr(_vcr, "use_cassette", None)
    if original is None or getattr(original, _MARK, False):
        return

    @functools.wraps(original)
    def use_cassette(
        default_cassette: str,
        vcr_cassette_dir: str,
        record_mode: str,
        markers: Any,
        config: Any,
        pytestconfig: Any,
    ) -> Any:
        for path in vcr_cassette_paths(default_cassette, vcr_cassette_dir, markers, config):
            if cassette_kind(path) == "wandb":
                error = CassetteError(
                    path,
                    "pytest-recording would use this W&B cassette as its vcr cassette "
                    "(vcr_cassette_dir, default_cassette_name, @pytest.mark.default_cassette "
                    "or a @pytest.mark.vcr path point here); it is left as it is: give the "
                    "vcr cassette another folder or name",
                )
                # A usage error: said in one line, as the plugin's own are (no traceback
                # of this wrapper and pytest-recording's fixture).
                import pytest  # loaded already: this runs inside pytest-recording's fixture

                pytest.fail(str(error), pytrace=False)
            VCR_PATHS.add(path)
        return original(
            default_cassette, vcr_cassette_dir, record_mode, markers, config, pytestconfig
        )

    setattr(use_cassette, _MARK, True)
    _vcr.use_cassette = use_cassette
