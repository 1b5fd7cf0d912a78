"""``--transport httpx``: httpx's AsyncClient, speaking HTTP/2 when the ``h2`` package is installed.

Not the default: measured on 2 cores with 4-token streams it costs several times the CPU per request of
the ``protocol`` transport (bench/bench_client.py), mostly in its connection-pool bookkeeping. It is here
for servers only reachable over HTTP/2, where multiplexing matters more than client CPU.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from inferload import hookimpl
from inferload.engine.transport import Attempt, BaseTransport, TransportError
from inferload.records import ERROR_CONNECTION, ERROR_MALFORMED
from inferload.types import TransportSpec


@hookimpl
def register_transports() -> list[TransportSpec]:
    return [
        TransportSpec(
            name="httpx",
            description="httpx AsyncClient (HTTP/2 when h2 is installed); higher CPU per request",
            factory=HttpxTransport,
            schemes=("http", "https"),
        )
    ]


class HttpxTransport(BaseTransport):
    """POSTs through one ``httpx.AsyncClient``, made by :meth:`prepare` inside the worker's loop before t=0
    (made lazily, it cost the first request of each worker its import and creation)."""

    async def prepare(self) -> None:
        """Import httpx (and h2), create the client and load the async backend httpcore runs on; the worker
        awaits this before it reports ready. The backend (anyio's asyncio one) is otherwise imported inside
        the first request: ~100 ms of its TTFT."""
        await super().prepare()
        import anyio

        await anyio.sleep(0)

    def _open(self, fresh: bool = False) -> Any:
        import importlib.util

        import httpx

        http2 = importlib.util.find_spec("h2") is not None
        limit = self.max_connections or None
        limits = httpx.Limits(max_connections=limit, max_keepalive_connections=0 if fresh else limit)
        timeout = httpx.Timeout(None, connect=self.connect_timeout)
        return httpx.AsyncClient(http2=http2, limits=limits, timeout=timeout, headers=self.headers)

    async def _close_client(self, client: Any) -> None:
        await client.aclose()

    def _errors(self) -> list[tuple[type[BaseException], str, str | None]]:
        import httpx

        return [
            (httpx.RemoteProtocolError, ERROR_MALFORMED, "invalid HTTP response"),
            (httpx.TransportError, ERROR_CONNECTION, None),
            (OSError, ERROR_CONNECTION, None),
        ]

    def transport_error(self, exc: BaseException, bytes_sent: int, bytes_received: int) -> TransportError:
        """As the base does, except that httpx's "Server disconnected without sending a response" (a
        RemoteProtocolError, like malformed HTTP) is the connection error it is on the other transports."""
        error = super().transport_error(exc, bytes_sent, bytes_received)
        if "disconnected" in str(exc).lower():
            error.kind = ERROR_CONNECTION
        return error

    async def request(self, body: bytes, headers: Mapping[str, str], sink: Any) -> tuple[int, int]:
        async def attempt(tried: Attempt) -> tuple[int, int]:
            tried.reused = True  # until httpcore reports that it opened a connection for this request

            async def trace(event: str, info: Any) -> None:
                if "connect_tcp" in event:
                    tried.reused = False

            client = self.client(fresh=tried.fresh)
            try:
                async with client.stream("POST", self.url, content=body, headers=headers,
                                         extensions={"trace": trace}) as response:
                    await self.relay(tried, response.status_code, response.aiter_raw(), sink)
            except self.errors as exc:
                raise self.transport_error(exc, len(body), tried.received) from None
            return len(body), tried.received

        return await self.with_stale_retry(attempt)
