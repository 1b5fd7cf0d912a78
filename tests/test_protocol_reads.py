"""The protocol transport hands each read's body to the sink as one piece, over real loopback HTTP."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import pytest

from inferload.engine.transport import TransportError
from inferload.records import ERROR_MALFORMED
from inferload_plugins.transports._protocol_client import SWEEP_AFTER_NS, ProtocolTransport

EVENTS = [b"data: %d\n\n" % i for i in range(4)]
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    + b"".join(b"%x\r\n%s\r\n" % (len(event), event) for event in EVENTS)
    + b"0\r\n\r\n"
)


@pytest.fixture
def one_write_server() -> Any:
    """Answers each request on a connection with RESPONSE, written with one ``sendall``; the requests'
    bytes are kept in ``one_write_server.received``."""
    listener = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            while data := conn.recv(65536):
                received.append(data)
                conn.sendall(RESPONSE)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
    yield url, received
    listener.close()


class Sink:
    def __init__(self, fail: bool = False) -> None:
        self.reads: list[bytes] = []
        self.fail = fail

    def on_headers(self, status: int, ts_ns: int) -> None:
        self.status = status

    def on_body(self, data: bytes, ts_ns: int) -> None:
        if self.fail:
            raise RuntimeError("sink bug")
        self.reads.append(bytes(data))


def _request(url: str, sink: Sink, headers: dict[str, str] | None = None) -> tuple[int, int]:
    async def main() -> tuple[int, int]:
        transport = ProtocolTransport(url=url, headers={"A": "run"}, max_connections=1, connect_timeout=5.0)
        await transport.prepare()
        try:
            return await transport.request(b"{}", headers or {}, sink)
        finally:
            await transport.close()

    return asyncio.run(main())


def test_the_chunks_of_one_read_reach_the_sink_together_and_in_order(one_write_server: Any) -> None:
    sink = Sink()
    sent, received = _request(one_write_server[0], sink)
    assert sink.status == 200
    assert b"".join(sink.reads) == b"".join(EVENTS)
    assert len(sink.reads) <= 2  # one read carries them all unless loopback split the write
    assert received == len(RESPONSE) and sent > 0


def test_a_sink_that_raises_fails_the_request_as_malformed(one_write_server: Any) -> None:
    with pytest.raises(TransportError) as caught:
        _request(one_write_server[0], Sink(fail=True))
    assert caught.value.kind == ERROR_MALFORMED


@pytest.mark.parametrize(
    "headers", [{}, {"X-Request-Id": "id-1"}, {"X-Request-Id": "id-2", "X-Session-Id": "s"}]
)
def test_per_request_headers_follow_the_runs_own_before_the_body(one_write_server: Any, headers: Any) -> None:
    url, received = one_write_server
    sent, _ = _request(url, Sink(), headers)
    request = b"".join(received)
    head, _, body = request.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0].startswith(b"POST / HTTP/1.1") and body == b"{}" and sent == len(request)
    extra = [f"{name}: {value}".encode() for name, value in headers.items()]
    assert lines[-1 - len(extra) : -1] == extra and lines[-1] == b"Content-Length: 2"
    assert b"A: run" in lines


BURST = 16
"""Connections whose responses arrive in one instant, as a continuous-batching server emits its streams'."""


class TimedSink:
    """Keeps, per body read, the time the transport read it and the time it reached the sink (parsed)."""

    def __init__(self) -> None:
        self.read_ns: list[int] = []
        self.parsed_ns: list[int] = []

    def on_headers(self, status: int, ts_ns: int) -> None:
        self.status = status

    def on_body_read(self, data: bytes, ts_ns: int, read_ns: int) -> None:
        self.read_ns.append(read_ns or ts_ns)  # read_ns is 0 when ts_ns is itself the user-space read time
        self.parsed_ns.append(time.perf_counter_ns())

    def on_body(self, data: bytes, ts_ns: int) -> None:  # pragma: no cover - on_body_read is preferred
        raise AssertionError("on_body_read expected")


class BurstServer:
    """BURST keep-alive connections, each answered with ``parts`` in order: the first part to every
    connection once all requests are in and the client's loop is held (``loop_busy``; ``all_sent`` then
    lets it go), each later part once ``go_on`` is set (``part_sent`` after it)."""

    def __init__(self, parts: list[bytes]) -> None:
        self.parts = parts
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=BURST)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/"
        self.all_asked, self.loop_busy, self.all_sent = (threading.Event() for _ in range(3))
        self.go_on, self.part_sent = threading.Event(), threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conns = [self.listener.accept()[0] for _ in range(BURST)]
        for conn in conns:
            conn.recv(65536)
        self.all_asked.set()
        self.loop_busy.wait(10)
        for index, part in enumerate(self.parts):
            if index:
                self.go_on.wait(10)
            for conn in conns:
                conn.sendall(part)
            (self.part_sent if index else self.all_sent).set()
        for conn in conns:
            conn.recv(1)  # until the client closes
            conn.close()

    def run(self, sinks: list[TimedSink]) -> int:
        """Send one request per sink over BURST warm connections, holding the loop (blocking, on purpose)
        until the first part is in every socket; returns the sweeps the transport's read queue made."""

        async def main() -> int:
            transport = ProtocolTransport(url=self.url, headers={}, max_connections=BURST, connect_timeout=5)
            await transport.prepare()
            assert await transport.warm(BURST) == BURST
            try:
                requests = [asyncio.ensure_future(transport.request(b"{}", {}, sink)) for sink in sinks]
                await asyncio.get_running_loop().run_in_executor(None, self.all_asked.wait, 10)
                self.loop_busy.set()
                self.all_sent.wait(10)
                await asyncio.gather(*requests)
                return transport._queue.sweeps if transport._queue is not None else 0
            finally:
                await transport.close()

        try:
            return asyncio.run(main())
        finally:
            self.listener.close()


@pytest.mark.parametrize("stamps", ["kernel", "user"])
def test_every_socket_found_readable_is_read_before_any_is_parsed(
    stamps: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BURST responses become readable while the client's loop is busy; when it gets to them it reads
    and stamps every one before it parses any, so no socket waits unread behind the others' parsing."""
    if stamps == "user":
        monkeypatch.setenv("INFERLOAD_KERNEL_TIMESTAMPS", "0")
    sinks = [TimedSink() for _ in range(BURST)]
    BurstServer([RESPONSE]).run(sinks)
    assert all(sink.status == 200 for sink in sinks)
    reads = sorted(ns for sink in sinks for ns in sink.read_ns)
    parses = sorted(ns for sink in sinks for ns in sink.parsed_ns)
    assert len(reads) == BURST  # one read each: every response was whole in its socket
    assert reads[-1] < parses[0]


HEAD_AND_FIRST = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    + b"%x\r\n%s\r\n" % (len(EVENTS[0]), EVENTS[0])
)
REST = b"%x\r\n%s\r\n0\r\n\r\n" % (len(EVENTS[1]), EVENTS[1])


def test_sockets_that_become_readable_while_the_loop_parses_are_read_by_a_sweep() -> None:
    """Kernel-stamped reads: BURST streams' first chunks are parsed in one long drain (the first parse
    holds the loop, as a slow round of parsing would); their second chunks arrive during it. A sweep reads
    and stamps them there, before the rest of the drain, instead of after it at the loop's next poll."""
    server = BurstServer([HEAD_AND_FIRST, REST])

    class HoldingSink(TimedSink):
        def on_body_read(self, data: bytes, ts_ns: int, read_ns: int) -> None:
            super().on_body_read(data, ts_ns, read_ns)
            if not server.go_on.is_set():  # the drain's first parse: hold the loop past a sweep's due time
                server.go_on.set()
                server.part_sent.wait(10)
                time.sleep(2 * SWEEP_AFTER_NS / 1e9)

    sinks = [HoldingSink() for _ in range(BURST)]
    sweeps = server.run(sinks)
    assert all(len(sink.read_ns) == 2 for sink in sinks)  # one read per part: the parts were sent apart
    last_first_parse = max(sink.parsed_ns[0] for sink in sinks)
    assert all(sink.read_ns[1] < last_first_parse for sink in sinks)  # read inside the drain
    assert sweeps >= 1
