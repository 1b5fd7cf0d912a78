"""``--transport httpx``: httpx's AsyncClient, speaking HTTP/2 when the ``h2`` package is installed.

Not the default: measured on 2 cores with 4-token streams it costs several times the CPU per request of
the ``protocol`` transport (bench/bench_client.py), mostly in its connection-pool bookkeeping. It is here
for servers only reachable over HTTP/2, where multiplexing matters more than client CPU.
"""

from __future__ import annotations

from collections.abc import Mapping
from time import perf_counter_ns
from typing import Any

from inferload import hookimpl
from inferload.engine.transport import TransportError, static_headers
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


class HttpxTransport:
    """POSTs through one lazily created ``httpx.AsyncClient`` (it must be made inside the worker's loop)."""

    def __init__(
        self,
        *,
        url: str,
        headers: Mapping[str, str] | None = None,
        max_connections: int = 0,
        connect_timeout: float = 30.0,
        **_: Any,
    ) -> None:
        self._url = url
        self._headers = static_headers(headers)
        self._limit = max_connections or None
        self._connect_timeout = connect_timeout
        self._client: Any = None

    def _open(self) -> Any:
        import importlib.util

        import httpx

        http2 = importlib.util.find_spec("h2") is not None
        limits = httpx.Limits(max_connections=self._limit, max_keepalive_connections=self._limit)
        timeout = httpx.Timeout(None, connect=self._connect_timeout)
        self._client = httpx.AsyncClient(http2=http2, limits=limits, timeout=timeout, headers=self._headers)
        return self._client

    async def request(self, body: bytes, headers: Mapping[str, str], sink: Any) -> tuple[int, int]:
        import httpx

        client = self._client or self._open()
        received = 0
        try:
            async with client.stream("POST", self._url, content=body, headers=headers) as response:
                sink.on_headers(response.status_code, perf_counter_ns())
                async for data in response.aiter_raw():
                    received += len(data)
                    sink.on_body(data, perf_counter_ns())
        except httpx.RemoteProtocolError as exc:
            raise TransportError(
                f"invalid HTTP response: {exc}", ERROR_MALFORMED, len(body), received
            ) from None
        except (httpx.TransportError, OSError) as exc:
            raise TransportError(
                f"{type(exc).__name__}: {exc}", ERROR_CONNECTION, len(body), received
            ) from None
        return len(body), received

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
