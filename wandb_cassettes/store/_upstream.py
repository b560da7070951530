"""Which upstreams (W&B base URLs) an API key may be sent to.

One rule for every place that sends the user's key (recording, the automatic sweep,
``wandb-cassettes sweep``): https anywhere, plain http only to this machine, since a key
sent over plain http crosses the network readable by anyone on the way. Here, beside
the project's folders, because the pytest plugin checks ``--wandb-upstream`` at start-up
and this package is loaded then anyway.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from ..errors import ConfigurationError

#: Hosts that are this machine: plain http to them never leaves it.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def check_upstream(url: str, *, source: str = "--wandb-upstream") -> str:
    """``url`` without a trailing slash, if an API key may be sent there.

    Raises:
        ConfigurationError: Not an http(s) URL, plain http to a non-loopback host, or a
            URL holding a user or password (the message names ``source``, where the URL
            came from, and never shows a password).
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
        userinfo = parts.username is not None or parts.password is not None
    except ValueError:  # e.g. "http://[::1" (an invalid IPv6 host)
        raise ConfigurationError(f"{source}: not an http(s) URL: {shown_url(url)!r}") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"{source}: not an http(s) URL: {shown_url(url)!r}")
    if userinfo:
        # The URL would be written where the upstream is named (journals, the recording
        # line) and wandb-core would send it on as it is; W&B takes the key alone.
        raise ConfigurationError(
            f"{source}: refusing an upstream URL that holds a user or password "
            f"({shown_url(url)!r}): give W&B's API key with WANDB_API_KEY or `wandb login`"
        )
    if parts.scheme == "http" and not is_loopback(host):
        raise ConfigurationError(
            f"{source}: refusing plain-http upstream {url!r}: the API key would cross "
            "the network unencrypted (use https, or a loopback address)"
        )
    return url.rstrip("/")


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (a URL's host name, as ``urlsplit`` gives it) is this machine:
    ``localhost``, or an address of 127.0.0.0/8 or ``::1`` in any spelling the system's
    resolver takes (``127.0.0.1``, ``127.1``, ``0:0:0:0:0:0:0:1``; inet_aton(3))."""
    if not host:
        return False
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:  # the shorthand forms inet_aton takes: "127.1", "2130706433"
        return ipaddress.IPv4Address(socket.inet_aton(host)).is_loopback
    except OSError:
        return False


def shown_url(url: str) -> str:
    """``url`` as a message may show it: whatever precedes an ``@`` in its authority goes."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    return f"{scheme}://{authority.rpartition('@')[2]}{slash}{path}" if "@" in authority else url
