"""The server-side truth log: one JSON line per request with what the server did and when.

Clock: every ``*_ns`` field is ``time.time_ns()`` — Unix-epoch wall-clock nanoseconds — read in the
simulator process, so records can be lined up with another process's wall-clock anchors on the same host.
Write times are taken right after the bytes were handed to the socket (``transport.write``), except
``chunk_write_ns``, taken just before. Nothing in
the log uses ``perf_counter``; the one clock keeps every field comparable with every other.

Fields: ``id`` (the response id), ``request_id`` (the client's ``X-Request-Id`` header, else null),
``session_id`` (the ``X-Session-ID`` header, else null), ``route``, ``model``, ``stream``, ``status``,
``fault`` (``KIND[:PARAM]`` or null), ``outcome`` (``ok``,
``error``, ``dropped``, ``client_closed``, ``shutdown``), ``prompt_tokens``, ``cached_tokens`` (prompt tokens
served from the prefix cache; null without ``--kv-cache-blocks``), ``completion_tokens`` (tokens
actually written), ``reasoning_tokens``, ``finish_reason``, ``received_ns`` (request fully read),
``scheduled_ns`` (admitted from the queue), ``first_token_ns`` / ``finished_ns`` (the engine produced the
first / last token), ``headers_ns`` (response head written), ``first_chunk_ns``, ``chunk_ns`` (every
token-carrying write; a non-streaming body is one chunk), ``chunk_write_ns`` (a streamed response's
token-carrying writes again, each stamped just *before* its bytes went to the socket), ``last_chunk_ns``
(the final bytes written).
Absent times are null. Each line is flushed when its request ends, so the file is complete up to the last
finished request even if the process is killed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from inferload.errors import UsageError


class Trace:
    """What happened to one request, filled in as it is served."""

    __slots__ = (
        "cached_tokens", "chunk_ns", "chunk_write_ns", "completion_tokens", "fault", "finish_reason",
        "finished_ns", "first_token_ns",
        "headers_ns", "id", "last_chunk_ns", "model", "outcome", "prompt_tokens", "reasoning_tokens",
        "received_ns", "request_id", "route", "scheduled_ns", "session_id", "status", "stream",
    )

    def __init__(
        self, route: str, received_ns: int, request_id: str | None, session_id: str | None = None
    ) -> None:
        self.id = ""
        self.request_id = request_id
        self.session_id = session_id
        self.cached_tokens: int | None = None
        self.route = route
        self.model = ""
        self.stream = False
        self.status = 200
        self.fault: str | None = None
        self.outcome = "ok"
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.reasoning_tokens = 0
        self.finish_reason: str | None = None
        self.received_ns = received_ns
        self.scheduled_ns = 0
        self.first_token_ns = 0
        self.finished_ns = 0
        self.headers_ns = 0
        self.chunk_ns: list[int] = []
        self.chunk_write_ns: list[int] = []
        self.last_chunk_ns = 0

    def as_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "request_id": self.request_id,
            "session_id": self.session_id,
            "route": self.route,
            "model": self.model,
            "stream": self.stream,
            "status": self.status,
            "fault": self.fault,
            "outcome": self.outcome,
            "prompt_tokens": self.prompt_tokens,
            "cached_tokens": self.cached_tokens,
            "completion_tokens": self.completion_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "finish_reason": self.finish_reason,
            "received_ns": self.received_ns,
            "scheduled_ns": self.scheduled_ns or None,
            "first_token_ns": self.first_token_ns or None,
            "finished_ns": self.finished_ns or None,
            "headers_ns": self.headers_ns or None,
            "first_chunk_ns": self.chunk_ns[0] if self.chunk_ns else None,
            "chunk_ns": self.chunk_ns,
            "chunk_write_ns": self.chunk_write_ns,
            "last_chunk_ns": self.last_chunk_ns or None,
        }


class TruthLog:
    """Appends one JSON line per finished request to a file (truncated when the server starts)."""

    def __init__(self, path: Path) -> None:
        """Raises UsageError naming ``path`` (``--truth-log``) when it cannot be created or written."""
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("w", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"simulate: cannot write --truth-log {path}: {exc.strerror or exc}") from None

    def write(self, trace: Trace) -> None:
        self._file.write(json.dumps(trace.as_record(), separators=(",", ":")) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read_truth_log(path: Path) -> list[dict[str, Any]]:
    """All records of a truth log, in the order requests finished."""
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
