"""The implementation behind the ``protocol`` transport plugin (imported only by a worker).

Over plain HTTP on Linux each connection is read with ``recvmsg`` under ``SO_TIMESTAMPNS``, and every
read is stamped with the **kernel's receive time** of its bytes (the time the last segment the read took
reached the socket, converted from ``CLOCK_REALTIME`` to the ``perf_counter_ns`` timebase): bytes that
waited in the socket buffer while the event loop was busy keep the time they arrived, not the time the
loop got to them. The user-space read time is passed along too (:meth:`_Connection.feed`). Over TLS, where
the kernel sees only ciphertext, when the kernel gives no stamp, or with ``INFERLOAD_KERNEL_TIMESTAMPS=0``,
a read is stamped in user space right after it returns, before any parsing.

Reads first, parsing after (:class:`_ReadQueue`): when the loop wakes with many sockets readable at once
(at high concurrency a continuous-batching server emits every stream's next chunk in the same instant),
every one of them is read and stamped before any is parsed. Parsing as each was read would leave the
last socket of such a burst unread for the whole burst's parsing; a chunk that arrives in the meantime
then shares a read with the one before it, and a read carries one time, its last segment's, so the
earlier chunk would be timed late (docs/metrics.md, "Merged reads").
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import socket
import ssl
import struct
import sys
from collections.abc import Mapping
from time import perf_counter_ns
from typing import Any

import httptools

from inferload.engine.clock import OFFSET_REFRESH_NS, realtime_offset_ns
from inferload.engine.transport import BaseTransport, ResponseSink, TransportError, merge_headers
from inferload.records import ERROR_CONNECTION, ERROR_MALFORMED

_MAX_CACHED_BODIES = 100_000
"""Distinct request bodies whose framed bytes are kept (a run's payloads are prepared before t=0)."""
_READ_SIZE = 256 * 1024
"""Bytes one read takes at most (uvloop's own read size)."""
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
"""Linux's socket option (and control-message type) for receive times as a ``struct timespec``."""
_TIMESPEC = struct.Struct("@qq")
_TIMESPEC_SIZE = _TIMESPEC.size
_unpack_timespec = _TIMESPEC.unpack_from
_SOL_SOCKET = socket.SOL_SOCKET
_CMSG_SPACE = socket.CMSG_SPACE(_TIMESPEC.size) if hasattr(socket, "CMSG_SPACE") else 0
KERNEL_TIMESTAMPS_ENV = "INFERLOAD_KERNEL_TIMESTAMPS"
"""Set to ``0`` to stamp reads in user space even where the kernel could stamp them (to compare the two)."""


def kernel_timestamps_wanted() -> bool:
    """Whether this platform can stamp reads with the kernel's receive time and the user did not turn it
    off with :data:`KERNEL_TIMESTAMPS_ENV`."""
    return (
        sys.platform.startswith("linux")
        and bool(_CMSG_SPACE)
        and os.environ.get(KERNEL_TIMESTAMPS_ENV, "1").strip().lower() not in ("0", "false", "no", "off")
    )


class _KernelClock:
    """Turns a read's ``SO_TIMESTAMPNS`` control message into a ``perf_counter_ns`` time; one per transport.

    The ``CLOCK_REALTIME`` offset is measured at start and again every :data:`OFFSET_REFRESH_NS` (NTP slews
    the wall clock). A stamp is used only when it lies at or before the user-space read time (a clock step
    could put it after): the user-space read time is taken otherwise, as it is when the kernel gave none."""

    __slots__ = ("kernel_reads", "offset", "refresh_at", "user_reads")

    def __init__(self) -> None:
        self.offset = realtime_offset_ns()
        self.refresh_at = perf_counter_ns() + OFFSET_REFRESH_NS
        self.kernel_reads = 0
        """Reads stamped with the kernel's receive time."""
        self.user_reads = 0
        """Reads of a kernel-stamped socket that had to take the user-space read time."""

    def stamp(self, ancillary: list[tuple[int, int, bytes]], read_ns: int) -> int:
        """The read's arrival time: the kernel's, else ``read_ns``."""
        if read_ns >= self.refresh_at:
            self.offset = realtime_offset_ns()
            self.refresh_at = read_ns + OFFSET_REFRESH_NS
        for level, kind, data in ancillary:
            if kind == _SO_TIMESTAMPNS and level == _SOL_SOCKET and len(data) >= _TIMESPEC_SIZE:
                seconds, nanoseconds = _unpack_timespec(data)
                if seconds:
                    ts = seconds * 1_000_000_000 + nanoseconds - self.offset
                    if ts <= read_ns:
                        self.kernel_reads += 1
                        return ts
        self.user_reads += 1
        return read_ns


SWEEP_AFTER_NS = 1_000_000
"""Longest time the loop goes on parsing and running requests without looking at its kernel-stamped sockets
(:meth:`_ReadQueue.sweep`): well under the gap between two tokens of a fast server (5 ms in the client
bench), so a chunk is read before the next one can arrive and merge with it."""


class _ReadQueue:
    """The reads of one loop iteration, parsed once every readable socket has been read; one per transport.

    A connection's reads are parsed in the order they were taken; before a connection is told of its end
    (EOF, an error) the queue is drained, so what it read before that is parsed first. Draining may be
    re-entered (a read taken while draining ends its connection): the inner call goes on from the same
    place, so order holds.

    With kernel-stamped sockets (:class:`_StampedSocket`) the queue also watches them with an epoll of its
    own, and while the loop is busy with other work — a long drain, or requests ending and the next ones
    being sent — it reads and stamps every socket that became readable once :data:`SWEEP_AFTER_NS` has
    passed since they were last read (:meth:`sweep`): the loop itself looks at its sockets only between
    two rounds of ready callbacks, and at concurrency 256 one round of requests ending and new ones being
    sent can take longer than the gap between two tokens."""

    __slots__ = ("_epoll", "_items", "_loop", "_next", "_sockets", "sweeps", "swept_ns", "watching")

    def __init__(self, loop: asyncio.AbstractEventLoop, stamped: bool = False) -> None:
        self._loop = loop
        self._items: list[tuple[_Connection, Any, int, int]] = []
        self._next = 0
        """The index of the next item to parse (draining)."""
        self._epoll: Any = select.epoll() if stamped and hasattr(select, "epoll") else None
        self._sockets: dict[int, _StampedSocket] = {}
        self.swept_ns = 0
        """When a watched socket was last read (by the loop's callback or a sweep)."""
        self.sweeps = 0
        """Sweeps that found sockets to read."""
        self.watching = self._epoll is not None
        """Whether sockets are watched for sweeps: the transport then sweeps, when one is due, before each
        request is sent (while a round of requests ends and the next ones go out, the loop reads nothing)."""

    def add(self, conn: _Connection, data: Any, ts_ns: int, read_ns: int) -> None:
        """Queue ``data`` (bytes the caller no longer touches) for ``conn``; parsed in :meth:`drain`, which
        the loop runs once the callbacks of the sockets it found readable have all run."""
        items = self._items
        if not items:
            self._loop.call_soon(self.drain)
        items.append((conn, data, ts_ns, read_ns))

    def drain(self) -> None:
        """Parse every queued read, in order, sweeping when one is due."""
        items = self._items
        epoll = self._epoll
        while self._next < len(items):
            conn, data, ts_ns, read_ns = items[self._next]
            self._next += 1
            conn.feed(data, ts_ns, read_ns)
            if epoll is not None and perf_counter_ns() - self.swept_ns >= SWEEP_AFTER_NS:
                self.sweep()
        items.clear()
        self._next = 0

    def sweep(self) -> None:
        """Read (and stamp) every watched socket that is readable now; the reads join the queue."""
        self.swept_ns = perf_counter_ns()
        ready = self._epoll.poll(0)
        if ready:
            self.sweeps += 1
            sockets = self._sockets
            for fd, _ in ready:
                sock = sockets.get(fd)
                if sock is not None:
                    sock.read()

    def watch(self, sock: _StampedSocket, fd: int) -> None:
        if self._epoll is not None:
            self._epoll.register(fd, select.EPOLLIN)
            self._sockets[fd] = sock

    def unwatch(self, fd: int) -> None:
        if self._sockets.pop(fd, None) is not None:
            with contextlib.suppress(OSError, ValueError):
                self._epoll.unregister(fd)

    def close(self) -> None:
        if self._epoll is not None:
            self._sockets.clear()
            self._epoll.close()
            self._epoll = None
            self.watching = False


class _Connection(asyncio.Protocol):
    """One keep-alive connection; parses responses with httptools as bytes arrive."""

    __slots__ = (
        "_body", "_complete", "_parser", "closed", "deliver", "ends_at_eof", "keep_alive", "queue", "read_ns",
        "received", "sink", "transport", "ts", "waiter",
    )

    def __init__(self, queue: _ReadQueue | None = None) -> None:
        """``queue``: where reads wait to be parsed (:class:`_ReadQueue`); None parses each read at once."""
        self.queue = queue
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self.sink: ResponseSink | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.ts = 0
        """The current read's arrival time (kernel receive time where there is one)."""
        self.read_ns = 0
        """The current read's user-space read time when ``ts`` is the kernel's, else 0."""
        self.deliver: Any = None
        """The sink's ``on_body_read`` when it has one (it then gets ``read_ns`` too)."""
        self.received = 0
        self._body: list[bytes] = []
        """The body pieces (de-chunked) of the read being parsed: handed to the sink as one, after it."""
        self._complete = False
        """The read being parsed ended the response."""
        self.keep_alive = True
        self.closed = False
        self.ends_at_eof = False
        """The current response may be delimited by the server closing (HTTP/1.0, or ``Connection:
        close`` without a length): a clean close after its headers completes it."""

    # asyncio.Protocol
    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        ts_ns = perf_counter_ns()  # the arrival time, before any parsing
        if self.queue is not None:
            self.queue.add(self, data, ts_ns, 0)
        else:
            self.feed(data, ts_ns, 0)

    def feed(self, data: Any, ts_ns: int, read_ns: int) -> None:
        """Bytes read at ``ts_ns`` (``read_ns``: the user-space read time when ``ts_ns`` is the kernel's
        receive time, else 0); ``data`` is any buffer (httptools copies what it keeps).

        The body pieces one read carries (one per HTTP chunk: a whole short stream is often one read) go
        to the sink as one body read once the read is parsed: they share its time, and one call down the
        sink's parsers instead of one per chunk takes ~15% off this path's CPU (bench/bench_client.py
        notes). They reach the sink before the waiter is told the response ended, as they did when the
        parser called the sink, so a sink that raises still fails the request."""
        self.ts = ts_ns
        self.read_ns = read_ns
        self.received += len(data)
        if self.waiter is None:
            return  # bytes outside a request (a server bug); ignored, the connection will be dropped
        error = None
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            error = TransportError(f"invalid HTTP response: {exc}", ERROR_MALFORMED)
        body = self._body
        if body:
            self._body = []
            self._deliver(body[0] if len(body) == 1 else b"".join(body))
        if self._complete:
            self._complete = False
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_result(None)
        if error is not None:
            self._fail(error)  # after a complete response: only that the connection is not reused

    def _deliver(self, body: bytes) -> None:
        """Hand one read's body to the sink; what it raises fails the request, as it did when the sink was
        called from inside the HTTP parser (before the response could complete)."""
        try:
            if self.deliver is not None:
                self.deliver(body, self.ts, self.read_ns)
            else:
                self.sink.on_body(body, self.ts)  # type: ignore[union-attr]
        except Exception as exc:  # noqa: BLE001 - a sink's fault is this request's, never the loop's
            self._fail(TransportError(f"invalid HTTP response: {exc}", ERROR_MALFORMED))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.queue is not None:
            self.queue.drain()  # what was read before the end is parsed before it
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
        if self.queue is not None:
            self.queue.drain()
        self.keep_alive = False
        self.closed = True
        return None

    # httptools callbacks
    def on_headers_complete(self) -> None:
        self.ends_at_eof = not self._parser.should_keep_alive()
        self.sink.on_headers(self._parser.get_status_code(), self.ts)  # type: ignore[union-attr]

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self.keep_alive = self._parser.should_keep_alive()
        self._complete = True  # the waiter is told once the read's body has reached the sink (feed)

    def _fail(self, error: TransportError) -> None:
        self.keep_alive = False
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(error)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class _StampedSocket:
    """A connected non-blocking TCP socket read with ``recvmsg`` under ``SO_TIMESTAMPNS``: the transport
    (``write``, ``abort``, ``is_closing``) of one :class:`_Connection`, which it feeds each read with its
    kernel receive time and its user-space read time."""

    __slots__ = ("_buffer", "_buffers", "_clock", "_fd", "_loop", "_pending", "_protocol", "_recvmsg_into",
                 "_send", "_sock", "_view", "closing")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol: _Connection,
        clock: _KernelClock,
        buffer: bytearray,
    ) -> None:
        """``buffer``: the read buffer, shared by every connection of the transport (one event loop reads
        them one at a time, and a read is parsed, with httptools copying what it keeps, before the next):
        one buffer stays in the CPU's caches where one per connection (256 KiB each) would not, and a
        worker at concurrency 256 does not hold 64 MiB of them."""
        self._loop, self._sock, self._protocol, self._clock = loop, sock, protocol, clock
        self._fd = sock.fileno()
        self._buffer, self._buffers = buffer, (buffer,)
        self._view = memoryview(buffer)
        self._recvmsg_into, self._send = sock.recvmsg_into, sock.send
        self._pending = b""
        self.closing = False
        protocol.connection_made(self)
        loop.add_reader(self._fd, self.read)
        if protocol.queue is not None:
            protocol.queue.watch(self, self._fd)

    def read(self) -> None:
        """Read what the socket holds (the loop's reader callback, and :meth:`_ReadQueue.sweep`).

        The hot path of a kernel-stamped worker (one call per response at high concurrency): the read
        joins the queue inline (:meth:`_ReadQueue.add`), copied out of the shared buffer by one bytearray
        slice (a memoryview slice and its ``tobytes`` made two objects)."""
        try:
            size, ancillary, _, _ = self._recvmsg_into(self._buffers, _CMSG_SPACE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(exc)
            return
        read_ns = perf_counter_ns()  # before any parsing
        if not size:
            self._protocol.eof_received()
            self._lost(None)
            return
        ts_ns = self._clock.stamp(ancillary, read_ns)
        protocol = self._protocol
        queue = protocol.queue
        if queue is not None:  # parsed once every readable socket is read: copied out of the buffer
            queue.swept_ns = read_ns
            items = queue._items
            if not items:
                queue._loop.call_soon(queue.drain)
            items.append((protocol, self._buffer[:size], ts_ns, read_ns))
        else:
            protocol.feed(self._view[:size], ts_ns, read_ns)

    def write(self, data: bytes) -> None:
        """Send ``data``; what the socket does not take now goes when it is writable again, in order."""
        if self.closing:
            return
        if self._pending:
            self._pending += data
            return
        try:
            sent = self._send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self._lost(exc)
            return
        if sent < len(data):
            self._pending = data[sent:]
            self._loop.add_writer(self._fd, self._writable)

    def _writable(self) -> None:
        try:
            sent = self._sock.send(self._pending)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(exc)
            return
        self._pending = self._pending[sent:]
        if not self._pending:
            self._loop.remove_writer(self._fd)

    def is_closing(self) -> bool:
        return self.closing

    def abort(self) -> None:
        """Close now, dropping unsent bytes (asyncio's ``Transport.abort``)."""
        self._close()

    def _close(self) -> None:
        if not self.closing:
            self.closing = True
            self._loop.remove_reader(self._fd)
            if self._protocol.queue is not None:
                self._protocol.queue.unwatch(self._fd)
            if self._pending:
                self._loop.remove_writer(self._fd)
            self._sock.close()

    def _lost(self, exc: Exception | None) -> None:
        self._close()
        self._protocol.connection_lost(exc)


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
        self.kernel_clock: _KernelClock | None = (
            _KernelClock() if self._ssl is None and kernel_timestamps_wanted() else None
        )
        """Set while reads are stamped with the kernel's receive time (plain HTTP on Linux); None when
        they are stamped in user space."""
        self._addresses: list[tuple[Any, ...]] = []
        self._read_buffer: bytearray | None = None
        """The one read buffer of every kernel-stamped connection (:class:`_StampedSocket`)."""
        self._queue: _ReadQueue | None = None
        """The reads of the loop's current iteration, waiting to be parsed (:class:`_ReadQueue`)."""

    def _read_queue(self, loop: asyncio.AbstractEventLoop) -> _ReadQueue:
        if self._queue is None:
            self._queue = _ReadQueue(loop, stamped=self.kernel_clock is not None)
        return self._queue

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            if self.kernel_clock is not None:
                conn = await asyncio.wait_for(self._connect_stamped(loop), self.connect_timeout)
            else:
                queue = self._read_queue(loop)
                _, conn = await asyncio.wait_for(
                    loop.create_connection(lambda: _Connection(queue), self._host, self._port, ssl=self._ssl),
                    self.connect_timeout,
                )
        except (OSError, asyncio.TimeoutError) as exc:
            raise TransportError(
                f"cannot connect to {self._host}:{self._port}: {exc or 'timed out'}", ERROR_CONNECTION
            ) from None
        self._all.add(conn)
        return conn

    async def _connect_stamped(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        """A connection read by :class:`_StampedSocket`: the first address that accepts, as
        ``create_connection`` tries them (resolved once per transport)."""
        if not self._addresses:
            self._addresses = await loop.getaddrinfo(self._host, self._port, type=socket.SOCK_STREAM)
        error: OSError = OSError(f"no address for {self._host}")
        for family, kind, proto, _, address in self._addresses:
            sock = socket.socket(family, kind, proto)
            try:
                sock.setblocking(False)
                await loop.sock_connect(sock, address)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with contextlib.suppress(OSError):  # refused: no control messages, user-space stamps
                    sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
            except BaseException as exc:
                sock.close()
                if not isinstance(exc, OSError):
                    raise
                error = exc
                continue
            conn = _Connection(self._read_queue(loop))
            if self._read_buffer is None:
                self._read_buffer = bytearray(_READ_SIZE)
            _StampedSocket(loop, sock, conn, self.kernel_clock, self._read_buffer)  # type: ignore[arg-type]
            return conn
        raise error

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
        """One request and its response on a pooled connection, or a new one; the connection goes back to
        the pool only when the response ended cleanly and the server neither asked for nor began a close.

        BaseTransport.with_stale_retry's rule (its stale()), inline: a pooled connection that fails before a
        byte of the response arrived is retried once on a new one. One coroutine for the whole exchange: no
        closure, Attempt or inner coroutine per request on the hot path (each coroutine level costs ~1,200
        instructions per request, callgrind)."""
        queue = self._queue
        if queue is not None and queue.watching and perf_counter_ns() - queue.swept_ns >= SWEEP_AFTER_NS:
            queue.sweep()  # before a connection is taken: a sweep may find one the server closed
        tail = self._tails.get(body)
        if tail is None:
            tail = b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            if len(self._tails) < _MAX_CACHED_BODIES:
                self._tails[body] = tail
        if len(headers) == 1:  # the worker's own X-Request-Id: no list, join and second encode for it
            ((name, value),) = headers.items()
            message = b"".join((self._head, f"{name}: {value}\r\n".encode("latin-1"), tail))
        elif headers:
            extra = "".join([f"{name}: {value}\r\n" for name, value in headers.items()]).encode("latin-1")
            message = b"".join((self._head, extra, tail))
        else:
            message = self._head + tail
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        conn = self._pooled()
        reused = conn is not None
        if conn is None:
            conn = await self._connect()
        while True:
            conn.sink, conn.waiter, conn.received, conn.ends_at_eof = sink, loop.create_future(), 0, False
            conn.deliver = getattr(sink, "on_body_read", None)
            try:
                on_sent = getattr(sink, "on_sent", None)
                if on_sent is not None:
                    on_sent(perf_counter_ns())  # the request's start: immediately before its first byte
                conn.transport.write(message)  # type: ignore[union-attr]
                await conn.waiter
            except BaseException as exc:
                conn.close()  # cancelled, timed out or failed mid-response: never reuse this connection
                self._all.discard(conn)
                conn.sink = conn.waiter = conn.deliver = None
                if not isinstance(exc, TransportError):
                    raise
                exc.bytes_sent, exc.bytes_received = len(message), conn.received
                if not self.stale(exc, reused=reused):
                    raise
            else:
                conn.sink = conn.waiter = conn.deliver = None
                if conn.keep_alive and not conn.closed:
                    self._idle.append(conn)
                else:
                    conn.close()
                    self._all.discard(conn)
                return len(message), conn.received
            reused = False  # the keep-alive race: once more, on a new connection
            conn = await self._connect()

    def _pooled(self) -> _Connection | None:
        """An idle keep-alive connection the server has not closed, or None (dropping closed ones)."""
        while self._idle:
            candidate = self._idle.pop()
            if not candidate.closed:
                return candidate
            self._all.discard(candidate)
        return None

    async def close(self) -> None:
        for conn in list(self._all):
            conn.close()
        self._all.clear()
        self._idle.clear()
        if self._queue is not None:
            self._queue.close()
            self._queue = None
