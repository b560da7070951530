"""The relay's connections: those of an ended cassette are closed, a scoped fixture's are kept."""

from __future__ import annotations

import http.client
import time

from wandb_cassettes.record import Relay
from wandb_cassettes.store import Cassette


def _closed_by_peer(conn: http.client.HTTPConnection, deadline: float = 5.0) -> bool:
    """Whether the relay closed ``conn`` (EOF) within ``deadline`` seconds."""
    assert conn.sock is not None
    conn.sock.settimeout(0.05)
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            return conn.sock.recv(1) == b""
        except TimeoutError:
            continue
    return False


def _ask(relay: Relay) -> http.client.HTTPConnection:
    conn = http.client.HTTPConnection("127.0.0.1", relay._server.port, timeout=5)
    body = b'{"query": "query Viewer { viewer { id } }"}'
    conn.request("POST", relay.prefix + "/graphql", body=body)
    conn.getresponse().read()  # no recorded match: a 400, the connection kept alive
    return conn


def test_connections_of_an_ended_cassette_are_closed_and_a_scoped_ones_kept() -> None:
    with Relay("https://api.wandb.ai") as relay:
        fixture = relay.replay_session(Cassette())
        relay.push(fixture)  # a module-scoped fixture's cassette, open across tests
        of_fixture = _ask(relay)
        test = relay.replay_session(Cassette())
        relay.push(test)
        of_test = _ask(relay)

        relay.pop(test)

        assert _closed_by_peer(of_test)
        assert not _closed_by_peer(of_fixture, deadline=0.3)
        relay.pop(fixture)
        assert _closed_by_peer(of_fixture)
