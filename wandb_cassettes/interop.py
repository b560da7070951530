"""Living beside pytest-recording and vcrpy: ``--block-network`` and ``@pytest.mark.vcr``.

Both patch the process: pytest-recording's network block refuses socket
connects, vcrpy's cassettes intercept in-process HTTP clients. W&B traffic
passes neither: the SDK must reach the relay (and wandb-core's Unix socket),
and W&B exchanges belong in wandb cassettes, not in vcr ones.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

#: Ports of this process's relays.
RELAY_PORTS: set[int] = set()
#: serve.BackgroundServer names its threads so; the relay calls its upstream from one.
RELAY_THREAD_PREFIX = "wandb-cassettes-"


def allow_wandb_through_network_block() -> None:
    """Let ``--block-network`` pass the relay and wandb-core's socket; it still blocks the rest.

    pytest-recording's guard sees only the address a socket connects to, so
    the exemption is by address: a relay port of this process, or a
    ``wandb-*/socket`` Unix socket.
    """
    from pytest_recording import network

    if getattr(network.make_network_guard, "_wandb_cassettes", False):
        return
    original = network.make_network_guard

    def make_network_guard(original_func: Any, allowed_hosts: Any = None) -> Any:
        guard = original(original_func, allowed_hosts=allowed_hosts)

        def wandb_guard(sock: Any, address: Any, *args: Any, **kwargs: Any) -> Any:
            if is_wandb_address(address):
                return original_func(sock, address, *args, **kwargs)
            return guard(sock, address, *args, **kwargs)

        return wandb_guard

    make_network_guard._wandb_cassettes = True  # type: ignore[attr-defined]
    network.make_network_guard = make_network_guard


def is_wandb_address(address: Any) -> bool:
    """A relay of this process, or wandb-core's Unix socket."""
    if isinstance(address, str | bytes):
        path = Path(os.fsdecode(address))
        return path.name == "socket" and path.parent.name.startswith("wandb-")
    if isinstance(address, tuple) and len(address) >= 2:
        return address[0] in ("127.0.0.1", "localhost") and address[1] in RELAY_PORTS
    return False


def keep_vcr_out_of_wandb(vcr: Any) -> None:
    """Make a pytest-recording VCR pass W&B traffic through, unrecorded.

    While its cassette is active vcrpy patches HTTP clients process-wide, so it
    would see the SDK's in-process downloads from the relay and the relay's own
    upstream calls (aiohttp, on the relay's thread). Decided per request, as the
    relay may start after the VCR is configured.
    """
    use_cassette = vcr.use_cassette

    def use_cassette_without_wandb(*args: Any, **kwargs: Any) -> Any:
        before = (
            kwargs.pop("before_record_request", None)
            or kwargs.pop("before_record", None)
            or vcr.before_record_request
            or ()
        )
        if not isinstance(before, list | tuple):
            before = (before,)
        kwargs["before_record_request"] = (skip_wandb_traffic, *before)
        return use_cassette(*args, **kwargs)

    vcr.use_cassette = use_cassette_without_wandb


def skip_wandb_traffic(request: Any) -> Any:
    """vcrpy request filter: None (not recorded, sent for real) for the relay's traffic."""
    if threading.current_thread().name.startswith(RELAY_THREAD_PREFIX):
        return None  # the relay calling its upstream
    if request.host in ("127.0.0.1", "localhost") and request.port in RELAY_PORTS:
        return None  # the SDK downloading through the relay
    return request
