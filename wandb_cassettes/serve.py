"""Run an aiohttp application on a loopback port, in a background thread.

The relay and the stand-in backend both need an HTTP server that lives beside
a synchronous pytest session. aiohttp (rather than ``http.server``) because it
streams request and response bodies, keeps connections alive, and sets
``TCP_NODELAY`` on every accepted socket: without it each small GraphQL
answer waits ~40 ms for a delayed ACK (Nagle's algorithm meeting delayed ACKs,
RFC 896 and RFC 1122 section 4.2.3.2; measured here at ~43 ms per GraphQL round trip).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from aiohttp import web

T = TypeVar("T")

LOOPBACK = "127.0.0.1"


class BackgroundServer:
    """Serve ``app`` on ``host:port`` (port 0 picks a free one) from a daemon thread.

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    ``on_loop`` coroutines given to :meth:`call` run on the server's loop,
    which is how callers touch server state without locks.
    """

    def __init__(self, app: web.Application, host: str = LOOPBACK, port: int = 0) -> None:
        self.app = app
        self.host = host
        self._requested_port = port
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stopped = threading.Event()

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server, without a trailing slash."""
        if not self.port:
            raise RuntimeError("server is not running")
        return f"http://{self.host}:{self.port}"

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("server is not running")
        return self._loop

    def start(self) -> BackgroundServer:
        """Start serving; returns once the port is bound."""
        if self._thread is not None:
            raise RuntimeError("server already started")
        started: Future[int] = Future()
        self._thread = threading.Thread(
            target=self._run, args=(started,), name=f"wandb-cassettes-{id(self):x}", daemon=True
        )
        self._thread.start()
        self.port = started.result(timeout=30)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and join the thread. Idempotent."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if not loop.is_closed():
            loop.call_soon_threadsafe(self._stopped.set)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._thread = None
        self._loop = None
        self.port = 0

    def call(self, fn: Callable[[], Coroutine[Any, Any, T]], timeout: float | None = 30) -> T:
        """Run coroutine function ``fn`` on the server loop and return its result."""
        return asyncio.run_coroutine_threadsafe(fn(), self.loop).result(timeout)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, started: Future[int]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            port = loop.run_until_complete(self._bind())
        except BaseException as exc:  # reported to start(), which re-raises it
            started.set_exception(exc)
            loop.close()
            return
        started.set_result(port)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._cleanup())
            loop.close()

    async def _bind(self) -> int:
        # shutdown_timeout: stop() must not wait for idle keep-alive clients.
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._requested_port, reuse_address=True)
        await site.start()
        server = site._server  # the asyncio.Server, to learn the bound port
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        return int(sockets[0].getsockname()[1])

    async def _cleanup(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def run_in_thread(fn: Callable[[], T]) -> T:
    """Run blocking ``fn`` off the event loop (file writes, hashing)."""
    return await asyncio.get_running_loop().run_in_executor(None, fn)
