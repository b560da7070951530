"""The W&B servers of a recording, and how a request names one on its way through the relay.

The code under test may name any W&B server (``wandb.login(host=...)``,
``wandb.Settings(base_url=...)``, ``wandb.Api(overrides={"base_url": ...})``, a
settings file): the SDK is handed a base URL on the relay that says which, as one path
segment after the session's secret, ``<relay>/_srv/<server>``, where ``<server>`` is the
server's base URL in base64url (RFC 4648, section 5) without padding. A child process
computes the same segment from the URL alone, without asking the parent; the relay
decodes it (:func:`parse_route`). The session's own upstream keeps the plain relay URL.

In a cassette, each interaction's ``uri`` starts with the server it went to; the
metadata lists the W&B servers other than ``upstream`` (:data:`SERVERS_KEY`), so that
replay and the audit tell a server's requests from a storage host's.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from urllib.parse import urlsplit

#: The path segment that starts a route to a named server (after the session's secret).
ROUTE_PREFIX = "/_srv/"
#: Cassette metadata: the W&B API servers a recording talked to besides its ``upstream``.
SERVERS_KEY = "servers"
#: Cassette metadata: how the code under test used W&B online (``run``: ``wandb.init``,
#: ``api``: ``wandb.Api``, ``wandb.login`` and the like), whatever reached the relay.
USE_KEY = "wandb_use"


def server_route(relay_url: str, server: str) -> str:
    """The base URL that sends the SDK's requests for ``server`` through ``relay_url``."""
    token = base64.urlsafe_b64encode(normal_server(server).encode()).decode().rstrip("=")
    return f"{relay_url}{ROUTE_PREFIX}{token}"


def parse_route(path: str) -> tuple[str | None, str]:
    """``(server, rest of the path)`` of a request path that starts with a route, else
    ``(None, path)``.

    Raises:
        ValueError: The segment is not a server's base URL (not base64url, not an
            http(s) URL with a host).
    """
    if not path.startswith(ROUTE_PREFIX):
        return None, path
    token, slash, rest = path[len(ROUTE_PREFIX) :].partition("/")
    try:
        server = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("the route does not name a server") from None
    parts = urlsplit(server)
    if parts.scheme not in ("http", "https") or not parts.netloc or "?" in server:
        raise ValueError("the route does not name an http(s) server")
    return normal_server(server), (slash + rest) or "/"


def normal_server(url: str) -> str:
    """A server's base URL as it is compared and stored: no trailing slash."""
    return url.rstrip("/")


def server_of(uri: str, servers: Iterable[str]) -> str | None:
    """The server of ``servers`` that ``uri`` is on (the longest base that prefixes it)."""
    found = None
    for server in servers:
        base = normal_server(server)
        on = base and (uri == base or uri.startswith(base + "/"))
        if on and (found is None or len(base) > len(found)):
            found = base
    return found
