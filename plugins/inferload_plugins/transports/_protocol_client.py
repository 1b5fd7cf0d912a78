"""The implementation behind the ``protocol`` transport plugin (imported only by a worker)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from time import perf_counter_ns
from typing import Any

import httptools

from inferload.engine.transport import Attempt, BaseTransport, ResponseSink, TransportError, merge_headers
from inferload.records import ERROR_CONNECTION, ERROR_MALFORMED

_MAX_CACHED_BODIES = 100_000
"""Distinct request bodies whose framed bytes are kept (a run's payloads are prepared before t=0)."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection; parses responses with httptools as bytes arrive."""

    __slots__ = (
        "_parser", "closed", "ends_at_eof", "keep_alive", "received", "sink", "transport", "ts", "waiter"
    )

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self.sink: ResponseSink | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.ts = 0
        self.received = 0
        self.keep_alive = True
        self.closed = False
        self.ends_at_eof = False
        """The current response may be delimited by the server closing (HTTP/1.0, or ``Connection:
        close`` without a length): a clean close after its headers completes it."""

    # asyncio.Protocol
    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.ts = perf_counter_ns()  # the arrival time, before any parsing
        self.received += len(data)
        if self.waiter is None:
            return  # bytes outside a request (a server bug); ignored, the connection will be dropped
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(TransportError(f"invalid HTTP response: {exc}", ERROR_MALFORMED))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if exc is None and self.ends_at_eof and self.waiter is not None and not self.waiter.done():
            # httptools has no "end of input" call: a close-delimited body ends here, cleanly. A body cut
            # short under Connection: close also lands here; the response parser judges it (a stream
            # without finish_reason, a truncated JSON body).
            self.keep_alive = False
            self.waiter.set_result(None)
            return
        if self.waiter is not None and not self.waiter.done():
            reason = (
                f"connection lost: {exc}" if exc else "server closed the connection before the response ended"
            )
            self._fail(TransportError(reason, ERROR_CONNECTION))

    def eof_received(self) -> bool | None:
        # The server will send nothing more: whatever happens to the response in progress, this
        # connection never goes back to the pool (a server that closes after each response without
        # saying "Connection: close").
        self.keep_alive = False
        self.closed = True
        return None

    # httptools callbacks
    def on_headers_complete(self) -> None:
        self.ends_at_eof = not self._parser.should_keep_alive()
        self.sink.on_headers(self._parser.get_status_code(), self.ts)  # type: ignore[union-attr]

    def on_body(self, body: bytes) -> None:
        self.sink.on_body(body, self.ts)  # type: ignore[union-attr]

    def on_message_complete(self) -> None:
        self.keep_alive = self._parser.should_keep_alive()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def _fail(self, error: TransportError) -> None:
        self.keep_alive = False
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(error)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class ProtocolTransport(BaseTransport):
    """POSTs JSON to one URL over a pool of keep-alive connections owned by one event loop."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        parts = self.url_parts
        self._host = parts.hostname or "127.0.0.1"
        self._ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self._port = parts.port or (443 if self._ssl else 80)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        connection = {"Host": parts.netloc, "Connection": "keep-alive"}
        sent = merge_headers(connection, self.headers.items())
        lines = [f"POST {path} HTTP/1.1", *(f"{name}: {value}" for name, value in sent.items())]
        self._head = ("\r\n".join(lines) + "\r\n").encode("latin-1")
        self._tails: dict[bytes, bytes] = {}
        """Per body: ``Content-Length``, the blank line and the body, built on the body's first use (the
        worker's payloads are a fixed set of bytes objects, and bytes cache their hash)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle: list[_Connection] = []
        self._all: set[_Connection] = set()

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(_Connection, self._host, self._port, ssl=self._ssl),
                self.connect_timeout,
            )
        except (OSError, asyncio.TimeoutError) as exc:
            raise TransportError(
                f"cannot connect to {self._host}:{self._port}: {exc or 'timed out'}", ERROR_CONNECTION
            ) from None
        self._all.add(conn)
        return conn

    async def prepare(self) -> None:
        """Bind to the worker's running loop (the parser and TLS context already exist)."""
        self._loop = asyncio.get_running_loop()

    async def warm(self, count: int) -> int:
        """Open up to ``count`` keep-alive connections before t=0, so no measured request pays for a TCP
        (or TLS) handshake; failures are left for the requests themselves to report. Returns how many."""
        results = await asyncio.gather(*(self._connect() for _ in range(count)), return_exceptions=True)
        opened = [conn for conn in results if isinstance(conn, _Connection)]
        self._idle.extend(opened)
        return len(opened)

    async def request(self, body: bytes, headers: Mapping[str, str], sink: ResponseSink) -> tuple[int, int]:
        async def attempt(tried: Attempt) -> tuple[int, int]:
            conn = None
            while self._idle and not tried.fresh:
                candidate = self._idle.pop()
                if not candidate.closed:
                    conn = candidate
                    tried.reused = True
                    break
                self._all.discard(candidate)
            return await self._exchange(conn or await self._connect(), body, headers, sink)

        return await self.with_stale_retry(attempt)

    async def _exchange(
        self, conn: _Connection, body: bytes, headers: Mapping[str, str], sink: ResponseSink
    ) -> tuple[int, int]:
        """One request and its response on ``conn``; the connection goes back to the pool only when the
        response ended cleanly and the server neither asked for nor began a close."""
        tail = self._tails.get(body)
        if tail is None:
            tail = b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            if len(self._tails) < _MAX_CACHED_BODIES:
                self._tails[body] = tail
        if headers:
            extra = "".join([f"{name}: {value}\r\n" for name, value in headers.items()]).encode("latin-1")
            message = b"".join((self._head, extra, tail))
        else:
            message = self._head + tail
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        conn.sink, conn.waiter, conn.received, conn.ends_at_eof = sink, loop.create_future(), 0, False
        try:
            on_sent = getattr(sink, "on_sent", None)
            if on_sent is not None:
                on_sent(perf_counter_ns())  # the request's start: immediately before its first byte
            conn.transport.write(message)  # type: ignore[union-attr]
            await conn.waiter
        except BaseException as exc:
            conn.close()  # cancelled, timed out or failed mid-response: never reuse this connection
            self._all.discard(conn)
            if isinstance(exc, TransportError):
                exc.bytes_sent, exc.bytes_received = len(message), conn.received
            raise
        finally:
            conn.sink = conn.waiter = None
        if conn.keep_alive and not conn.closed:
            self._idle.append(conn)
        else:
            conn.close()
            self._all.discard(conn)
        return len(message), conn.received

    async def close(self) -> None:
        for conn in list(self._all):
            conn.close()
        self._all.clear()
        self._idle.clear()
