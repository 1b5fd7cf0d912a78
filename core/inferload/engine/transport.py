"""The protocol hot-path HTTP clients (``transport`` plugins) implement.

A worker builds one transport per process with ``TransportSpec.factory(url=..., headers=...,
max_connections=..., connect_timeout=...)`` and calls :meth:`Transport.request` for every request. The
transport owns its keep-alive connection pool. It sends :func:`static_headers` of the ``headers`` it was
built with (one header per name: a user's replaces a built-in) plus the per-request ones. It reports the
response to a :class:`ResponseSink` as it arrives, timestamping each body read with
``time.perf_counter_ns()`` taken *before* any parsing — or, better, with the kernel's receive time of its
bytes in that timebase (docs/metrics.md, "When a chunk is timestamped") — and raises
:class:`TransportError` (with a ``records.ERROR_*`` kind) for failures of the exchange itself.
Timeouts and cancellation are the worker's: it cancels the awaiting task, and the transport must then
drop (not reuse) the connection.

:class:`BaseTransport` is public API for transport plugins (docs/architecture.md, "The plugin model"):
what every transport shares — the factory's keyword arguments, URL userinfo as Basic auth, the header
merge and the framing-header rule, the client made in ``prepare`` before t=0, the mapping of a client
library's exceptions to :class:`TransportError` — so a plugin keeps only what is its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from time import perf_counter_ns
from typing import Any, Protocol
from urllib.parse import SplitResult, urlsplit

from inferload import __version__
from inferload.headers import FRAMING_HEADERS, split_userinfo
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
per-request ``X-Request-Id`` and the run's own headers (``ProfileConfig.headers_for(endpoint)``: the
endpoint type's static headers, ``Authorization`` or what else ``--api-key`` becomes for it, ``-H``), which
replace these by name. docs/profile.md lists them."""

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

    # Optional: ``def on_body_read(self, data: bytes, ts_ns: int, read_ns: int) -> None`` -- a transport
    # that stamps reads with the kernel's receive time calls it instead of ``on_body`` when the sink has
    # it, with the user-space read time too (``read_ns``; 0 when ``ts_ns`` is that time).
    # Optional: ``ended: bool`` -- True once the sink wants no more of the body (its parser ended the
    # request, e.g. at a first event of another dialect): a transport that reads in the request's task
    # stops reading and closes the connection (BaseTransport.relay does); the protocol transport's task is
    # cancelled by the worker instead.

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

    # Optional: ``async def prepare(self) -> None`` does every set-up a request would otherwise do lazily
    # (imports, client sessions, pools), inside the worker's loop; the worker awaits it before reporting
    # ready, so no request's timed window pays for it. A transport with a prepare step may refuse
    # requests before it.
    # Optional: ``async def warm(self, count: int) -> int`` opens up to ``count`` connections before t=0
    # (the worker calls it after prepare, when present, with its share of --concurrency).


class BaseTransport:
    """What every transport shares; a plugin's transport subclasses it and adds ``request`` (and, when
    it has them, its own ``prepare``, ``warm`` and ``close``).

    Built with the factory's keyword arguments (``url``, ``headers``, ``max_connections`` — 0: no limit —
    and ``connect_timeout`` in seconds; others are ignored). ``url`` keeps no userinfo: ``user:pass@`` is
    sent as ``Authorization: Basic``, below any Authorization in ``headers``. :attr:`headers` are the
    :func:`static_headers` to send on every request. ValueError names a framing header
    (Content-Length, Transfer-Encoding) among ``headers``: the transport computes those for each body.

    A transport on a client library overrides :meth:`_open` (make the client: called by :meth:`prepare`,
    inside the worker's loop, before t=0), :meth:`_close_client` and :meth:`_errors`; its ``request``
    takes :meth:`client` and turns the library's exceptions into TransportErrors with
    :meth:`transport_error`."""

    def __init__(
        self,
        *,
        url: str,
        headers: Mapping[str, str] | None = None,
        max_connections: int = 0,
        connect_timeout: float = 30.0,
        **_: Any,
    ) -> None:
        self.url, basic = split_userinfo(url)
        self.url_parts: SplitResult = urlsplit(self.url)
        given = dict(headers or {})
        framing = sorted(name for name in given if name.lower() in FRAMING_HEADERS)
        if framing:
            raise ValueError(f"{', '.join(framing)} is computed by the transport for each body; drop it")
        auth = {"Authorization": basic} if basic is not None else {}
        self.headers: dict[str, str] = static_headers(merge_headers(auth, given.items()))
        self.max_connections = max_connections
        self.connect_timeout = connect_timeout
        self._client: Any = None
        self._fresh_client: Any = None
        self.errors: tuple[type[BaseException], ...] = ()
        """The exception classes :meth:`transport_error` maps, set by :meth:`prepare`; catch these."""

    async def prepare(self) -> None:
        """Make the client (:meth:`_open`) and learn which exceptions to map, once; the worker awaits
        this before it reports ready, so no request's timed window pays for imports or set-up."""
        if self._client is None:
            self._client = self._open()
            self._fresh_client = self._open(fresh=True)
        self.errors = tuple(cls for cls, _, _ in self._errors())

    def client(self, fresh: bool = False) -> Any:
        """The client :meth:`prepare` made (``fresh``: the one that opens a new connection for every
        request, for :meth:`with_stale_retry`); RuntimeError before :meth:`prepare` (set-up belongs before
        t=0)."""
        client = self._fresh_client if fresh and self._fresh_client is not None else self._client
        if client is None:
            raise RuntimeError(f"{type(self).__name__}.request() before prepare(): set-up belongs before t=0")
        return client

    async def close(self) -> None:
        """Close the clients and every pooled connection; a no-op when there is none."""
        for attr in ("_client", "_fresh_client"):
            client = getattr(self, attr)
            if client is not None:
                setattr(self, attr, None)
                await self._close_client(client)

    async def with_stale_retry(
        self, send: Callable[[Attempt], Awaitable[tuple[int, int]]]
    ) -> tuple[int, int]:
        """``send(attempt)``, and once more on a new connection when the first try went out on a pooled
        keep-alive connection (``send`` sets ``attempt.reused``) and failed as a connection error before a
        single byte of the response arrived.

        That is the race every keep-alive client meets: the server closed the idle connection (or closes
        after each response without ``Connection: close``) just as it was reused, so the request never
        reached it or was never answered. HTTP clients retry it once; so do all transports here. Any other
        failure, a failure on a new connection, or a second failure is the request's error. The record's
        timings are the second try's (its ``start`` is stamped again when the transport can)."""
        first = Attempt()
        try:
            return await send(first)
        except TransportError as exc:
            if not self.stale(exc, first.reused):
                raise
        return await send(Attempt(fresh=True))

    @staticmethod
    def stale(exc: TransportError, reused: bool) -> bool:
        """Whether a try that failed with ``exc`` met the keep-alive race :meth:`with_stale_retry` retries:
        it went out on a pooled connection (``reused``) and failed as a connection error before a single
        byte of the response arrived."""
        return reused and exc.kind == ERROR_CONNECTION and exc.bytes_received == 0

    @staticmethod
    async def relay(tried: Attempt, status: int, chunks: AsyncIterator[bytes], sink: ResponseSink) -> None:
        """Hand a client library's response to ``sink``: the status, then each body chunk as it arrives,
        each stamped with ``perf_counter_ns()``; ``tried.received`` counts the bytes (also when the
        body is cut short, for the TransportError). Stops at the first chunk after which ``sink.ended`` is
        true: leaving the client library's response unread closes its connection, so the server sees the
        client hang up as with the protocol transport."""
        sink.on_headers(status, perf_counter_ns())
        async for data in chunks:
            tried.received += len(data)
            sink.on_body(data, perf_counter_ns())
            if getattr(sink, "ended", False):
                break

    def transport_error(self, exc: BaseException, bytes_sent: int, bytes_received: int) -> TransportError:
        """``exc`` as a TransportError: the kind and message prefix of the first :meth:`_errors` entry it
        is an instance of (prefix None: the exception's class name); a connection error otherwise."""
        matches = ((kind, prefix) for cls, kind, prefix in self._errors() if isinstance(exc, cls))
        kind, prefix = next(matches, (ERROR_CONNECTION, None))
        return TransportError(f"{prefix or type(exc).__name__}: {exc}", kind, bytes_sent, bytes_received)

    def _open(self, fresh: bool = False) -> Any:
        """Make the client library's client (imports happen here); None for a transport without one.
        ``fresh``: a client that keeps no connection, so each request opens its own (None: no such one)."""
        return None

    async def _close_client(self, client: Any) -> None:
        """Close what :meth:`_open` made."""

    def _errors(self) -> list[tuple[type[BaseException], str, str | None]]:
        """(exception class, ``records.ERROR_*`` kind, message prefix or None), most specific first."""
        return [(OSError, ERROR_CONNECTION, None)]


@dataclass
class Attempt:
    """One try of a request under :meth:`BaseTransport.with_stale_retry`: ``fresh`` asks the transport for
    a new connection; the transport sets ``reused`` when it sent on a pooled one."""

    fresh: bool = False
    reused: bool = False
    received: int = 0
    """Response bytes this try received (:meth:`BaseTransport.relay` counts them)."""


class TransportError(Exception):
    """The exchange failed before a complete response: refused, reset, closed early, unparseable HTTP."""

    def __init__(
        self, message: str, kind: str = ERROR_CONNECTION, bytes_sent: int = 0, bytes_received: int = 0
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.bytes_sent = bytes_sent
        self.bytes_received = bytes_received
