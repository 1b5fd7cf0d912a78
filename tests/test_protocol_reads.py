"""The protocol transport hands each read's body to the sink as one piece, over real loopback HTTP."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import pytest

from inferload.engine.transport import TransportError
from inferload.records import ERROR_MALFORMED
from inferload_plugins.transports._protocol_client import ProtocolTransport

EVENTS = [b"data: %d\n\n" % i for i in range(4)]
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    + b"".join(b"%x\r\n%s\r\n" % (len(event), event) for event in EVENTS)
    + b"0\r\n\r\n"
)


@pytest.fixture
def one_write_server() -> Any:
    """Answers each request on a connection with RESPONSE, written with one ``sendall``."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            while conn.recv(65536):
                conn.sendall(RESPONSE)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
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


def _request(url: str, sink: Sink) -> tuple[int, int]:
    async def main() -> tuple[int, int]:
        transport = ProtocolTransport(url=url, headers={}, max_connections=1, connect_timeout=5.0)
        await transport.prepare()
        try:
            return await transport.request(b"{}", {}, sink)
        finally:
            await transport.close()

    return asyncio.run(main())


def test_the_chunks_of_one_read_reach_the_sink_together_and_in_order(one_write_server: str) -> None:
    sink = Sink()
    sent, received = _request(one_write_server, sink)
    assert sink.status == 200
    assert b"".join(sink.reads) == b"".join(EVENTS)
    assert len(sink.reads) <= 2  # one read carries them all unless loopback split the write
    assert received == len(RESPONSE) and sent > 0


def test_a_sink_that_raises_fails_the_request_as_malformed(one_write_server: str) -> None:
    with pytest.raises(TransportError) as caught:
        _request(one_write_server, Sink(fail=True))
    assert caught.value.kind == ERROR_MALFORMED
