"""Beside pytest-recording and vcrpy: nothing changes until a relay starts; then wrap, not replace.

The in-process tests set :data:`interop.RELAY_PORTS` themselves (a session of
this suite may have a relay of its own: they put its ports back afterwards).
The end-to-end ones run pytest in a subprocess on a throwaway project, with
the real SDK against the stand-in, without torch.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import vcr
from pytest_recording import network
from vcr.request import Request

from wandb_cassettes import runtime as interop

#: pytest-recording's own ``make_network_guard``, as its module defines it.
ORIGINAL_MAKE_GUARD = getattr(network.make_network_guard, "__wrapped__", network.make_network_guard)


@pytest.fixture
def no_relay() -> Iterator[None]:
    """This process with no relay and no plugin: :data:`interop.RELAY_PORTS` empty and
    wandb-core's socket not kept open (the plugin of this suite's own session keeps it)."""
    kept = interop.keep_service_socket_open(False)
    saved = set(interop.RELAY_PORTS)
    interop.RELAY_PORTS.clear()
    try:
        yield
    finally:
        for port in saved:
            interop.RELAY_PORTS.add(port)
        interop.keep_service_socket_open(kept)


@pytest.fixture
def relay_port(no_relay: None) -> Iterator[int]:
    """A listening loopback port, registered as a relay of this process."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        interop.RELAY_PORTS.add(port)
        try:
            yield port
        finally:
            interop.RELAY_PORTS.discard(port)


@pytest.fixture
def other_port() -> Iterator[int]:
    """A listening loopback port that is no relay."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


def _connects(address: Any, family: int = socket.AF_INET) -> bool:
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(address)
        return True


# -- no relay: nothing changes ------------------------------------------------------------


def test_without_a_relay_pytest_recording_is_untouched(no_relay: None) -> None:
    interop.allow_wandb_through_network_block()  # what the plugin calls at configure
    assert network.make_network_guard is ORIGINAL_MAKE_GUARD
    guard = network.make_network_guard(lambda *a: "connected")
    assert guard.__name__ == "network_guard"
    assert not hasattr(guard, "__wrapped__")


def test_without_a_relay_a_vcr_is_untouched(no_relay: None) -> None:
    recorder = vcr.VCR(before_record_request=lambda r: r)
    before = dict(vars(recorder))
    interop.keep_vcr_out_of_wandb(recorder)
    assert vars(recorder) == before
    assert interop.skip_wandb_traffic("mock") == "mock"


def test_without_a_relay_block_network_blocks_what_looks_like_wandb(
    no_relay: None, other_port: int, tmp_path: Path
) -> None:
    path = tmp_path / "wandb-1" / "socket"
    path.parent.mkdir()
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        server.listen()
        with network.blocking_context():
            assert socket.socket.connect.__name__ == "network_guard"
            with pytest.raises(RuntimeError, match="Network is disabled"):
                _connects(str(path), socket.AF_UNIX)
            with pytest.raises(RuntimeError, match="Network is disabled"):
                _connects(("127.0.0.1", other_port))


def test_with_the_plugin_and_no_relay_only_wandb_cores_socket_passes(
    no_relay: None, other_port: int, tmp_path: Path
) -> None:
    """Offline and disabled runs talk to wandb-core over its Unix socket: it passes
    ``--block-network`` whether or not a marked test started a relay (issue 21)."""
    interop.keep_service_socket_open()
    try:
        path = tmp_path / "wandb-1" / "socket"
        path.parent.mkdir()
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(str(path))
            server.listen()
            with network.blocking_context():
                assert _connects(str(path), socket.AF_UNIX)
                with pytest.raises(RuntimeError, match="Network is disabled"):
                    _connects(("127.0.0.1", other_port))
                other = tmp_path / "other" / "socket"
                other.parent.mkdir()
                with pytest.raises(RuntimeError, match="Network is disabled"):
                    _connects(str(other), socket.AF_UNIX)
    finally:
        interop.keep_service_socket_open(False)
    assert network.make_network_guard is ORIGINAL_MAKE_GUARD


# -- with a relay: wrapped, with the same names ----------------------------------------------


def test_a_relay_switches_the_guard_on_and_its_end_switches_it_off(no_relay: None) -> None:
    interop.RELAY_PORTS.add(65000)
    try:
        wrapped = network.make_network_guard
        assert wrapped is not ORIGINAL_MAKE_GUARD
        assert wrapped.__name__ == "make_network_guard"
        assert wrapped.__module__ == ORIGINAL_MAKE_GUARD.__module__
        assert wrapped.__wrapped__ is ORIGINAL_MAKE_GUARD  # type: ignore[attr-defined]
        interop.allow_wandb_through_network_block()  # idempotent: not wrapped twice
        assert network.make_network_guard is wrapped
    finally:
        interop.RELAY_PORTS.discard(65000)
    assert network.make_network_guard is ORIGINAL_MAKE_GUARD


def test_block_network_passes_the_relay_and_wandb_core_only(
    relay_port: int, other_port: int, tmp_path: Path
) -> None:
    core = tmp_path / "wandb-abc123" / "socket"
    elsewhere = tmp_path / "other" / "socket"
    servers = []
    for path in (core, elsewhere):
        path.parent.mkdir()
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        server.listen()
        servers.append(server)
    try:
        with network.blocking_context():
            for name in ("connect", "connect_ex"):
                assert getattr(socket.socket, name).__name__ == "network_guard"
            assert _connects(("127.0.0.1", relay_port))
            assert _connects(str(core), socket.AF_UNIX)
            assert _connects(str(core).encode(), socket.AF_UNIX)
            for address, family in (
                (("127.0.0.1", other_port), socket.AF_INET),
                (str(elsewhere), socket.AF_UNIX),
            ):
                # (pytest-recording 0.14.1 adds " for host ...": 0.14.0 does not)
                with pytest.raises(RuntimeError, match=r"^Network is disabled"):
                    _connects(address, family)
        with network.blocking_context(allowed_hosts=["127.0.0.1"]):
            assert _connects(("127.0.0.1", other_port))  # the user's allowed hosts still count
    finally:
        for server in servers:
            server.close()


def test_block_network_passes_a_multiprocessing_listener_while_a_relay_runs(
    relay_port: int,
) -> None:
    """torch's DataLoader workers talk to the test through one: local IPC, not network."""
    from multiprocessing.connection import Client, Listener

    with network.blocking_context(), Listener(family="AF_UNIX") as listener:
        assert interop.is_worker_ipc(listener.address)
        client = Client(listener.address, family="AF_UNIX")  # refused before the fix
        client.close()
    assert not interop.is_worker_ipc("/tmp/other/listener-x")
    assert not interop.is_worker_ipc(("127.0.0.1", 80))


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        (("127.0.0.1", "RELAY"), True),
        (("localhost", "RELAY"), True),
        (("127.0.0.1", "OTHER"), False),
        (("10.0.0.1", "RELAY"), False),
        (("::1", "RELAY", 0, 0), False),
        ((bytearray(b"127.0.0.1"), "RELAY"), False),
        ("/tmp/wandb-x1/socket", True),
        (b"/tmp/wandb-x1/socket", True),
        (bytearray(b"/tmp/wandb-x1/socket"), True),
        ("/tmp/wandb-x1/other", False),
        ("/tmp/notwandb/socket", False),
        ("\0abstract", False),
        (None, False),
        (("127.0.0.1",), False),
    ],
)
def test_what_counts_as_a_wandb_address(relay_port: int, address: Any, expected: bool) -> None:
    if isinstance(address, tuple) and len(address) >= 2:
        port = {"RELAY": relay_port, "OTHER": relay_port + 1}[address[1]]
        address = (address[0], port, *address[2:])
    assert interop.is_wandb_address(address) is expected


# -- vcrpy filters --------------------------------------------------------------------------


class Shape:
    """A stand-in request such as pytest-recording's own tests hand filters."""

    def __init__(self, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)


class Broken:
    @property
    def host(self) -> str:
        raise ValueError("not built yet")


def _filter(recorder: vcr.VCR, **kwargs: Any) -> Callable[[Any], Any]:
    return recorder.get_merged_config(**kwargs)["before_record_request"]  # type: ignore[no-any-return]


def _requests(port: int) -> list[Any]:
    return [
        "mock",
        Shape(headers={"authorization": "x"}),
        Shape(host="127.0.0.1"),
        Shape(host="127.0.0.1", port=port + 1),
        Request("GET", "http://example.com/x?api_key=1", None, {"authorization": "s"}),
        Request("GET", f"http://127.0.0.1:{port + 1}/files", None, {}),
    ]


def test_vcr_filters_skip_wandb_traffic_and_keep_the_users(relay_port: int) -> None:
    seen: list[Any] = []

    def mine(request: Any) -> Any:
        seen.append(request)
        return request

    recorder = vcr.VCR(before_record_request=mine)
    interop.keep_vcr_out_of_wandb(recorder)
    interop.keep_vcr_out_of_wandb(recorder)  # once only
    assert recorder.before_record_request is mine  # the user's option is untouched
    assert recorder.get_merged_config.__name__ == "get_merged_config"
    before = _filter(recorder)
    assert before.__name__ == "before_record_request"

    relayed = Request("GET", f"http://127.0.0.1:{relay_port}/artifacts/x", None, {})
    assert before(relayed) is None
    assert before(Shape(host="localhost", port=relay_port)) is None
    assert seen == []  # W&B traffic never reaches the user's filters

    results: list[Any] = []
    thread = threading.Thread(
        target=lambda: results.append(
            before(Request("POST", "https://api.wandb.ai/graphql", "", {}))
        ),
        name=f"{interop.RELAY_THREAD_PREFIX}test",
    )
    thread.start()
    thread.join()
    assert results == [None]  # the relay calling its upstream

    broken = Broken()
    assert interop.skip_wandb_traffic(broken) is broken
    assert interop.skip_wandb_traffic("mock") == "mock"
    assert interop.skip_wandb_traffic(None) is None


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"before_record_request": "RETURNS"},
        {"before_record": "RETURNS"},  # vcrpy's older name
        {"before_record_request": ["RETURNS", "MARKS"]},
        {"before_record_request": ("MARKS",), "ignore_localhost": True},
        {"filter_headers": ["authorization"], "filter_query_parameters": ["api_key"]},
        {"ignore_hosts": ["example.com"]},
    ],
)
def test_vcr_filters_give_what_vcrpy_gives_for_other_traffic(
    relay_port: int, options: dict[str, Any]
) -> None:
    def returns(request: Any) -> Any:
        return "RETURNED"

    def marks(request: Any) -> Any:
        return request if isinstance(request, str) else SimpleNamespace(marked=request)

    names = {"RETURNS": returns, "MARKS": marks}

    def resolve(key: str, value: Any) -> Any:
        if not key.startswith("before_record"):
            return value
        if isinstance(value, list | tuple):
            return type(value)(names[v] for v in value)
        return names[value]

    kwargs = {k: resolve(k, v) for k, v in options.items()}
    plain = _filter(vcr.VCR(), **kwargs)
    recorder = vcr.VCR()
    interop.keep_vcr_out_of_wandb(recorder)
    ours = _filter(recorder, **kwargs)
    for request in _requests(relay_port):
        assert _outcome(ours, request) == _outcome(plain, request)


def _outcome(before: Callable[[Any], Any], request: Any) -> Any:
    """What a filter does with ``request``, as comparable data; vcrpy's raise for some shapes."""
    try:
        return _plain(before(request))
    except Exception as exc:
        return ("raised", type(exc).__name__, str(exc))


def _plain(value: Any) -> Any:
    """A filter's result as comparable data (vcrpy's filters return deep copies)."""
    if isinstance(value, Request):
        return ("Request", value.method, value.uri, value.body, dict(value.headers))
    if isinstance(value, SimpleNamespace | Shape):
        return (type(value).__name__, {k: _plain(v) for k, v in vars(value).items()})
    return value
