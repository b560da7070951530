"""The relay: a loopback HTTP server between wandb-core and W&B.

wandb-core (a Go process) sends every W&B request, so in-process patching
(vcrpy) sees none of them. The SDK is pointed at the relay instead
(``WANDB_BASE_URL``); the relay then either

* **records**: forwards each request to the upstream, streams the answer
  back, and appends the scrubbed exchange to a :class:`~.cassette.Cassette`;
* **replays**: answers from a cassette through a :class:`~.matching.Matcher`,
  with no network at all.

Upload and download URLs that W&B hands out for other hosts (signed cloud
storage URLs) are rewritten in the answers to ``{relay}/_ext/{scheme}/{host}/...``
so those calls pass the relay too; cassettes keep the real URLs.

One relay serves a whole pytest process; :meth:`Relay.activate` switches the
session (one cassette) between tests, which costs nothing but an assignment.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import yarl
from aiohttp import web

from . import scrub
from .cassette import Body, Cassette, Digest, Interaction
from .matching import Matcher, NoMatch, request_key
from .serve import LOOPBACK, BackgroundServer

EXT_PREFIX = "/_ext/"
#: Response fields whose absolute URLs the SDK calls next.
URL_KEYS = frozenset({"uploadUrl", "directUrl", "url", "uploadUrls"})
_HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Connection",
        "Transfer-Encoding",
        "TE",
        "Trailer",
        "Upgrade",
        "Content-Length",
        "Content-Encoding",
        "Host",
        "Accept-Encoding",
    )
)
_CHUNK = 256 * 1024


class RelayError(Exception):
    """Something the test must hear about: a request with no recording, an upstream failure."""


@dataclass
class Recording:
    """A cassette being recorded. ``observers`` see each exchange (e.g. the ledger)."""

    cassette: Cassette
    secrets: tuple[str, ...] = ()
    observers: list[Callable[[Interaction], None]] = field(default_factory=list)
    upstream_errors: list[str] = field(default_factory=list)
    uploaded: set[str] = field(default_factory=set)  # sha256 of bodies sent upstream
    ledger: Any = None  # the plugin's live ledger (wandb_cassettes.ledger.Ledger)

    def add(self, ix: Interaction) -> None:
        for observe in self.observers:
            observe(ix)
        self.cassette.interactions.append(scrub.scrub_interaction(ix, self.secrets))


@dataclass
class Replay:
    """A cassette being replayed. ``errors`` collects requests that had no recording."""

    matcher: Matcher
    errors: list[Exception] = field(default_factory=list)
    #: ``new_episodes``: where requests with no recorded answer are recorded.
    fallback: Recording | None = None
    #: Downloads recorded as digests are served with the bytes uploaded in this replay to the
    #: upload that carried that digest when recording (checkpoints need not be bit-identical).
    content: dict[str, bytes] = field(default_factory=dict)
    _rendered: dict[int, tuple[bytes, dict[str, str]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.needed = {
            ix.response_body.sha256
            for ix in self.matcher.cassette.interactions
            if isinstance(ix.response_body, Digest)
        }


Session = Recording | Replay


class Relay:
    """The loopback relay. Start it once, then :meth:`activate` a session per test.

    ``upstream`` is the W&B base URL used when recording (and the prefix that
    tells base-URL requests from storage requests in cassettes).
    """

    def __init__(self, upstream: str = "https://api.wandb.ai", *, port: int = 0) -> None:
        self.upstream = upstream.rstrip("/")
        self.session: Session | None = None
        self.stray: list[str] = []
        app = web.Application(client_max_size=0)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        app.on_cleanup.append(self._close_client)
        self._server = BackgroundServer(app, LOOPBACK, port)
        self._client: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> Relay:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Relay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def activate(self, session: Session | None) -> None:
        """Make ``session`` answer from now on (None: answer nothing)."""
        self.session = session

    def record(self, cassette: Cassette, secrets: Iterable[str] = ()) -> Recording:
        """Start recording into ``cassette``; returns the active session."""
        rec = Recording(cassette, tuple(s for s in secrets if s))
        self.activate(rec)
        return rec

    def replay(self, cassette: Cassette) -> Replay:
        """Start replaying ``cassette``; returns the active session."""
        rep = Replay(Matcher(cassette, str(cassette.metadata.get("upstream", self.upstream))))
        self.activate(rep)
        return rep

    # -- request handling -------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.remote not in (LOOPBACK, "::1"):
            return web.Response(status=403, text="wandb-cassettes relay: loopback clients only")
        session = self.session
        if session is None:
            self.stray.append(f"{request.method} {request.path_qs}")
            return _error(503, f"no cassette is active for {request.method} {request.path}")
        if isinstance(session, Recording):
            return await self._record(session, request)
        return await self._replay(session, request)

    def _upstream_url(self, request: web.Request) -> tuple[str, bool]:
        """The real URL of ``request`` and whether it is on another host (storage)."""
        where, external = _destination(request)
        return (where if external else self.upstream + where), external

    def _target(self, request: web.Request) -> tuple[str, bool]:
        """What matching sees of ``request`` (see :func:`~.matching.target_of`)."""
        where, external = _destination(request)
        return where.split("?", 1)[0], external

    # -- record -----------------------------------------------------------------

    async def _record(self, rec: Recording, request: web.Request) -> web.StreamResponse:
        url, external = self._upstream_url(request)
        headers = _forward_headers(request.headers)
        digest = hashlib.sha256()
        size = 0
        data: Any
        if external and request.can_read_body:
            # Storage bodies (checkpoints) are streamed through, never held.
            if request.content_length is not None:
                headers["Content-Length"] = str(request.content_length)

            async def stream() -> AsyncIterator[bytes]:
                nonlocal size
                async for chunk in request.content.iter_chunked(_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    yield chunk

            data = stream()
        else:
            data = await request.read()
        client = await self._client_session()
        try:
            # encoded=True: forward the URL byte for byte (a signed URL's signature covers it).
            async with client.request(
                request.method,
                yarl.URL(url, encoded=True),
                headers=headers,
                data=data,
                allow_redirects=False,
            ) as upstream:
                response_body: Body = await upstream.read()
                status, reason = upstream.status, upstream.reason or ""
                response_headers = _recorded_headers(upstream.headers)
        except (aiohttp.ClientError, TimeoutError) as exc:
            message = f"upstream failed for {request.method} {_strip_query(url)}: {exc!r}"
            rec.upstream_errors.append(message)
            status, reason, response_headers = 502, "Bad Gateway", {}
            response_body = message.encode()
        request_body: Body
        if external and request.method in ("PUT", "POST") and size:
            request_body = Digest(digest.hexdigest(), size)
            rec.uploaded.add(request_body.sha256)
        else:
            request_body = _text_or_bytes(data) if isinstance(data, bytes) else None
        stored_response = response_body
        if isinstance(response_body, bytes) and external:
            d = Digest.of(response_body)
            if d.sha256 in rec.uploaded:
                stored_response = d
        ix = Interaction(
            method=request.method,
            uri=url,
            request_headers=_recorded_headers(request.headers),
            request_body=request_body,
            status=status,
            reason=reason,
            response_headers=response_headers,
            response_body=_text_or_bytes(stored_response)
            if isinstance(stored_response, bytes)
            else stored_response,
        )
        rec.add(ix)
        body = response_body if isinstance(response_body, bytes) else b""
        return self._respond(status, response_headers, self._rewrite(body))

    async def _client_session(self) -> aiohttp.ClientSession:
        if self._client is None:
            # auto_decompress: cassettes keep bodies readable; we drop Content-Encoding.
            self._client = aiohttp.ClientSession(
                auto_decompress=True,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=600),
                skip_auto_headers=("User-Agent",),
            )
        return self._client

    async def _close_client(self, _app: web.Application) -> None:
        if self._client is not None:
            await self._client.close()

    # -- replay -----------------------------------------------------------------

    async def _replay(self, rep: Replay, request: web.Request) -> web.StreamResponse:
        target, external = self._target(request)
        # Storage requests match on method + URL: their bodies are read after matching.
        body = None if external or not request.can_read_body else await request.read()
        key = request_key(request.method, target, body)
        try:
            index, ix = rep.matcher.match(key)
        except NoMatch as exc:
            if rep.fallback is not None:
                return await self._record(rep.fallback, request)
            rep.errors.append(exc)
            return _error(
                200 if key.kind == "graphql" else 400,
                f"wandb-cassettes: {exc}",
                graphql=key.kind == "graphql",
            )
        if external and request.can_read_body:
            await _absorb_upload(rep, request, ix)
        rendered = rep._rendered.get(index)
        if rendered is None:
            try:
                rendered = self._render(rep, ix)
            except RelayError as exc:
                rep.errors.append(exc)
                return _error(404, f"wandb-cassettes: {exc}")
            rep._rendered[index] = rendered
        payload, headers = rendered
        return web.Response(
            status=ix.status, reason=ix.reason or None, body=payload, headers=headers
        )

    def _render(self, rep: Replay, ix: Interaction) -> tuple[bytes, dict[str, str]]:
        body = ix.response_body
        if isinstance(body, Digest):
            payload = rep.content.get(body.sha256)
            if payload is None:
                raise RelayError(
                    f"{ix.method} {_strip_query(ix.uri)}: the recorded download has no bytes "
                    "in the cassette and nothing uploaded in this test had its content "
                    f"(sha256 {body.sha256[:12]}...); re-record the cassette"
                )
        elif isinstance(body, str):
            payload = body.encode()
        else:
            payload = body or b""
        headers = {k: v[0] for k, v in ix.response_headers.items() if v}
        return self._rewrite(payload), headers

    # -- shared -----------------------------------------------------------------

    def _rewrite(self, body: bytes) -> bytes:
        """Point absolute URLs the SDK will call next at the relay."""
        if b"http" not in body or body.lstrip()[:1] not in (b"{", b"["):
            return body
        try:
            data = json.loads(body)
        except ValueError:
            return body
        changed = _rewrite_urls(data, self.upstream, self.url)
        return json.dumps(data).encode() if changed else body

    def _respond(self, status: int, headers: dict[str, list[str]], body: bytes) -> web.Response:
        flat = {k: v[0] for k, v in headers.items() if v}
        return web.Response(status=status, body=body, headers=flat)


def _destination(request: web.Request) -> tuple[str, bool]:
    """``(absolute URL, True)`` for a ``/_ext/{scheme}/{host}/...`` request, else ``(path, False)``.

    Raw (still percent-encoded), as recorded URIs are: "model%3Av0.pt" != "model:v0.pt",
    and a signed URL's signature covers the encoded form.
    """
    path = request.raw_path
    if path.startswith(EXT_PREFIX):
        scheme, _, rest = path[len(EXT_PREFIX) :].partition("/")
        return f"{scheme}://{rest}", True
    return path, False


async def _absorb_upload(rep: Replay, request: web.Request, ix: Interaction) -> None:
    """Drain an upload's body, keeping it only when a recorded download will need it."""
    recorded = ix.request_body
    keep = isinstance(recorded, Digest) and recorded.sha256 in rep.needed
    parts = []
    async for chunk in request.content.iter_chunked(_CHUNK):
        if keep:
            parts.append(chunk)
    if isinstance(recorded, Digest) and keep:
        rep.content[recorded.sha256] = b"".join(parts)


def _rewrite_urls(data: Any, upstream: str, relay: str) -> bool:
    changed = False
    items: Iterable[tuple[Any, Any]]
    if isinstance(data, dict):
        items = data.items()
    elif isinstance(data, list):
        items = enumerate(data)
    else:
        return False
    for key, value in list(items):
        if isinstance(value, str):
            if key in URL_KEYS or (isinstance(key, int) and value.startswith("http")):
                new = relay_url(value, upstream, relay)
                if new != value:
                    data[key] = new
                    changed = True
        elif _rewrite_urls(value, upstream, relay):
            changed = True
    return changed


def relay_url(url: str, upstream: str, relay: str) -> str:
    """``url`` as the SDK must call it through the relay (unchanged if not absolute)."""
    if url.startswith(upstream + "/"):
        return relay + url[len(upstream) :]
    for scheme in ("https", "http"):
        prefix = scheme + "://"
        if url.startswith(prefix):
            return f"{relay}{EXT_PREFIX}{scheme}/{url[len(prefix) :]}"
    return url


def _forward_headers(headers: Any) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}


def _recorded_headers(headers: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in headers.items():
        if k.lower() not in _HOP_BY_HOP:
            out.setdefault(str(k), []).append(str(v))
    return out


def _text_or_bytes(data: bytes) -> str | bytes:
    if not data:
        return ""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def _strip_query(url: str) -> str:
    return url.split("?", 1)[0]


def _error(status: int, message: str, *, graphql: bool = False) -> web.Response:
    if graphql:
        return web.json_response({"errors": [{"message": message}], "data": None}, status=status)
    return web.Response(status=status, text=message)
