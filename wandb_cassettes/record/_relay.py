"""The relay: a loopback HTTP server between wandb-core and W&B.

wandb-core (a Go process) sends every W&B request, so in-process patching
(vcrpy) sees none of them. The SDK is pointed at the relay instead
(``WANDB_BASE_URL``); the relay then either

* **records**: forwards each request to the upstream, streams the answer
  back, and appends the scrubbed exchange to a :class:`~.cassette.Cassette`;
* **replays**: answers from a cassette through a :class:`~.matching.Matcher`,
  with no network at all.

Every URL an answer hands the client for a next call is rewritten to pass
the relay: signed storage URLs in GraphQL answers (``uploadUrl``,
``directUrl``...) become ``{relay}/_ext/{scheme}/{host}/...``, and so does a
redirect's ``Location`` (W&B answers run-file and artifact download routes
with a 302 to signed storage; Go and ``requests`` follow redirects, so an
unrewritten one would leave the relay, and ``--block-network`` cannot stop a
Go process). Cassettes keep the real URLs.

One relay serves a whole process. Sessions stack (:meth:`Relay.push`): a
scope cassette (a session- or module-scoped fixture's) stays under the
cassette of each test; a request goes to the innermost session, except
``file_stream`` posts, which go to the session whose run they stream. With
no session, a request is refused at once (HTTP 400, which wandb-core does not
retry) with a message naming the test or fixture that sent it.

The relay serves only its own process and its children. Its port is visible to every
local process (``/proc/net/tcp``), so each request must carry the relay's per-process
secret as the first segment of its path: :attr:`Relay.url`, the base URL handed to the
SDK (``WANDB_BASE_URL``, which child processes inherit), holds it, and so does every URL
the relay hands out. And ``/_ext/`` forwards only to the hosts the upstream itself handed
out while recording (signed storage URLs, redirects), never to one a request names. What
is refused is answered 403 (wandb-core does not retry it), never forwarded, never recorded.

The code under test may name another W&B server than the session's upstream (the
process's SDK is wrapped so that whatever it names comes here:
:mod:`wandb_cassettes.runtime` ``_servers``): such a request's path says which after the
secret, ``/_srv/<server>`` (:func:`.store.server_route`). Recording forwards it there,
with that server's key (a session key the SDK was handed never goes to another server:
:attr:`Relay.key_for` finds the one the SDK would use), and records it under that
server's URL; the plain-http rule of the upstream holds for it too. Replay answers it
like any other request: a request matches whichever server it was recorded on.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yarl
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from .. import redact as scrubbing
from ..errors import (
    CassetteError,
    ConfigurationError,
    NoMatch,
    RecordingError,
    RelayError,
    ReplayError,
)
from ..protocol import SERVER_FEATURES, SERVER_FEATURES_BODY, parse_request, response_errors
from ..replay import DEFAULT_RULES, Matcher, MatchRules, substitutions, target_of
from ..store import (
    BLOB_MIN_BYTES,
    BLOB_WARN_BYTES,
    BlobStore,
    Body,
    Cassette,
    Digest,
    Interaction,
    blob_file,
    check_upstream,
    parse_route,
    server_of,
    server_route,
    shown_url,
    verify_blob,
)
from ._episodes import IdTranslation
from ._serve import LOOPBACK, BackgroundServer

EXT_PREFIX = "/_ext/"
#: The key under which a request carries the W&B server its route names (None: upstream):
#: aiohttp's typed key where it has one (3.13+: a plain string key warns), else a string.
_SERVER: Any = (
    web.RequestKey("wandb_cassettes_server", str)
    if hasattr(web, "RequestKey")
    else "wandb_cassettes_server"
)
#: Response fields whose absolute URLs the SDK calls next.
URL_KEYS = frozenset({"uploadUrl", "directUrl", "url", "uploadUrls"})
#: Response headers whose absolute URLs the client calls next.
URL_HEADERS = ("Location", "Content-Location")
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
#: Uploads up to this size are kept in memory while recording, for the stable form of the
#: cassette (:mod:`._stable`: a run's summary file holds timing values); never stored.
UPLOAD_KEEP_BYTES = 256 * 1024
#: How long a connection being closed may still take a request already on its way (s).
_CLOSE_GRACE_S = 0.05
#: How long the recording waits for a server's features (s): it needs none of them.
_FEATURES_TIMEOUT_S = 30
_FILE_STREAM_RE = re.compile(r"^/files/([^/]+)/([^/]+)/([^/]+)/file_stream$")

#: Says who sent a request that no cassette answers ("test x.py::t", "fixture 'f'...").
Context = Callable[[], str]


@dataclass
class Recording:
    """A cassette being recorded.

    ``observers`` see each exchange as it happened (the ledger, the journal);
    ``scrub`` turns it into what the cassette keeps (the user's
    ``before_record`` hooks, personal data, secrets: :mod:`.scrub`).
    ``before_forward`` sees each request before it is forwarded and may refuse
    it by raising :class:`~.errors.RecordingError` (the write-ahead journal):
    recording then stops, and only the cleanup may reach the upstream again.
    ``prior_reads(url, body)`` names GraphQL reads to send upstream, and record,
    before the request: the state before a change to something the test did not
    create (:meth:`.ledger.Ledger.prior_reads`).
    """

    cassette: Cassette
    scrub: scrubbing.CassetteScrubber = field(
        default_factory=lambda: scrubbing.CassetteScrubber(scrubbing.DEFAULT)
    )
    observers: list[Callable[[Interaction], None]] = field(default_factory=list)
    before_forward: Callable[[str, str, bytes], None] | None = None
    prior_reads: Callable[[str, bytes], list[bytes]] | None = None
    upstream_errors: list[str] = field(default_factory=list)
    uploaded: set[str] = field(default_factory=set)  # sha256 of bodies sent upstream
    ledger: Any = None  # the live ledger (wandb_cassettes.ownership.Ledger)
    #: Why recording stopped (the journal could not be written); None while it runs.
    fatal: RecordingError | None = None
    #: The cleanup is running: what it sends reaches the upstream even after ``fatal``.
    cleaning: bool = False
    #: Run paths (``entity/project/run``) this session streams: their file_stream comes here.
    runs: set[str] = field(default_factory=set)
    #: Answers only the file_stream of its own runs (a scoped fixture's, while tests run).
    dormant: bool = False
    #: Where large downloads go (None: into the cassette, whatever their size).
    blobs: BlobStore | None = None
    #: Things the user should hear about once the recording is kept (a large blob).
    notes: list[str] = field(default_factory=list)
    #: ``scheme://host`` of every URL the upstream handed out in this recording (rewritten
    #: to ``/_ext/``): the only hosts ``/_ext/`` forwards to.
    handed_out: set[str] = field(default_factory=set)
    #: Recorded ids -> fresh ones for the upstream (a re-recording that keeps the stored seed,
    #: ``new_episodes``); None: the upstream sees the ids the client sent.
    translation: IdTranslation | None = None
    #: Per stored interaction: when its request went upstream and when its answer was
    #: complete (``time.monotonic()``): which exchanges overlapped, for the stable order.
    timings: list[tuple[float, float]] = field(default_factory=list)
    #: Small uploads' bodies by interaction index (never stored; see :data:`UPLOAD_KEEP_BYTES`).
    uploads: dict[int, bytes] = field(default_factory=dict)
    #: The W&B servers besides the relay's upstream that the code named and this
    #: recording forwarded to (``/_srv/`` routes).
    servers: set[str] = field(default_factory=set)
    #: How many requests of the code under test reached this session.
    requests: int = 0
    #: Per W&B server this recording sent GraphQL to: the URL and the headers of its first
    #: GraphQL request (forwarded form, recorded form), for :meth:`Relay.read_server_features`.
    graphql_seen: dict[str, tuple[str, dict[str, str], dict[str, list[str]]]] = field(
        default_factory=dict
    )
    #: The W&B servers the code under test asked for their features (``ServerFeaturesQuery``).
    features_asked: set[str] = field(default_factory=set)

    def add(
        self, ix: Interaction, started: float | None = None, upload: bytes | None = None
    ) -> None:
        """Observe ``ix`` and store it as the cassette keeps it.

        ``started``: when its request went upstream (default: now); ``upload``: the body
        of a small upload.
        """
        ended = time.monotonic()
        for observe in self.observers:
            try:
                observe(ix)
            except RecordingError as exc:
                self.fatal = self.fatal or exc
        stored = self.scrub.record(ix)
        if stored is not None:
            if upload is not None:
                self.uploads[len(self.cassette.interactions)] = upload
            self.cassette.interactions.append(stored)
            self.timings.append((ended if started is None else started, ended))

    def learn_secret(self, secret: str) -> None:
        """A secret seen on the way (a key given to ``wandb.login(key=...)``): scrubbed too."""
        scrubber = self.scrub.scrubber
        if secret and secret not in scrubber.secrets:
            self.scrub.scrubber = scrubber.with_secrets([secret])

    def finished(self) -> Cassette:
        """The cassette as it is saved: personal data learned late replaced everywhere."""
        return self.scrub.finish(self.cassette)

    def unscrubbed_secrets(self) -> list[tuple[str, str]]:
        """``(rule, line)`` for each secret in a body kept as recorded (the line never holds
        the secret): a download kept as a blob, and a binary body in the cassette.

        Such bodies are served byte for byte at replay (the SDK checks a download's digest
        against the manifest), so recording cannot scrub what the rules find in them; it
        warns, and the audit fails on the cassette (:func:`wandb_cassettes.audit.audit_file`).
        """
        folder = self.cassette.path.parent if self.cassette.path else None
        if folder is None and self.blobs is not None:
            folder = self.blobs.root
        lines: list[tuple[str, str]] = []
        searched: set[str] = set()
        for index, ix in enumerate(self.cassette.interactions):
            for side, body in (("request", ix.request_body), ("response", ix.response_body)):
                if isinstance(body, Digest) and body.blob and folder is not None:
                    if body.sha256 in searched:
                        continue
                    searched.add(body.sha256)
                    # normpath: the cassette's own folder may not exist yet ("test_x/../").
                    found = self.scrub.scrubber.find_in_file(
                        os.path.normpath(folder / body.blob), ""
                    )
                    where = f"the download of {_strip_query(ix.uri)} kept in {body.blob}"
                elif isinstance(body, bytes) and not _is_utf8(body):  # text was scrubbed
                    found = self.scrub.scrubber.find_in_body(body, "")
                    where = f"#{index} {ix.method} {_strip_query(ix.uri)}: its binary {side} body"
                else:
                    continue
                lines += [(finding.rule, _unscrubbed_line(where, finding)) for finding in found]
        return lines

    def owns_run(self, path: str) -> bool:
        return path in self.runs


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
    #: Answers only the file_stream of its own runs (a scoped fixture's, while tests run).
    dormant: bool = False
    #: new_episodes: the fresh ids the upstream sees for the recorded ones.
    translation: IdTranslation | None = None
    #: Why the relay could not serve this replay at all (it ran out of descriptors).
    fatal: ReplayError | None = None
    #: The cassette folder, where blobs live (``_blobs/``); None: the cassette's own folder.
    blob_root: Path | None = None
    #: Rendered answers, by interaction index and the base URL they were rendered for.
    _rendered: dict[tuple[int, str], tuple[bytes, dict[str, str]]] = field(default_factory=dict)
    #: Blob files whose sha256 was checked, as ``(sha256, device, inode, size, mtime)``.
    _verified: set[tuple[str, int, int, int, int]] = field(default_factory=set)
    #: How many requests of the code under test reached this session.
    requests: int = 0

    def __post_init__(self) -> None:
        interactions = self.matcher.cassette.interactions
        self.needed = {
            ix.response_body.sha256 for ix in interactions if isinstance(ix.response_body, Digest)
        }
        self.runs = {
            "/".join(m.groups())
            for ix in interactions
            if (m := _FILE_STREAM_RE.match(target_of(ix.uri, self.matcher.servers)))
        }

    def owns_run(self, path: str) -> bool:
        return path in self.runs


Session = Recording | Replay


def _fail(session: Session, message: str) -> None:
    """Make ``session``'s test fail with ``message`` (once), whatever it does next."""
    if isinstance(session, Recording):
        session.fatal = session.fatal or RecordingError(message)
    else:
        session.fatal = session.fatal or RelayError(message)


class Relay:
    """The loopback relay. Start it once, then :meth:`push` a session per cassette.

    ``upstream`` is the W&B base URL used when recording (and the prefix that
    tells base-URL requests from storage requests in cassettes); empty while unknown
    (a session that only replays never needs one, nor reads one).
    """

    def __init__(self, upstream: str | None = "https://api.wandb.ai", *, port: int = 0) -> None:
        self.upstream = (upstream or "").rstrip("/")
        #: The API keys this process handed the SDK itself, not given by the user for every
        #: server (the upstream's netrc entry, the replay placeholder): never sent to
        #: another server than the upstream.
        self.injected: set[str] = set()
        #: The key the SDK would use for a server when it sent an injected one (its
        #: ``WANDB_API_KEY``, its netrc entry); None: it would have none. Set by the
        #: process runtime; the keys the SDK itself sent to a server come first.
        self.key_for: Callable[[str], str | None] | None = None
        #: The last key the SDK itself sent to each server other than the upstream.
        self.keys: dict[str, str] = {}
        self.sessions: list[Session] = []
        self.stray: list[str] = []
        #: Who is talking when no cassette is active (set by the pytest plugin).
        self.context: Context | None = None
        app = web.Application(client_max_size=0)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        app.on_cleanup.append(self._close_client)
        self._server = BackgroundServer(app, LOOPBACK, port, on_exhausted=self._exhausted)
        self._client: aiohttp.ClientSession | None = None
        #: Each client connection (aiohttp's handler) -> the session it served last.
        self._served: dict[object, Session | None] = {}
        #: Set when a connection could not be accepted (descriptors ran out): what ran out.
        self.exhaustion: str | None = None
        self._closing: set[asyncio.Task[None]] = set()
        #: The path prefix every request must start with: known to this process and the
        #: children it starts (through the base URL), to no other local process.
        self._prefix = "/" + secrets.token_urlsafe(24)
        #: Requests refused as not this session's (no secret, or ``/_ext/`` to a host the
        #: upstream never handed out): ``METHOD path`` without the secret, the last 100.
        self.refused: list[str] = []

    @property
    def url(self) -> str:
        """The base URL to hand the SDK: ``http://127.0.0.1:<port>/<the session's secret>``."""
        return self._server.url + self._prefix

    @property
    def prefix(self) -> str:
        """The path every request must start with (``/<the session's secret>``)."""
        return self._prefix

    @property
    def session(self) -> Session | None:
        """The innermost active session (None: no cassette)."""
        return self.sessions[-1] if self.sessions else None

    def start(self) -> Relay:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Relay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def push(self, session: Session) -> None:
        """Make ``session`` the innermost: it answers until it is popped."""
        self.sessions.append(session)

    def pop(self, session: Session) -> None:
        """Remove ``session`` wherever it is in the stack (idempotent).

        The connections that served it last are closed (see :meth:`_release`); if
        the relay ran out of descriptors while it was active, its test fails.
        """
        if self.exhaustion is not None:
            _fail(session, f"wandb-cassettes relay: {self.exhaustion}")
        self.sessions = [s for s in self.sessions if s is not session]
        self._release()

    def activate(self, session: Session | None) -> None:
        """Make ``session`` the only active session (None: answer nothing)."""
        self.sessions = [session] if session is not None else []
        self._release()

    def _release(self) -> None:
        """Close the client connections whose last session has ended; clear an exhaustion.

        wandb-core opens new HTTP clients for each run and keeps their connections
        alive for aiohttp's 75 s: a replayed suite held ~4 idle connections per test,
        1,105 after 281 tests, until the descriptor limit (``ulimit -n``) stopped
        it. A connection is closed when the session it served last is gone, which is
        after its test finished its runs (:meth:`.lifecycle.CassetteUse.stop`), so
        nothing of that test can still be on it; a session still active (a scoped
        fixture's) keeps its connections.
        """
        if not self._server.port:
            return
        if not self.sessions:
            self.exhaustion = None  # said to every session it concerned; measured anew
        self._server.loop.call_soon_threadsafe(self._close_finished)

    def _close_finished(self) -> None:
        active = [id(s) for s in self.sessions]
        served, self._served = self._served, {}
        for handler in self._server.connections():
            if handler not in served:
                continue  # connected, nothing asked yet: its request is on the way
            session = served[handler]
            if session is not None and id(session) in active:
                self._served[handler] = session
            else:
                self._close(handler)

    def _close(self, handler: RequestHandler) -> None:
        """Close a client connection gracefully, without waiting for it here.

        aiohttp's ``RequestHandler.shutdown`` (what its server does at exit) lets a
        request already on the connection be answered, then closes it: within
        :data:`_CLOSE_GRACE_S` when idle. (``close()`` alone leaves an idle
        connection open, with no reader, in aiohttp 3.14.)
        """
        task = self._server.loop.create_task(handler.shutdown(_CLOSE_GRACE_S))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _exhausted(self, message: str) -> None:
        """On the loop: a connection could not be accepted (asyncio retries in 1 s).

        Every active session's test fails, naming what ran out; idle connections are
        closed to give descriptors back, so that the requests still waiting are
        accepted and answered at once with that message (a 400, which wandb-core does
        not retry) rather than waiting for the SDK's timeouts.
        """
        self.exhaustion = message
        for session in self.sessions:
            _fail(session, f"wandb-cassettes relay: {message}")
        self._served = {}
        for handler in self._server.connections():
            self._close(handler)

    def record(self, cassette: Cassette, secrets: Iterable[str] = ()) -> Recording:
        """Start recording into ``cassette`` as the only session; returns it."""
        scrubber = scrubbing.Scrubber(secrets=tuple(s for s in secrets if s))
        rec = Recording(cassette, scrubbing.CassetteScrubber(scrubber))
        self.activate(rec)
        return rec

    def replay(self, cassette: Cassette, rules: MatchRules = DEFAULT_RULES) -> Replay:
        """Start replaying ``cassette`` as the only session; returns it."""
        self.activate(self.replay_session(cassette, rules))
        return self.session  # type: ignore[return-value]

    def replay_session(self, cassette: Cassette, rules: MatchRules = DEFAULT_RULES) -> Replay:
        """A replay session of ``cassette`` (not yet active)."""
        upstream = str(cassette.metadata.get("upstream") or self.upstream)
        return Replay(Matcher(cassette, upstream, rules))

    def route(self, server: str | None) -> str:
        """The base URL through this relay for ``server`` (None or the upstream: the relay's
        own URL)."""
        if not server or server == self.upstream:
            return self.url
        return server_route(self.url, server)

    # -- request handling -------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.remote not in (LOOPBACK, "::1"):
            return web.Response(status=403, text="wandb-cassettes relay: loopback clients only")
        raw = request.raw_path
        secret, slash, rest = raw.partition("/")[2].partition("/")
        if not slash or not hmac.compare_digest(("/" + secret).encode(), self._prefix.encode()):
            return self._foreign(request.method, raw, "the request lacks this session's secret")
        try:
            server, rest = parse_route("/" + rest)
        except ValueError as exc:
            return _error(400, f"wandb-cassettes relay: {exc}")
        # From here on the request is seen as the SDK sent it, without the secret and the
        # route; the server it names (None: the upstream) goes along with it.
        request = request.clone(rel_url=yarl.URL(rest, encoded=True))
        request[_SERVER] = server or ""
        session = self._route(request)
        self._served[request.protocol] = session
        if session is not None:
            session.requests += 1
        if self.exhaustion is not None:
            if session is not None:
                _fail(session, f"wandb-cassettes relay: {self.exhaustion}")
            return _error(
                400,
                f"wandb-cassettes relay: {self.exhaustion}",
                graphql=request.path.endswith("/graphql"),
            )
        if session is None:
            return self._refuse(request)
        if isinstance(session, Recording):
            return await self._record(session, request, session.translation)
        return await self._replay(session, request)

    def _route(self, request: web.Request) -> Session | None:
        """The innermost active session; for a file_stream, the session streaming that run."""
        if not self.sessions:
            return None
        m = _FILE_STREAM_RE.match(request.path)
        if m is not None:
            run = "/".join(m.groups())
            for session in reversed(self.sessions):
                if session.owns_run(run):
                    return session
        for session in reversed(self.sessions):
            if not session.dormant:
                return session
        return None

    def _foreign(self, method: str, path: str, why: str) -> web.Response:
        """A request that is not this session's: 403 (never retried by wandb-core),
        connection closed; never forwarded, never recorded."""
        shown = _strip_query(path).replace(self._prefix[1:], "<secret>")[:200]
        self.refused = [*self.refused[-99:], f"{method} {shown}"]
        answer = web.Response(
            status=403,
            text=f"wandb-cassettes relay: refused, {why} (this relay serves only "
            "the test session that started it)",
        )
        answer.force_close()
        return answer

    def _handed_out(self, url: str) -> bool:
        """Whether the upstream handed out ``url``'s host to a recording of this session."""
        origin = _origin(url)
        for session in self.sessions:
            rec = session.fallback if isinstance(session, Replay) else session
            if rec is not None and origin in rec.handed_out:
                return True
        return False

    def _refuse(self, request: web.Request) -> web.Response:
        where = self.context() if self.context is not None else ""
        self.stray.append(f"{request.method} {request.path}")
        message = (
            f"wandb-cassettes: {request.method} {request.path} was sent outside any cassette"
            f"{' by ' + where if where else ''}. In a session that uses cassettes every W&B "
            "request goes to the relay: mark the test @pytest.mark.wandb_cassette (a fixture "
            "wider than a test gets a cassette of its scope; a function-scoped one shares its "
            "test's), or use wandb_cassettes.use_cassette(...) around the code."
        )
        # 400: wandb-core does not retry it (core/internal/clients/retry_policy.go).
        return _error(400, message, graphql=request.path.endswith("/graphql"))

    def _upstream_url(self, request: web.Request) -> tuple[str, bool]:
        """The real URL of ``request`` and whether it is on another host (storage)."""
        where, external = _destination(request)
        return (where if external else self._server_of(request) + where), external

    def _server_of(self, request: web.Request) -> str:
        """The W&B server ``request`` is for: the one its route names, else the upstream."""
        return str(request.get(_SERVER) or self.upstream)

    def _check_server(self, rec: Recording, request: web.Request) -> str | None:
        """Why ``request`` may not be forwarded to its server (recording), or None.

        A named server gets the upstream's rules: https, or plain http on loopback only;
        it is noted in the recording (the cassette lists it). Its ``Authorization``: a key
        the SDK was handed by this process is replaced by the one the SDK would use for
        that server (:attr:`key_for`); with none, nothing is forwarded.
        """
        server = request.get(_SERVER)
        if not server and not self.upstream:
            return "no upstream is known to forward to (the session only replays)"
        if not server or server == self.upstream:
            return None
        try:
            check_upstream(server, source=f"the server the code named ({shown_url(server)})")
        except ConfigurationError as exc:
            return str(exc)
        rec.servers.add(server)
        return None

    def _credentials(self, rec: Recording, request: web.Request, headers: dict[str, str]) -> str:
        """Put the right key for a named server into ``headers``; why not, or ""."""
        server = request.get(_SERVER)
        if not server or server == self.upstream:
            return ""
        name = next((k for k in headers if k.lower() == "authorization"), None)
        sent = _basic_key(headers.get(name)) if name else None
        if sent is None:
            return ""
        if sent not in self.injected:
            self.keys[server] = sent  # the SDK's own choice for that server
            return ""
        key = self.keys.get(server) or (self.key_for(server) if self.key_for else None)
        if not key:
            return (
                f"no API key for {server}: the SDK would find none there, and the key this "
                "session handed it never goes to another server; give one (WANDB_API_KEY, "
                f"`wandb login --host {server}`, or api_key=)"
            )
        assert name is not None
        headers[name] = "Basic " + base64.b64encode(f"api:{key}".encode()).decode()
        rec.learn_secret(key)
        return ""

    # -- record -----------------------------------------------------------------

    async def _record(
        self,
        rec: Recording,
        request: web.Request,
        translation: IdTranslation | None = None,
        body: bytes | None = None,
    ) -> web.StreamResponse:
        """Forward ``request`` upstream and record the exchange.

        With ``translation`` (``new_episodes``), the upstream sees fresh ids
        where the client sent recorded ones, the client sees its own ids in
        the answer, and the cassette keeps the client's view.
        """
        url, external = self._upstream_url(request)
        if external and not self._handed_out(url):
            why = f"the upstream handed out no URL on {_origin(url)[:100]} in this recording"
            return self._foreign(request.method, EXT_PREFIX + url, why)
        if rec.fatal is not None and not rec.cleaning:
            return _error(400, f"wandb-cassettes: {rec.fatal}", graphql=url.endswith("/graphql"))
        headers = _forward_headers(request.headers)
        refused = None if external else self._check_server(rec, request)
        refused = refused or self._credentials(rec, request, headers)
        if refused:
            # Before anything reaches that server: the test fails, saying why.
            rec.fatal = rec.fatal or RecordingError(f"wandb-cassettes: {refused}")
            return _error(400, f"wandb-cassettes: {refused}", graphql=url.endswith("/graphql"))
        key = _basic_key(headers.get("Authorization"))
        if key:
            rec.learn_secret(key)
        digest = hashlib.sha256()
        size = 0
        kept: list[bytes] = []
        data: Any
        if external and request.can_read_body:
            # Storage bodies (checkpoints) are streamed through, never held (small ones are
            # kept for the stable form of the cassette, :data:`UPLOAD_KEEP_BYTES`).
            if request.content_length is not None:
                headers["Content-Length"] = str(request.content_length)

            async def stream() -> AsyncIterator[bytes]:
                nonlocal size
                async for chunk in request.content.iter_chunked(_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    if size <= UPLOAD_KEEP_BYTES:
                        kept.append(chunk)
                    yield chunk

            data = stream()
        else:
            data = body if body is not None else await request.read()
        outgoing_url, outgoing = url, data
        if translation is not None:
            if isinstance(data, bytes):
                translation.learn(url + data.decode("utf-8", "replace"))
                outgoing = translation.body_to_upstream(data)
            else:
                translation.learn(url)
            outgoing_url = translation.to_upstream(url)
        if isinstance(outgoing, bytes):
            if rec.before_forward is not None and not rec.cleaning:
                try:
                    rec.before_forward(request.method, outgoing_url, outgoing)
                except RecordingError as exc:
                    rec.fatal = exc
                    return _error(400, f"wandb-cassettes: {exc}", graphql=url.endswith("/graphql"))
            if request.path.endswith("/graphql"):
                rec.runs.update(_streamed_runs(outgoing if translation is None else data))
                if not rec.cleaning:
                    self._seen_graphql(rec, request, headers, url, data)
            if rec.prior_reads is not None and not rec.cleaning and isinstance(data, bytes):
                reads = rec.prior_reads(url, data)
                recorded = _recorded_headers(request.headers) if reads else {}
                for read in reads:
                    await self._read(rec, recorded, headers, url, read, translation)
        client = await self._client_session()
        started = time.monotonic()
        try:
            # encoded=True: forward the URL byte for byte (a signed URL's signature covers it).
            async with client.request(
                request.method,
                yarl.URL(outgoing_url, encoded=True),
                headers=headers,
                data=outgoing,
                allow_redirects=False,
            ) as upstream:
                status, reason = upstream.status, upstream.reason or ""
                response_headers = _recorded_headers(upstream.headers)
                if external and translation is None and _large(rec, request.method, upstream):
                    return await self._stream_to_blob(rec, request, url, upstream, started)
                response_body: Body = await upstream.read()
            if translation is not None and isinstance(response_body, bytes):
                response_body = translation.body_to_client(response_body)
                response_headers = {
                    k: [translation.to_client(v) for v in values]
                    for k, values in response_headers.items()
                }
        except (aiohttp.ClientError, TimeoutError) as exc:
            message = f"upstream failed for {request.method} {_strip_query(url)}: {_failure(exc)}"
            rec.upstream_errors.append(message)
            status, reason, response_headers = 502, "Bad Gateway", {}
            response_body = message.encode()
            if isinstance(exc, aiohttp.ClientConnectorError):
                # Nothing could be sent (no such host, connection refused): a 400, which
                # wandb-core does not retry (core/internal/clients/retry_policy.go), so the
                # test fails in seconds instead of retrying a dead address for minutes. What
                # the client is answered is what the cassette keeps, as for the 502.
                said = f"wandb-cassettes: {message}; cannot reach the upstream: check "
                said += "--wandb-upstream and the network"
                status, reason = 400, "Bad Request"
                response_headers, response_body = _error_body(said, url.endswith("/graphql"))
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
        small = size <= UPLOAD_KEEP_BYTES and isinstance(request_body, Digest)
        rec.add(ix, started, b"".join(kept) if small else None)
        body = response_body if isinstance(response_body, bytes) else b""
        if request.path.endswith("/graphql") and b"upsertBucket" in body:
            rec.runs.update(_answered_runs(body))
        flat = {k: v[0] for k, v in response_headers.items() if v}
        handed = rec.handed_out
        # URLs on the request's own server come back through its own route.
        server = (self._server_of(request),) if not external else (self.upstream,)
        base = self.route(request.get(_SERVER))
        return web.Response(
            status=status,
            body=self._rewrite(body, server, handed, base),
            headers=self._rewrite_headers(flat, server, handed, base),
        )

    def _seen_graphql(
        self, rec: Recording, request: web.Request, headers: dict[str, str], url: str, body: Any
    ) -> None:
        """Note a GraphQL request of the code under test: its server, and whether it asked
        for the server's features (:meth:`read_server_features`)."""
        server = self._server_of(request)
        if server not in rec.graphql_seen:
            rec.graphql_seen[server] = (url, dict(headers), _recorded_headers(request.headers))
        if isinstance(body, bytes) and SERVER_FEATURES.encode() in body:
            asked = parse_request(body)
            if asked is not None and asked.operation == SERVER_FEATURES:
                rec.features_asked.add(server)

    def read_server_features(self, rec: Recording) -> None:
        """Record the features of each W&B server the recording sent GraphQL to and did
        not ask them of: what another wandb release of the window asks where this one
        did not.

        wandb 0.29 and 0.30 send ``ServerFeaturesQuery`` at every ``wandb.init``; 0.31
        only before an artifact operation (measured: a run with no artifact recorded
        under 0.31 held none, and 0.29 and 0.30 asked it first thing in replay). The
        answer is the server's, not the test's: replay serves it to whichever SDK asks,
        as often as asked, and never reports it unplayed. A read that fails (or takes
        over :data:`_FEATURES_TIMEOUT_S`) is not kept: an SDK that asks then meets the
        usual mismatch.
        """
        # Cancelled on the loop when late, so that no answer lands among the cleanup's.
        # (concurrent.futures.TimeoutError is TimeoutError since Python 3.11.)
        with contextlib.suppress(TimeoutError):
            self._server.call(
                lambda: asyncio.wait_for(self._read_server_features(rec), _FEATURES_TIMEOUT_S),
                timeout=_FEATURES_TIMEOUT_S + 5,
            )

    async def _read_server_features(self, rec: Recording) -> None:
        for server, (url, headers, recorded) in list(rec.graphql_seen.items()):
            if server not in rec.features_asked and rec.fatal is None:
                rec.features_asked.add(server)
                await self._read(
                    rec,
                    recorded,
                    headers,
                    url,
                    SERVER_FEATURES_BODY,
                    rec.translation,
                    required=False,
                )

    async def _read(
        self,
        rec: Recording,
        recorded: dict[str, list[str]],
        headers: dict[str, str],
        url: str,
        body: bytes,
        translation: IdTranslation | None,
        *,
        required: bool = True,
    ) -> None:
        """Send a GraphQL read of the relay's own upstream, and record the exchange.

        Recorded as the client's view (``translation``: the upstream sees fresh ids),
        with ``recorded``, the headers of the request that led to it; the ledger learns
        from it (the state before a change: :meth:`.ledger.Ledger.prior_reads`). A read
        that fails is recorded as failed when ``required`` (no state before is then
        known), else left out.
        """
        outgoing = translation.body_to_upstream(body) if translation is not None else body
        target = translation.to_upstream(url) if translation is not None else url
        client = await self._client_session()
        sent = {**headers, "Content-Type": "application/json"}
        started = time.monotonic()
        try:
            async with client.post(
                yarl.URL(target, encoded=True), headers=sent, data=outgoing
            ) as r:
                status, reason = r.status, r.reason or ""
                response_headers, answer = _recorded_headers(r.headers), await r.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            if not required:
                return
            message = f"upstream failed for POST {_strip_query(url)}: {_failure(exc)}"
            rec.upstream_errors.append(message)
            status, reason = 502, "Bad Gateway"
            response_headers, answer = _error_body(message, graphql=True)
        if not required and (status != 200 or response_errors(answer)):
            return
        if translation is not None:
            answer = translation.body_to_client(answer)
        rec.add(
            Interaction(
                method="POST",
                uri=url,
                request_headers={**recorded, "Content-Type": ["application/json"]},
                request_body=body.decode("utf-8"),
                status=status,
                reason=reason,
                response_headers=response_headers,
                response_body=_text_or_bytes(answer),
            ),
            started,
        )

    async def _stream_to_blob(
        self,
        rec: Recording,
        request: web.Request,
        url: str,
        upstream: aiohttp.ClientResponse,
        started: float,
    ) -> web.StreamResponse:
        """A large download: to the client and to the blob store, chunk by chunk, never whole."""
        assert rec.blobs is not None
        headers = _recorded_headers(upstream.headers)
        answer = web.StreamResponse(
            status=upstream.status,
            reason=upstream.reason,
            headers={k: v[0] for k, v in headers.items() if v},
        )
        if upstream.content_length is not None:
            answer.content_length = upstream.content_length
        await answer.prepare(request)
        writer = rec.blobs.writer()
        try:
            async for chunk in upstream.content.iter_chunked(_CHUNK):
                writer.write(chunk)
                await answer.write(chunk)
            await answer.write_eof()
        except BaseException:
            writer.discard()
            raise
        if writer.sha256 in rec.uploaded:
            writer.discard()  # the test uploaded these bytes: replay serves its own upload
            body = Digest(writer.sha256, writer.size)
        else:
            path = writer.commit()
            folder = rec.cassette.path.parent if rec.cassette.path else rec.blobs.root
            body = Digest(writer.sha256, writer.size, os.path.relpath(path, folder))
            if writer.size >= BLOB_WARN_BYTES:
                rec.notes.append(
                    f"{request.method} {_strip_query(url)}: a {writer.size / 1e6:.0f} MB download "
                    f"is stored beside the cassettes ({body.blob}) and will be committed with "
                    "them; a smaller fixture keeps the repository small"
                )
        rec.add(
            Interaction(
                method=request.method,
                uri=url,
                request_headers=_recorded_headers(request.headers),
                request_body=None,
                status=upstream.status,
                reason=upstream.reason or "",
                response_headers=headers,
                response_body=body,
            ),
            started,
        )
        return answer

    async def _client_session(self) -> aiohttp.ClientSession:
        if self._client is None:
            # auto_decompress: cassettes keep bodies readable; we drop Content-Encoding.
            # trust_env: recording honours the shell's HTTP(S)_PROXY / NO_PROXY (corporate CI).
            self._client = aiohttp.ClientSession(
                auto_decompress=True,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=600),
                skip_auto_headers=("User-Agent",),
                trust_env=True,
            )
        return self._client

    async def _close_client(self, _app: web.Application) -> None:
        if self._client is not None:
            await self._client.close()

    # -- replay -----------------------------------------------------------------

    async def _replay(self, rep: Replay, request: web.Request) -> web.StreamResponse:
        where, external = _destination(request)
        target = target_of(where, "") if external else where.split("?", 1)[0]
        # Storage requests match on method + URL: their bodies are read after matching.
        body = None if external or not request.can_read_body else await request.read()
        fallback, translation = rep.fallback, rep.translation
        if fallback is not None and (
            fallback.cleaning
            or (translation is not None and translation.mentions_live(where, body or b""))
        ):
            # new_episodes: the cleanup, and whatever concerns what now lives upstream.
            return await self._record(fallback, request, translation, body)
        byte_range = request.headers.get("Range") if request.method == "GET" else None
        key = rep.matcher.key(request.method, target, body, byte_range)
        try:
            index, ix = rep.matcher.match(key)
        except NoMatch as exc:
            if fallback is not None:
                return await self._record(fallback, request, translation, body)
            rep.errors.append(exc)
            # 400: never retried by wandb-core, so the test fails now rather than in minutes.
            return _error(400, f"wandb-cassettes: {exc}", graphql=key.kind == "graphql")
        if external and request.can_read_body:
            await _absorb_upload(rep, request, ix)
        stored = ix.response_body
        if isinstance(stored, Digest) and stored.blob and stored.sha256 not in rep.content:
            return await self._blob_answer(rep, ix, stored)
        base = self.route(request.get(_SERVER))
        rendered = rep._rendered.get((index, base))
        if rendered is None:
            try:
                rendered = self._render(rep, ix, base)
            except RelayError as exc:
                rep.errors.append(exc)
                return _error(404, f"wandb-cassettes: {exc}")
            rep._rendered[(index, base)] = rendered
        payload, headers = rendered
        if rep.matcher.restorations:  # the test's own strings where recording scrubbed them
            payload = rep.matcher.restorations.restore(payload)
        if key.kind == "graphql" and body and body.decode("utf-8", "replace") != ix.request_text():
            live_names = substitutions(ix.request_text(), body, rep.matcher.rules)
            for recorded_value, live_value in live_names.items():
                payload = _replace_in_json(payload, recorded_value, live_value)
        return web.Response(
            status=ix.status, reason=ix.reason or None, body=payload, headers=headers
        )

    async def _blob_answer(self, rep: Replay, ix: Interaction, body: Digest) -> web.StreamResponse:
        """A large recorded download, streamed from the blob store beside the cassettes:
        only its content address under the cassette folder, its sha256 checked first."""
        cassette = rep.matcher.cassette.path or Path("cassette")
        root = rep.blob_root or cassette.parent
        try:
            path = blob_file(cassette, body, root)
            await self._verify(rep, cassette, body, path)
        except CassetteError as exc:
            error = RelayError(f"{ix.method} {_strip_query(ix.uri)}: cassette unusable: {exc}")
            rep.errors.append(error)
            return _error(404, f"wandb-cassettes: {error}")
        headers = {
            k: v[0] for k, v in ix.response_headers.items() if v and k.lower() != "content-type"
        }
        return web.FileResponse(path, status=ix.status, headers=_served(headers, ix.status))

    async def _verify(self, rep: Replay, cassette: Path, body: Digest, path: Path) -> None:
        """:func:`.store.verify_blob`, once per file as it is (off the event loop: a
        blob may be hundreds of megabytes)."""
        try:
            st = path.stat()
        except OSError:
            st = None
        seen = (body.sha256, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) if st else None
        if seen is not None and seen in rep._verified:
            return
        await asyncio.get_running_loop().run_in_executor(None, verify_blob, cassette, body, path)
        if seen is not None:
            rep._verified.add(seen)

    def _render(self, rep: Replay, ix: Interaction, base: str) -> tuple[bytes, dict[str, str]]:
        """A recorded answer as bytes and headers; URLs on any W&B server of the cassette
        point at ``base`` (the route the live request came by)."""
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
        headers = _served({k: v[0] for k, v in ix.response_headers.items() if v}, ix.status)
        # The cassette's servers, not this session's: a cassette recorded against another
        # server hands out that server's URLs.
        servers = rep.matcher.servers
        return (
            self._rewrite(payload, servers, relay=base),
            self._rewrite_headers(headers, servers, relay=base),
        )

    # -- shared -----------------------------------------------------------------

    def _rewrite(
        self,
        body: bytes,
        servers: tuple[str, ...] = (),
        handed: set[str] | None = None,
        relay: str | None = None,
    ) -> bytes:
        """Point absolute URLs the SDK will call next at the relay: those on ``servers``
        (default: the upstream) at ``relay`` (default: the relay's own URL), any other at
        ``/_ext/``; ``handed`` learns the hosts of those."""
        if b"http" not in body or body.lstrip()[:1] not in (b"{", b"["):
            return body
        try:
            data = json.loads(body)
        except ValueError:
            return body
        changed = _rewrite_urls(data, servers or (self.upstream,), relay or self.url, handed)
        return json.dumps(data).encode() if changed else body

    def _rewrite_headers(
        self,
        headers: dict[str, str],
        servers: tuple[str, ...] = (),
        handed: set[str] | None = None,
        relay: str | None = None,
    ) -> dict[str, str]:
        """A redirect's ``Location`` (and the like) through the relay (as :meth:`_rewrite`)."""
        for name in list(headers):
            if name.title() in URL_HEADERS:
                headers[name] = relay_url(
                    headers[name], servers or (self.upstream,), relay or self.url, handed
                )
        return headers


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


def _streamed_runs(body: bytes) -> set[str]:
    """``entity/project/run`` of an ``upsertBucket`` in a body (to route its file_stream)."""
    if b"upsertBucket" not in body:
        return set()

    request = parse_request(body)
    if request is None:
        return set()
    v = request.variables
    if all(isinstance(v.get(k), str) for k in ("entity", "project", "name")):
        return {f"{v['entity']}/{v['project']}/{v['name']}"}
    return set()


def _answered_runs(body: bytes) -> set[str]:
    """``entity/project/run`` of the run an ``upsertBucket`` answer describes.

    The request names the entity only when the user gave one (wandb-core leaves
    it to the server otherwise, which answers with the key's default entity:
    ``bucket { name project { name entity { name } } }``, wandb-core's
    ``UpsertBucket`` document), so the file_stream of a run started without an
    entity is routed by the answer.
    """
    try:
        data = json.loads(body)
        bucket = data["data"]["upsertBucket"]["bucket"]
        path = (bucket["project"]["entity"]["name"], bucket["project"]["name"], bucket["name"])
    except (ValueError, KeyError, TypeError):
        return set()
    return {"/".join(path)} if all(isinstance(p, str) and p for p in path) else set()


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


def _rewrite_urls(
    data: Any, upstream: str | tuple[str, ...], relay: str, handed: set[str] | None
) -> bool:
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
                new = relay_url(value, upstream, relay, handed)
                if new != value:
                    data[key] = new
                    changed = True
        elif _rewrite_urls(value, upstream, relay, handed):
            changed = True
    return changed


def relay_url(
    url: str, upstream: str | tuple[str, ...], relay: str, handed: set[str] | None = None
) -> str:
    """``url`` as the SDK must call it through the relay (unchanged if not absolute): on
    ``upstream`` (one W&B server or several), under ``relay``; elsewhere, at ``/_ext/``;
    ``handed`` learns the ``scheme://host`` of a URL sent to ``/_ext/``."""
    server = server_of(url, (upstream,) if isinstance(upstream, str) else upstream)
    if server is not None:
        return relay + url[len(server) :]
    for scheme in ("https", "http"):
        prefix = scheme + "://"
        if url.startswith(prefix):
            if handed is not None:
                handed.add(_origin(url))
            return f"{relay}{EXT_PREFIX}{scheme}/{url[len(prefix) :]}"
    return url


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of an absolute URL, lowercased (as it is compared)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0].split('?', 1)[0]}".lower()


#: Response headers that tell a client how long to wait before asking again. The only one
#: the relay's clients read: wandb-core for every request (``retryAfterHeader`` in
#: core/internal/clients/backoff.go: seconds, or an HTTP date) and urllib3 for the SDK's
#: in-process downloads (``Retry.parse_retry_after``); RFC 9110 section 10.2.3.
WAIT_HEADER = "retry-after"


def _served(headers: dict[str, str], status: int) -> dict[str, str]:
    """A replayed answer's headers: none that frames the message (the relay frames what it
    sends itself: a recorded ``Transfer-Encoding: chunked`` or ``Content-Length`` over a
    body that is not so framed makes the client wait for bytes that never come, a recorded
    ``Content-Encoding`` over the decoded body the cassette keeps fails its decoding), and
    :func:`_no_wait`."""
    return _no_wait({k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}, status)


def _no_wait(headers: dict[str, str], status: int) -> dict[str, str]:
    """A replayed answer's headers, never asking the client to wait.

    A recorded ``Retry-After`` is the recording's clock (a 429 during rate limiting says
    600 s): replay serves it as ``0``. An error answer gets ``Retry-After: 0`` even when
    the recording had none, so a client that retries (wandb-core retries 5xx and 429 after
    an exponential backoff of its own, unless the answer says how long: backoff.go) asks
    again at once and meets the next recorded answer, or the end of the recordings (the
    matcher never repeats an error: :meth:`.matching.Matcher.match`), in milliseconds.
    """
    waits = [name for name in headers if name.lower() == WAIT_HEADER]
    for name in waits:
        del headers[name]
    if waits or status >= 400:
        headers["Retry-After"] = "0"
    return headers


def _large(rec: Recording, method: str, upstream: aiohttp.ClientResponse) -> bool:
    """A download to keep outside the YAML: big (or of unknown size) and not JSON."""
    if rec.blobs is None or method != "GET" or upstream.status != 200:
        return False
    if "json" in (upstream.content_type or ""):
        return False
    length = upstream.content_length
    return length is None or length >= BLOB_MIN_BYTES


def _replace_in_json(payload: bytes, old: str, new: str) -> bytes:
    """``old`` replaced by ``new`` in a JSON body, also where it is escaped in a JSON string."""
    for a, b in ((old, new), (json.dumps(old)[1:-1], json.dumps(new)[1:-1])):
        payload = payload.replace(a.encode(), b.encode())
    return payload


def _basic_key(value: str | None) -> str | None:
    """The API key in wandb-core's ``Authorization: Basic base64("api:KEY")``."""
    if not value or not value.startswith("Basic "):
        return None
    try:
        user, _, key = base64.b64decode(value[6:].strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return key if user == "api" and key else None


def _unscrubbed_line(where: str, finding: scrubbing.SecretFinding) -> str:
    """What recording says of a finding in a body it keeps as it was sent."""
    inside = finding.where.strip(" >")  # inside a compressed stream: its member
    if finding.rule == scrubbing.UNSEARCHED:
        what = f"could not be searched for secrets ({inside})"
    else:
        at = f"byte {finding.offset}" + (f" of {inside}" if inside else "")
        what = f"holds a secret ({finding.rule} at {at})"
    return (
        f"{where} {what}: it is kept as it was sent, so it is not scrubbed, and the audit "
        "fails on this cassette; use a fixture without it, or leave the exchange out with a "
        "before_record hook"
    )


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


def _error_body(message: str, graphql: bool) -> tuple[dict[str, list[str]], bytes]:
    """The headers and body of the relay's own error answer: GraphQL ``errors``, or text."""
    if graphql:
        body = json.dumps({"errors": [{"message": message}], "data": None}).encode()
        return {"Content-Type": ["application/json; charset=utf-8"]}, body
    return {"Content-Type": ["text/plain; charset=utf-8"]}, message.encode()


def _error(status: int, message: str, *, graphql: bool = False) -> web.Response:
    headers, body = _error_body(message, graphql)
    return web.Response(status=status, body=body, headers={k: v[0] for k, v in headers.items()})


def _failure(exc: BaseException) -> str:
    """What went wrong with the upstream, in one line a user can act on.

    aiohttp's ``repr`` of a connection error holds its whole ``ConnectionKey`` (eight
    fields of proxy and TLS state); the user needs the host, the port and the reason:
    ``cannot connect to api.wandb.ai:443: Name or service not known``.
    """
    if isinstance(exc, aiohttp.ClientConnectorError):
        cause = exc.os_error
        why = getattr(cause, "strerror", None) or str(cause) or type(cause).__name__
        return f"cannot connect to {exc.host}:{exc.port}: {why}"
    if isinstance(exc, TimeoutError):
        return f"no answer in time ({type(exc).__name__})"
    text = str(exc)
    text = text if len(text) <= 200 else text[:199] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
