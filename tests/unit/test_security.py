"""Security, in this process: the relay serves loopback only; a cassette name stays inside the
cassette folder.
"""

from __future__ import annotations

from unittest import mock

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from wandb_cassettes import runtime as naming
from wandb_cassettes.errors import CassetteError
from wandb_cassettes.record import Relay

# -- security ---------------------------------------------------------------------------------


async def _handle(relay: Relay, peer: object) -> web.StreamResponse:
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        peer if name == "peername" else default
    )
    request = make_mocked_request("POST", relay.prefix + "/graphql", transport=transport)
    return await relay._handle(request)


@pytest.mark.parametrize(
    ("peer", "allowed"),
    [
        (("127.0.0.1", 5000), True),
        (("::1", 5000, 0, 0), True),
        (("10.1.2.3", 5000), False),
        (("192.168.0.7", 5000), False),
        (("::ffff:10.1.2.3", 5000, 0, 0), False),
        (None, False),
    ],
)
def test_relay_answers_loopback_clients_only(peer, allowed):
    import asyncio

    relay = Relay("https://api.wandb.ai")  # not started: _handle is called directly
    response = asyncio.run(_handle(relay, peer))
    if allowed:
        # No cassette is active: the loopback client gets the relay's own "outside any
        # cassette" refusal (400, which wandb-core does not retry).
        assert response.status == 400
        assert relay.stray == ["POST /graphql"]
    else:
        assert response.status == 403
        assert isinstance(response, web.Response)
        assert "loopback clients only" in (response.text or "")
        assert relay.stray == []


def test_relay_listens_on_loopback_only():
    with Relay("https://api.wandb.ai") as relay:
        assert relay.url.startswith("http://127.0.0.1:")
        import socket

        port = relay._server.port
        addresses = {
            str(a[4][0]) for a in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
        }
        for address in addresses - {"127.0.0.1"} - {a for a in addresses if a.startswith("127.")}:
            with socket.socket() as s, pytest.raises(OSError):
                s.settimeout(2)
                s.connect((address, port))


@pytest.mark.parametrize(
    "name", ["../../x", "../x", "/etc/passwd", "a/../../../b", "..", ".", "", "~root/x", "a\0b"]
)
def test_cassette_name_cannot_escape_the_cassette_folder(tmp_path, name):
    root = tmp_path / "cassettes"
    try:
        path = naming.cassette_path(root, "tests/test_x", name)
    except CassetteError as exc:
        assert "escapes" in str(exc)
        return
    assert root.resolve() in path.parents
    assert path.suffix == ".yaml"
