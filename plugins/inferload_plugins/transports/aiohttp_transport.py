"""An aiohttp transport: a mature client with its own pooling, for servers the default one mishandles.

Chunks are timestamped when aiohttp hands them over (after its parser), so TTFT carries slightly more
client overhead than with the default ``protocol`` transport; see bench/bench_client.py for the figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from inferload import hookimpl
from inferload.engine.transport import Attempt, BaseTransport
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


class AiohttpTransport(BaseTransport):
    """POSTs through one ``aiohttp.ClientSession``, made by ``prepare`` inside the worker's loop before t=0
    (made lazily, it cost the first request of each worker its import and creation: ~180 ms)."""

    def _open(self, fresh: bool = False) -> Any:
        import aiohttp

        connector = aiohttp.TCPConnector(limit=0 if fresh else self.max_connections, limit_per_host=0,
                                         ttl_dns_cache=None, force_close=fresh)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.connect_timeout)
        trace = aiohttp.TraceConfig()
        trace.on_connection_reuseconn.append(_note_reuse)
        return aiohttp.ClientSession(
            connector=connector, timeout=timeout, headers=self.headers, auto_decompress=False,
            trace_configs=[trace],
        )

    async def _close_client(self, client: Any) -> None:
        await client.close()

    def _errors(self) -> list[tuple[type[BaseException], str, str | None]]:
        import aiohttp

        return [
            (aiohttp.ClientPayloadError, ERROR_CONNECTION, "response body cut short"),
            (aiohttp.ClientResponseError, ERROR_MALFORMED, "invalid HTTP response"),
            (aiohttp.ClientError, ERROR_CONNECTION, None),
            (OSError, ERROR_CONNECTION, None),
        ]

    async def request(self, body: bytes, headers: Mapping[str, str], sink: Any) -> tuple[int, int]:
        async def attempt(tried: Attempt) -> tuple[int, int]:
            session = self.client(fresh=tried.fresh)
            try:
                async with session.post(self.url, data=body, headers=headers,
                                        trace_request_ctx=tried) as response:
                    await self.relay(tried, response.status, response.content.iter_any(), sink)
            except self.errors as exc:
                raise self.transport_error(exc, len(body), tried.received) from None
            return len(body), tried.received

        return await self.with_stale_retry(attempt)


async def _note_reuse(session: Any, context: Any, params: Any) -> None:
    """aiohttp trace hook: the request went out on a pooled connection (see with_stale_retry)."""
    tried = context.trace_request_ctx
    if isinstance(tried, Attempt):
        tried.reused = True
