"""StandinBackend: the API server and the storage server, with faults and a request log.

Both servers are :class:`wandb_cassettes.BackgroundServer` instances
(aiohttp in a daemon thread each): aiohttp streams upload bodies, keeps the Go
core's connections alive and sets ``TCP_NODELAY``, which keeps a run's ~20
round trips in milliseconds. State is touched by API handlers on the API
server's loop only; the request log and faults, shared by both servers and the
test thread, sit behind a lock.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import logging
import secrets
import threading
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from wandb_cassettes import BACKEND_HEADER, BackgroundServer

from . import gql
from .fidelity import check as fidelity_check
from .fidelity import enabled as fidelity_enabled
from .graphql import DEFAULT_FEATURES, Context, handler_for
from .state import GraphQLError, State
from .storage import BlobStore, Signer, storage_routes

__all__ = ["Fault", "RequestRecord", "StandinBackend"]

log = logging.getLogger("wandb_cassettes_standin")

#: What this backend calls itself in :data:`wandb_cassettes.BACKEND_HEADER`: a cassette
#: recorded against it says so in its metadata (``backend``).
BACKEND_NAME = "wandb-cassettes stand-in (test double)"

RequestRecord = tuple[str, str, str | None]
"""``(method, path, GraphQL operation name or None)`` of one request seen."""

_Next = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Fault:
    """One injected failure; ``times`` counts down, None means forever."""

    match: str
    status: int | None = None
    graphql_error: str | None = None
    delay: float = 0.0
    drop: bool = False
    headers: dict[str, str] | None = None
    times: int | None = 1
    #: The request is carried out first, then its answer is lost: ``status``, ``drop``,
    #: or ``truncate`` (half the body is sent, then the connection closes).
    after: bool = False
    truncate: bool = False

    def applies(self, path: str, operation: str | None) -> bool:
        if self.match.startswith("/"):
            return path.startswith(self.match)
        return self.match == operation


async def _graphql_body(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        body = await request.json()
    except ValueError:
        return _errors("wandb-cassettes stand-in: body is not JSON", 400)
    if not isinstance(body, dict):
        return _errors("wandb-cassettes stand-in: batched GraphQL is not supported", 400)
    return body


def _operation(body: dict[str, Any]) -> str | None:
    """``operationName``, else the name in ``query|mutation NAME``."""
    name = body.get("operationName") or gql.operation_name(body.get("query") or "")
    return str(name) if name else None


def _errors(message: str, status: int = 200) -> web.Response:
    return web.json_response({"errors": [{"message": message}], "data": None}, status=status)


class StandinBackend:
    """A stateful W&B stand-in on loopback that the real wandb SDK 0.31 accepts.

    Two servers: :attr:`base_url` (GraphQL, file_stream; point
    ``WANDB_BASE_URL`` at it) and :attr:`storage_url` (signed-URL object
    storage that GraphQL answers hand out). Use as a context manager, or call
    :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        api_key: str | None = None,
        entity: str = "standin-user",
        *,
        features: tuple[str, ...] = DEFAULT_FEATURES,
        port: int = 0,
        storage_port: int = 0,
        multipart_threshold: int = 5 << 20,
        fidelity: bool | None = None,
    ) -> None:
        # A dash-prefixed 40-character secret passes the SDK's key format check
        # (wandb/sdk/lib/wbauth/validation.py), like on-prem keys.
        # W&B Server's key form: a prefix, a dash, 40+ characters (the SDK's check:
        # wandb/sdk/lib/wbauth/validation.py check_api_key, "On-prem API keys have a
        # variable-length prefix followed by a dash"); "local-" is the self-hosted server's.
        self.api_key = api_key or "local-" + secrets.token_hex(20)
        self.entity = entity
        self._expected_auth = "Basic " + base64.b64encode(f"api:{self.api_key}".encode()).decode()
        self._blobs = BlobStore()
        self._signer = Signer()
        self._state = State(entity, self._blobs)
        self._ctx = Context(self._state, self._signer, tuple(features), entity)
        # Whether a file goes up in parts is the SDK's choice, made before the
        # server sees a size (wandb-core: files of 2 GiB and more,
        # core/pkg/artifacts/multipart.go). This is the storage's side: the
        # smallest part but the last that completion accepts (S3: 5 MiB).
        self._ctx.multipart_threshold = multipart_threshold
        # Check every GraphQL answer against the SDK's own types (fidelity.py);
        # None: as the WANDB_CASSETTES_STANDIN_FIDELITY environment variable says.
        self.fidelity = fidelity_enabled(fidelity)
        self.fidelity_errors: list[str] = []
        self._faults: list[Fault] = []
        self._seen: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._api = BackgroundServer(self._api_app(), port=port)
        self._storage = BackgroundServer(self._storage_app(), port=storage_port)

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> StandinBackend:
        """Bind both servers on 127.0.0.1; returns once they accept connections."""
        self._storage.start()
        self._signer.base_url = self._storage.url
        try:
            self._api.start()
        except BaseException:
            self._storage.stop()
            raise
        self._ctx.base_url = self._api.url
        return self

    def stop(self) -> None:
        """Stop both servers and drop stored blobs. Idempotent."""
        self._api.stop()
        self._storage.stop()
        self._blobs.close()

    def __enter__(self) -> StandinBackend:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` of the GraphQL / file_stream server."""
        return self._api.url

    @property
    def storage_url(self) -> str:
        """``http://127.0.0.1:PORT`` of the signed-URL storage server."""
        return self._storage.url

    # -- inspection and faults -------------------------------------------------------

    def live(self) -> dict[str, list[dict[str, Any]]]:
        """Live runs, artifact versions and collections (``GET /_standin/state``).

        Read on the server's loop, where handlers change the state; after
        :meth:`stop` nothing changes it any more and it is read directly.
        """

        async def snapshot() -> dict[str, list[dict[str, Any]]]:
            return self._state.live()

        if not self._api.port:
            return self._state.live()
        return self._api.call(snapshot)

    def delete_sweep(self, path: str) -> None:
        """Delete the sweep ``entity/project/sweep`` (``DELETE /_standin/sweeps/...``).

        NOT a W&B API: wandb 0.31 has no sweep delete (no mutation in
        ``wandb/apis/public/sweeps.py`` nor in wandb-core; a public API for it
        is an open feature request, github.com/wandb/wandb/issues/4536), W&B's
        web UI deletes sweeps. This stands in for the UI. The sweep's runs stay
        (delete them with ``Run.delete``); its agents' heartbeats then get 404,
        which the SDK reads as a deleted sweep (``_agent_heartbeat``).
        """
        entity, project, name = path.split("/")

        async def delete() -> None:
            sweep = self._state.sweep(entity, project, name)
            if sweep is None:
                raise KeyError(path)
            self._state.delete_sweep(sweep)

        self._api.call(delete)

    def seed_versions(
        self,
        project: str,
        collection: str,
        contents: list[str],
        type: str = "model",
        aliases: dict[str, list[str]] | None = None,
    ) -> list[str]:
        """Committed versions made outside any test (a teammate's); returns their ids.

        Test scaffolding, not a W&B API: the same as logging each content as a
        version of ``collection`` with the SDK, without a run (``aliases``: by
        content, the aliases it is logged with).
        """

        async def seed() -> list[str]:
            ids = []
            for content in contents:
                digest = hashlib.md5(content.encode()).hexdigest()
                art = self._state.create_artifact(
                    {
                        "entityName": self.entity,
                        "projectName": project,
                        "artifactTypeName": type,
                        "artifactCollectionName": collection,
                        "digest": digest,
                        "aliases": [{"alias": a} for a in (aliases or {}).get(content, [])],
                    }
                )
                self._state.commit_artifact(art)
                ids.append(art.id)
            return ids

        return self._api.call(seed)

    def seed_run(self, project: str, name: str, config: str | None = None) -> str:
        """A finished run made outside any test (a teammate's); returns its storage id.

        ``config``: as UpsertBucket sends it (``{"key": {"value": ...}}`` JSON).
        """

        async def seed() -> str:
            run, _ = self._state.upsert_run(
                {"entityName": self.entity, "modelName": project, "name": name, "config": config}
            )
            run.state = "finished"
            return run.id

        return self._api.call(seed)

    def details(self, project: str) -> dict[str, dict[str, Any]]:
        """What a test may change of a project's resources: each version's aliases,
        description, metadata and tags (by id), each run's config and summary (by name).

        Test scaffolding, not a W&B API (the state machine of ``tests/`` compares it).
        """

        async def read() -> dict[str, dict[str, Any]]:
            return self._state.details(project)

        return self._api.call(read)

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of ``(method, path, operation)`` of every request so far."""
        with self._lock:
            return list(self._seen)

    def inject_fault(
        self,
        operation_or_path: str,
        *,
        status: int | None = None,
        graphql_error: str | None = None,
        delay: float = 0,
        drop: bool = False,
        headers: dict[str, str] | None = None,
        times: int | None = 1,
        after: bool = False,
        truncate: bool = False,
    ) -> None:
        """Make matching requests fail.

        ``operation_or_path`` is a GraphQL operation name, or (starting with
        ``/``) a path prefix on either server. ``delay`` sleeps first; then
        ``drop`` closes the connection unanswered, ``status`` answers that
        HTTP status (with ``headers``), ``graphql_error`` answers 200 with an
        ``errors`` array. ``times=None`` keeps the fault forever.

        ``after=True`` carries the request out first and then loses its answer
        (``status``: e.g. a 504 from a gateway; ``drop``; ``truncate``: the
        answer cut half way, the connection closed): the server did the work,
        the client cannot know. Real networks do this; a retrying client then
        sends the request again.
        """
        fault = Fault(
            operation_or_path, status, graphql_error, delay, drop, headers, times, after, truncate
        )
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        with self._lock:
            self._faults.clear()

    def _take_fault(self, path: str, operation: str | None) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.applies(path, operation):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    # -- middleware ------------------------------------------------------------------

    def _observer(self, *, auth: bool) -> Middleware:
        """Middleware: log the request, apply a matching fault, then check auth if ``auth``."""

        @web.middleware
        async def observe(request: web.Request, handler: _Next) -> web.StreamResponse:
            operation: str | None = None
            if request.method == "POST" and request.path == "/graphql":
                body = await _graphql_body(request)
                if isinstance(body, web.Response):
                    return body
                operation = _operation(body)
            with self._lock:
                self._seen.append((request.method, request.path, operation))
            fault = self._take_fault(request.path, operation)
            if fault is not None and fault.after:
                return await self._lose_answer(fault, request, await handler(request))
            if fault is not None and (answer := await self._apply(fault, request)) is not None:
                return answer
            if auth and not request.path.startswith("/_standin/"):
                given = request.headers.get("Authorization", "").encode()
                if not hmac.compare_digest(given, self._expected_auth.encode()):
                    log.info("401 for %s %s (%s)", request.method, request.path, operation)
                    return _errors("user is not logged in", 401)
            return await handler(request)

        return observe

    async def _lose_answer(
        self, fault: Fault, request: web.Request, answer: web.StreamResponse
    ) -> web.StreamResponse:
        """The work is done (``answer``); what reaches the client is a failure instead."""
        if fault.truncate and isinstance(answer, web.Response) and answer.body is not None:
            body = bytes(answer.body)  # type: ignore[arg-type]
            cut = web.StreamResponse(
                status=answer.status, headers={"Content-Type": "application/json"}
            )
            cut.content_length = len(body)  # promises all of it...
            await cut.prepare(request)
            await cut.write(body[: len(body) // 2])  # ...sends half, and hangs up
            if request.transport is not None:
                request.transport.abort()
            return cut
        applied = await self._apply(dataclasses.replace(fault, after=False), request)
        return applied if applied is not None else answer

    async def _apply(self, fault: Fault, request: web.Request) -> web.StreamResponse | None:
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.drop:
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # nothing may be written on a dropped connection
        if fault.status is not None:
            body = {"errors": [{"message": f"wandb-cassettes stand-in: injected {fault.status}"}]}
            return web.json_response(body, status=fault.status, headers=fault.headers)
        if fault.graphql_error is not None:
            return web.json_response(
                {"errors": [{"message": fault.graphql_error}], "data": None},
                headers=fault.headers,
            )
        return None

    # -- the API server --------------------------------------------------------------

    def _api_app(self) -> web.Application:
        # file_stream batches and GraphQL bodies can exceed aiohttp's 1 MiB default.
        app = web.Application(middlewares=[self._observer(auth=True)], client_max_size=256 << 20)
        app.on_response_prepare.append(_identify)
        app.router.add_post("/graphql", self._graphql)
        app.router.add_post("/files/{entity}/{project}/{run}/file_stream", self._file_stream)
        app.router.add_get("/files/{entity}/{project}/{run}/{name:.+}", self._run_file)
        app.router.add_get("/artifacts/{entity}/{md5}", self._artifact_file)
        app.router.add_get(r"/artifactsV2/{tail:(?:[^/]+/){5,}[^/]+}", self._artifact_file)
        app.router.add_get("/_standin/state", self._state_json)
        app.router.add_delete("/_standin/sweeps/{entity}/{project}/{sweep}", self._delete_sweep)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        return app

    async def _graphql(self, request: web.Request) -> web.StreamResponse:
        body = await _graphql_body(request)  # aiohttp keeps the bytes: no second read
        if isinstance(body, web.Response):
            return body
        operation = _operation(body)
        op_name = body.get("operationName") or None
        try:
            doc = gql.parse(body.get("query") or "")  # cached: parsed once per document
            doc.operation(op_name)
        except gql.GraphQLSyntaxError as exc:
            return _errors(f"wandb-cassettes stand-in: cannot parse {operation!r}: {exc}", 400)
        root = gql.root_field(doc, op_name)
        handler = handler_for(operation, root)
        if handler is None:
            log.warning("unsupported GraphQL operation %r (root field %r)", operation, root)
            return _errors(
                f"wandb-cassettes stand-in: unsupported operation {operation!r} "
                f"(root field {root!r})"
            )
        variables = body.get("variables") or {}
        try:
            data = handler(self._ctx, gql.root_arguments(doc, op_name, variables))
            shaped, missing = gql.project(doc, op_name, variables, data)
        except GraphQLError as exc:
            log.info("%s failed: %s", operation, exc.message)
            return _errors(exc.message, exc.status)
        except Exception as exc:
            # A stand-in bug: answer at once (a 500 would be retried by the SDK for minutes).
            log.exception("%s crashed", operation)
            return _errors(f"wandb-cassettes stand-in: {operation!r} crashed: {exc!r}")
        if missing:
            log.debug("%s asked for fields the stand-in lacks: %s", operation, sorted(missing))
        if self.fidelity:
            problems = fidelity_check(body.get("query") or "", variables, op_name, shaped)
            if problems:
                # Loud: the SDK fails on the error at once (no retry), the test can
                # read fidelity_errors, and the log names operation and field.
                with self._lock:
                    self.fidelity_errors.extend(problems)
                log.error("fidelity: %s", "; ".join(problems))
                return _errors("wandb-cassettes stand-in fidelity: " + "; ".join(problems))
        return web.json_response({"data": shaped})

    async def _file_stream(self, request: web.Request) -> web.StreamResponse:
        m = request.match_info
        run = self._state.runs.get((m["entity"], m["project"], m["run"]))
        if run is None:
            return web.json_response({"error": "run not found"}, status=404)
        self._state.file_stream(run, await request.json())
        return web.json_response({"exitcode": None, "limits": {}})

    async def _run_file(self, request: web.Request) -> web.StreamResponse:
        """``File.url`` of a run file: 302 to a signed storage GET, as W&B answers.

        The SDK's download (``File.download`` in ``wandb/apis/public/files.py``,
        done by wandb-core) sends the API key here and follows the redirect.
        """
        m = request.match_info
        run = self._state.runs.get((m["entity"], m["project"], m["run"]))
        f = run.files.get(m["name"]) if run else None
        if f is None or f.storage_key not in self._blobs:
            return web.json_response({"error": "file not found"}, status=404)
        raise web.HTTPFound(self._signer.url("GET", f.storage_key))

    async def _artifact_file(self, request: web.Request) -> web.StreamResponse:
        """The SDK's fallback download URLs; W&B redirects them to signed storage.

        ``/artifacts/{entity}/{md5}`` (layout V1) and
        ``/artifactsV2/{region}/{entity}/{project}/{collection}/.../{md5}/{name}`` (V2).
        """
        parts = request.path.strip("/").split("/")
        entity, md5 = (parts[1], parts[2]) if parts[0] == "artifacts" else (parts[2], parts[-2])
        key = f"artifacts/{urllib.parse.unquote(entity)}/{md5}"
        if key not in self._blobs:
            return web.json_response({"error": "not found"}, status=404)
        raise web.HTTPFound(self._signer.url("GET", key))

    async def _delete_sweep(self, request: web.Request) -> web.StreamResponse:
        m = request.match_info
        sweep = self._state.sweep(m["entity"], m["project"], m["sweep"])
        if sweep is None:
            return web.json_response({"error": "sweep not found"}, status=404)
        self._state.delete_sweep(sweep)
        return web.json_response({"deleted": m["sweep"]})

    async def _state_json(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self._state.live())

    async def _unknown(self, request: web.Request) -> web.StreamResponse:
        log.warning("no route for %s %s", request.method, request.path)
        return web.json_response(
            {"error": f"wandb-cassettes stand-in: no route for {request.method} {request.path}"},
            status=404,
        )

    # -- the storage server ----------------------------------------------------------

    def _storage_app(self) -> web.Application:
        app = web.Application(middlewares=[self._observer(auth=False)])
        app.on_response_prepare.append(_identify)
        app.add_routes(storage_routes(self._signer, self._blobs))
        return app


async def _identify(request: web.Request, response: web.StreamResponse) -> None:
    # Every answer carries it, so a cassette recorded here says so in its metadata.
    response.headers[BACKEND_HEADER] = BACKEND_NAME
