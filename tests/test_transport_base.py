"""What every transport shares (``inferload.engine.transport.BaseTransport``), on every transport.

Each transport plugin is built through its registered factory, as a worker builds it, and sends real
requests over loopback to a server that records what arrived: URL userinfo goes out as Basic auth (an
explicit Authorization wins) and never in the Host header or the request line; a framing header among the
headers is refused when the transport is built; a refused connection is a connection error.
"""

from __future__ import annotations

import asyncio
import base64
import socket
from typing import Any

import pytest

from echo_server import EchoServer
from inferload.engine.transport import TransportError
from inferload.records import ERROR_CONNECTION
from inferload.registry import load_plugins

TRANSPORTS = ("protocol", "aiohttp", "httpx")
BODY = b'{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}'


class Sink:
    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.body = b""

    def on_headers(self, status: int, ts_ns: int) -> None:
        self.statuses.append(status)

    def on_body(self, data: bytes, ts_ns: int) -> None:
        self.body += data


def send_once(transport: str, url: str, headers: dict[str, str]) -> Sink:
    client = load_plugins().get("transport", transport).factory(url=url, headers=headers, max_connections=1)

    async def go() -> Sink:
        sink = Sink()
        await client.prepare()
        try:
            await client.request(BODY, {}, sink)
        finally:
            await client.close()
        return sink

    return asyncio.run(go())


def received_headers(server: EchoServer) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for name, value in server.requests[-1].headers:
        headers.setdefault(name.lower(), []).append(value)
    return headers


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_url_userinfo_is_sent_as_basic_auth_and_nowhere_else(transport: str) -> None:
    with EchoServer(error_every=0) as server:
        host = server.url.split("://", 1)[1]
        sink = send_once(transport, f"http://bob:s%40fe-pw@{host}/v1/chat/completions", {})
        headers = received_headers(server)
        path = server.requests[-1].path
    assert sink.statuses == [200]
    assert headers["authorization"] == ["Basic " + base64.b64encode(b"bob:s@fe-pw").decode()]
    assert headers["host"] == [host]
    assert path == "/v1/chat/completions"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_explicit_authorization_header_wins_over_url_userinfo(transport: str) -> None:
    with EchoServer(error_every=0) as server:
        host = server.url.split("://", 1)[1]
        send_once(transport, f"http://bob:pw@{host}/v1/chat/completions", {"authorization": "Bearer sk-1"})
        headers = received_headers(server)
    assert headers["authorization"] == ["Bearer sk-1"]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("framing", ["Content-Length", "transfer-encoding"])
def test_a_framing_header_is_refused_when_the_transport_is_built(transport: str, framing: str) -> None:
    spec = load_plugins().get("transport", transport)
    with pytest.raises(ValueError, match=f"{framing} is computed by the transport"):
        spec.factory(url="http://127.0.0.1:9/v1/chat/completions", headers={framing: "1"})


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_refused_connection_is_a_connection_error(transport: str) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago and has no listener now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client: Any = load_plugins().get("transport", transport).factory(
        url=f"http://127.0.0.1:{port}/v1/chat/completions", headers={}, max_connections=1
    )

    async def go() -> TransportError:
        await client.prepare()
        try:
            with pytest.raises(TransportError) as caught:
                await client.request(BODY, {}, Sink())
        finally:
            await client.close()
        return caught.value

    error = asyncio.run(go())
    assert error.kind == ERROR_CONNECTION
    assert error.bytes_received == 0
