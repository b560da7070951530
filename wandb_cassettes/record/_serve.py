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
import errno
import os
import resource
import signal
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from ..errors import StateError

T = TypeVar("T")

LOOPBACK = "127.0.0.1"

#: What asyncio's accept loop says when ``accept()`` fails for want of a resource
#: (``BaseSelectorEventLoop._accept_connection`` in CPython's ``asyncio/selector_events.py``):
#: it stops accepting for ``constants.ACCEPT_RETRY_DELAY`` (1 s), then tries again.
_ACCEPT_EXHAUSTED = "socket.accept() out of system resource"
_RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})

#: Called on the server's loop with a message naming the resource that ran out.
ResourceHandler = Callable[[str], None]


class BackgroundServer:
    """Serve ``app`` on ``host:port`` (port 0 picks a free one) from a daemon thread.

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    ``on_loop`` coroutines given to :meth:`call` run on the server's loop,
    which is how callers touch server state without locks.

    ``on_exhausted`` is told, on the loop, when a connection cannot be accepted for
    want of a resource (``EMFILE``: the descriptor limit; ``ENFILE``, ``ENOBUFS``,
    ``ENOMEM``), with a message that names it and the limit. asyncio itself then
    stops accepting for a second and tries again (never a busy loop); without the
    handler, asyncio's own log record says so each second.
    """

    def __init__(
        self,
        app: web.Application,
        host: str = LOOPBACK,
        port: int = 0,
        *,
        on_exhausted: ResourceHandler | None = None,
    ) -> None:
        self.app = app
        self.host = host
        self._on_exhausted = on_exhausted
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
            raise StateError("server is not running")
        return f"http://{self.host}:{self.port}"

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise StateError("server is not running")
        return self._loop

    def start(self) -> BackgroundServer:
        """Start serving; returns once the port is bound."""
        if self._thread is not None:
            raise StateError("server already started")
        started: Future[int] = Future()
        self._thread = background_thread(
            lambda: self._run(started), name=f"wandb-cassettes-{id(self):x}"
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

    def connections(self) -> list[RequestHandler]:
        """The open client connections (aiohttp's handlers); call it on the loop."""
        runner = self._runner
        server = runner.server if runner is not None else None
        return server.connections if server is not None else []

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, started: Future[int]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        loop.set_exception_handler(self._exception)
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

    def _exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if (
            self._on_exhausted is not None
            and context.get("message") == _ACCEPT_EXHAUSTED
            and isinstance(exc, OSError)
            and exc.errno in _RESOURCE_ERRNOS
        ):
            self._on_exhausted(exhausted_message(exc))
            return
        loop.default_exception_handler(context)


def exhausted_message(exc: OSError) -> str:
    """What ran out, said so that the user can act: the error, the limit, how many are open.

    >>> exhausted_message(OSError(errno.ENOMEM, "Cannot allocate memory"))[:47]
    'cannot accept a connection: ENOMEM (Cannot allo'
    """
    name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
    said = f"cannot accept a connection: {name} ({exc.strerror})"
    if exc.errno in (errno.EMFILE, errno.ENFILE):
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        try:
            count = f"{len(os.listdir('/proc/self/fd'))} are open, "
        except OSError:
            count = ""
        said += (
            f": this process has run out of file descriptors ({count}the limit is {soft}, "
            "`ulimit -n`); raise the limit, or look for what keeps files or sockets open"
        )
    return said


async def run_in_thread(fn: Callable[[], T]) -> T:
    """Run blocking ``fn`` off the event loop (file writes, hashing)."""
    return await asyncio.get_running_loop().run_in_executor(None, fn)


#: The signals a test session acts on in its main thread (Ctrl-C; SIGTERM, which the
#: watchdog's handler turns into a KeyboardInterrupt).
MAIN_THREAD_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


def background_thread(target: Callable[[], None], name: str) -> threading.Thread:
    """A daemon thread (not started) that runs ``target`` with SIGINT and SIGTERM blocked.

    The kernel hands a signal sent to the process to any thread that does not block it
    (signal(7)); CPython runs the handler in the main thread, but only once that thread
    runs bytecode again (docs.python.org/3/library/signal.html, "Signals and threads"):
    taken by another thread, a Ctrl-C leaves a main thread blocked in a call (a test's
    ``time.sleep``) where it is. Blocked here, the kernel picks a thread that can take it.
    Threads this thread starts inherit the mask (pthread_sigmask(3)): the relay loop's
    executor too.
    """

    def run() -> None:
        if hasattr(signal, "pthread_sigmask"):  # POSIX
            signal.pthread_sigmask(signal.SIG_BLOCK, MAIN_THREAD_SIGNALS)
        target()

    return threading.Thread(target=run, name=name, daemon=True)
