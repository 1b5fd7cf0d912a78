"""The protocol hot-path HTTP clients (``transport`` plugins) implement.

A worker builds one transport per process with ``TransportSpec.factory(url=..., headers=...,
max_connections=..., connect_timeout=...)`` and calls :meth:`Transport.request` for every request. The
transport owns its keep-alive connection pool. It sends :func:`static_headers` of the ``headers`` it was
built with (one header per name: a user's replaces a built-in) plus the per-request ones. It reports the
response to a :class:`ResponseSink` as it arrives, timestamping each body read with
``time.perf_counter_ns()`` taken *before* any parsing, and raises :class:`TransportError` (with a
``records.ERROR_*`` kind) for failures of the exchange itself. Timeouts and cancellation are the
worker's: it cancels the awaiting task, and the transport must then drop (not reuse) the connection.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from inferload import __version__
from inferload.records import ERROR_CONNECTION

REQUEST_ID_HEADER = "X-Request-Id"
"""Sent with a fresh UUID on every request (the record keeps it) unless the user gives their own."""

BUILTIN_HEADERS: Mapping[str, str] = {
    "Content-Type": "application/json",
    "Accept": "*/*",
    # bodies are timestamped and parsed as they arrive, never decompressed: ask for them uncompressed
    "Accept-Encoding": "identity",
    "User-Agent": f"inferload/{__version__}",
}
"""The headers every transport sends on every request, besides ``Host``, ``Content-Length``, the
per-request ``X-Request-Id`` and (from ``--api-key``) ``Authorization``. docs/profile.md lists them."""

FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding"})
"""Headers the transport computes for each body; a user may not set them."""


def merge_headers(base: Mapping[str, str], override: Iterable[tuple[str, str]]) -> dict[str, str]:
    """``base`` updated with ``override``'s (name, value) pairs, names compared case-insensitively as HTTP
    does: an overriding header replaces every same-named one, so exactly one of each name remains."""
    headers = dict(base)
    for name, value in override:
        for existing in [key for key in headers if key.lower() == name.lower()]:
            del headers[existing]
        headers[name] = value
    return headers


def static_headers(user: Mapping[str, str] | None = None) -> dict[str, str]:
    """The headers a transport sends on every request: :data:`BUILTIN_HEADERS` replaced by ``user``'s
    (the ``--api-key``/``-H`` headers) of the same name."""
    return merge_headers(BUILTIN_HEADERS, (user or {}).items())


class ResponseSink(Protocol):
    """Receives one response as it arrives."""

    def on_headers(self, status: int, ts_ns: int) -> None:
        """Status line and headers are complete."""

    def on_body(self, data: bytes, ts_ns: int) -> None:
        """A piece of the (de-chunked) body, read at ``ts_ns``."""

    # Optional: ``def on_sent(self, ts_ns: int) -> None`` -- a transport that can calls it with
    # ``perf_counter_ns()`` taken immediately before the request's first byte is written (after taking a
    # pooled connection and building the request), which then becomes the request's start time.


class Transport(Protocol):
    """One worker's HTTP client for one target URL."""

    async def request(self, body: bytes, headers: Mapping[str, str], sink: ResponseSink) -> tuple[int, int]:
        """POST ``body`` with the static headers plus ``headers``; return (bytes sent, bytes received)."""
        ...

    async def close(self) -> None:
        """Close every pooled connection."""
        ...

    # Optional: ``async def warm(self, count: int) -> int`` opens up to ``count`` connections before t=0
    # (the worker calls it when present, with its share of --concurrency).


class TransportError(Exception):
    """The exchange failed before a complete response: refused, reset, closed early, unparseable HTTP."""

    def __init__(
        self, message: str, kind: str = ERROR_CONNECTION, bytes_sent: int = 0, bytes_received: int = 0
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.bytes_sent = bytes_sent
        self.bytes_received = bytes_received
