"""An aiohttp transport: a mature client with its own pooling, for servers the default one mishandles.

Chunks are timestamped when aiohttp hands them over (after its parser), so TTFT carries slightly more
client overhead than with the default ``protocol`` transport; see bench/bench_client.py for the figures.
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
            name="aiohttp",
            description="aiohttp ClientSession with a keep-alive connector",
            factory=AiohttpTransport,
            schemes=("http", "https"),
        )
    ]


class AiohttpTransport:
    """POSTs through one lazily created ``aiohttp.ClientSession`` (it must be made inside the loop)."""

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
        self._limit = max_connections
        self._connect_timeout = connect_timeout
        self._session: Any = None

    def _open(self) -> Any:
        import aiohttp

        connector = aiohttp.TCPConnector(limit=self._limit, limit_per_host=0, ttl_dns_cache=None)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            headers=self._headers,
            auto_decompress=False,
        )
        return self._session

    async def request(self, body: bytes, headers: Mapping[str, str], sink: Any) -> tuple[int, int]:
        import aiohttp

        session = self._session or self._open()
        received = 0
        try:
            async with session.post(self._url, data=body, headers=headers) as response:
                sink.on_headers(response.status, perf_counter_ns())
                async for data in response.content.iter_any():
                    received += len(data)
                    sink.on_body(data, perf_counter_ns())
        except aiohttp.ClientPayloadError as exc:
            raise TransportError(
                f"response body cut short: {exc}", ERROR_CONNECTION, len(body), received
            ) from None
        except aiohttp.ClientResponseError as exc:
            raise TransportError(
                f"invalid HTTP response: {exc}", ERROR_MALFORMED, len(body), received
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise TransportError(
                f"{type(exc).__name__}: {exc}", ERROR_CONNECTION, len(body), received
            ) from None
        return len(body), received

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
