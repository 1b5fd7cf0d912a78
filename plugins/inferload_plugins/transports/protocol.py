"""The default hot-path transport: asyncio Protocols with the ``httptools`` HTTP/1.1 response parser.

Chosen by measurement (bench/bench_client.py): it costs a fraction of aiohttp's CPU per request because a
request is one ``write`` and each read goes straight — timestamped before any parsing — through
httptools' C parser into the response sink. Over plain HTTP on Linux a read is stamped with the kernel's
receive time of its bytes (``SO_TIMESTAMPNS``), so a busy event loop does not delay the stamps
(docs/metrics.md, "When a chunk is timestamped"). Connections are kept alive and pooled per worker; a
connection whose response was cut short is closed, never reused.
"""

from __future__ import annotations

from typing import Any

from inferload import hookimpl
from inferload.types import TransportSpec


@hookimpl
def register_transports() -> list[TransportSpec]:
    return [
        TransportSpec(
            name="protocol",
            description="asyncio Protocol + httptools, keep-alive pool (default)",
            factory=make_transport,
            schemes=("http", "https"),
        )
    ]


def make_transport(**options: Any) -> Any:
    """Build the transport for one worker (imports its dependencies only now)."""
    from inferload_plugins.transports._protocol_client import ProtocolTransport

    return ProtocolTransport(**options)
