"""The HTTP/1.1 server: an asyncio Protocol with httptools parsing, on uvloop where available.

Chosen by measurement (docs/simulator.md): for small JSON and SSE responses this costs a fraction of the
CPU per request of aiohttp.web or FastAPI on uvicorn, so the simulator is not what limits a benchmark.
Connections are keep-alive; pipelined requests are answered in order; a client that goes away cancels
its request (and frees its engine slot). SIGINT/SIGTERM — or EOF on a watched pipe, used by the embedded
mode so the server dies with its parent — stop the server: it closes every connection, including
never-ending responses, writes the truth log and returns.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import httptools

from . import wire
from .app import SimulatorApp

if TYPE_CHECKING:
    from .config import SimulatorConfig

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_PIPELINED = 64


class Request:
    """One parsed request (only the headers the simulator acts on are kept)."""

    __slots__ = ("body", "fault", "http11", "keep_alive", "method", "path", "request_id", "session_id")

    def __init__(self, method: bytes, path: str, body: bytes, fault: bytes | None, request_id: str | None,
                 keep_alive: bool, http11: bool, session_id: str | None = None) -> None:
        self.session_id = session_id
        """The ``X-Session-ID`` affinity header a multi-turn client sends (recorded in the truth log)."""
        self.method = method
        self.path = path
        self.body = body
        self.fault = fault
        self.request_id = request_id
        self.keep_alive = keep_alive
        self.http11 = http11


class HttpConnection(asyncio.Protocol):
    """One client connection: parses requests, hands them to the app one at a time, writes answers."""

    def __init__(self, app: SimulatorApp, connections: set[HttpConnection]) -> None:
        self.app = app
        self.connections = connections
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.closed = False
        self.paused = False
        self._drain: asyncio.Future[None] | None = None
        self._queue: deque[Request] = deque()
        self._task: asyncio.Task[None] | None = None
        self._reading_paused = False
        self._peer_eof = False
        self._url = b""
        self._body: list[bytes] = []
        self._size = 0
        self._fault: bytes | None = None
        self._request_id: str | None = None
        self._session_id: str | None = None

    # -- asyncio.Protocol --------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.connections.add(self)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._reject(400, "protocol upgrades are not supported")
        except httptools.HttpParserError as exc:
            self._reject(400, f"malformed HTTP request: {exc}")

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.connections.discard(self)
        self._queue.clear()
        if self._task is not None:
            self._task.cancel()
        self._wake_writer()

    def eof_received(self) -> bool | None:
        """The client half-closed: finish what it asked for, then close (instead of dropping it)."""
        self._peer_eof = True
        return True if self._task is not None or self._queue else None

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._wake_writer()

    # -- httptools callbacks -----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._body = []
        self._size = 0
        self._fault = None
        self._request_id = None
        self._session_id = None

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"x-inferload-fault":
            self._fault = value
        elif name == b"x-request-id":
            self._request_id = value.decode("latin-1")
        elif name == b"x-session-id":
            self._session_id = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size <= MAX_BODY_BYTES:
            self._body.append(body)

    def on_message_complete(self) -> None:
        if self.closed:
            return
        if self._size > MAX_BODY_BYTES:
            self._reject(413, f"request body is larger than {MAX_BODY_BYTES} bytes")
            return
        parser = self.parser
        request = Request(
            parser.get_method(),
            self._url.partition(b"?")[0].decode("latin-1"),
            b"".join(self._body),
            self._fault,
            self._request_id,
            parser.should_keep_alive(),
            parser.get_http_version() == "1.1",
            self._session_id,
        )
        if self._task is not None or self._queue:
            self._queue.append(request)
            if len(self._queue) >= MAX_PIPELINED and not self._reading_paused and self.transport is not None:
                self.transport.pause_reading()
                self._reading_paused = True
            return
        self._dispatch(request)

    # -- what the app uses -------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(data)

    def close(self) -> None:
        """Close after flushing what was written (a FIN, not a reset)."""
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()

    async def drain(self) -> None:
        """Wait until the client has read enough for the write buffer to drop below its low mark."""
        while self.paused and not self.closed:
            self._drain = asyncio.get_running_loop().create_future()
            await self._drain

    def shutdown(self) -> asyncio.Task[None] | None:
        """Server stop: cancel the running request and close; returns the task to await."""
        task = self._task
        if task is not None:
            task.cancel()
        self.close()
        return task

    # -- internals ---------------------------------------------------------------------------------

    def _wake_writer(self) -> None:
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def _reject(self, status: int, message: str) -> None:
        self.write(wire.error_response(status, message, keep_alive=False))
        self.close()

    def _dispatch(self, request: Request) -> None:
        while True:
            try:
                coroutine = self.app.handle(request, self)
            except Exception:  # a simulator bug: answer 500 rather than call the request bad HTTP
                log.exception("simulator request %s failed", request.path)
                self._reject(500, "the simulator failed on this request; see its log")
                return
            if coroutine is not None:
                self._task = asyncio.get_running_loop().create_task(coroutine)
                self._task.add_done_callback(lambda task, request=request: self._handled(task, request))
                return
            if not self._next(request):
                return
            request = self._queue.popleft()

    def _handled(self, task: asyncio.Task[None], request: Request) -> None:
        self._task = None
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("simulator request %s failed", request.path, exc_info=exc)
            self.close()
            return
        if self._next(request):
            self._dispatch(self._queue.popleft())

    def _next(self, request: Request) -> bool:
        """After a response: close if the client asked to, else say whether a queued request is next."""
        if self.closed:
            return False
        if not request.keep_alive or (self._peer_eof and not self._queue):
            self.close()
            return False
        if self._reading_paused and len(self._queue) < MAX_PIPELINED // 2 and self.transport is not None:
            self.transport.resume_reading()
            self._reading_paused = False
        return bool(self._queue)


def bound_url(sock: socket.socket) -> str:
    """``http://host:port`` of a listening socket (IPv6 hosts in brackets)."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def serve(
    config: SimulatorConfig,
    *,
    sock: socket.socket | None = None,
    on_ready: Callable[[str], None] | None = None,
    watch_fd: int | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM (or EOF on ``watch_fd``), then close everything and return."""
    loop = asyncio.get_running_loop()
    app = SimulatorApp(config)
    connections: set[HttpConnection] = set()
    stop = loop.create_future()

    def request_stop(*_: object) -> None:
        if not stop.done():
            stop.set_result(None)

    def protocol() -> HttpConnection:
        return HttpConnection(app, connections)

    if sock is not None:
        server = await loop.create_server(protocol, sock=sock, backlog=4096, start_serving=False)
    else:
        server = await loop.create_server(protocol, config.host, config.port, backlog=4096,
                                          start_serving=False)
    await app.start()  # after binding, so a taken port leaves no engine or truth log behind
    await server.start_serving()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, request_stop)
    if watch_fd is not None:
        def on_watch_readable() -> None:
            try:
                data = os.read(watch_fd, 4096)
            except OSError:
                data = b""
            if not data:
                loop.remove_reader(watch_fd)
                request_stop()

        loop.add_reader(watch_fd, on_watch_readable)
    try:
        if on_ready is not None:
            on_ready(bound_url(server.sockets[0]))
        await stop
    finally:
        # The signal handlers stay until the loop closes: a second SIGTERM during shutdown is a no-op.
        server.close()
        app.stopping = True
        tasks = [task for conn in list(connections) if (task := conn.shutdown()) is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        await app.stop()


def run_server(
    config: SimulatorConfig,
    *,
    sock: socket.socket | None = None,
    on_ready: Callable[[str], None] | None = None,
    watch_fd: int | None = None,
) -> int:
    """Run :func:`serve` on a fresh event loop (uvloop when installed); returns the exit code 0."""
    main = serve(config, sock=sock, on_ready=on_ready, watch_fd=watch_fd)
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)
    return 0
