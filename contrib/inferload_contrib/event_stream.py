"""What the contrib endpoint adapters share, built only on the core's public API: a parser base for
streams of typed JSON events (SSE or newline-delimited JSON), a JSON-body parser with a dialect's usage
names, and the guess of which ``--endpoint-type`` a stray event belongs to.

Each adapter subclasses :class:`EventStreamParser` and implements ``on_event(ts_ns, event_type, obj)``,
calling :meth:`~EventStreamParser.output` for answer/reasoning text, setting ``usage`` (in OpenAI's names,
so :func:`inferload.endpoint.apply_usage` reads it) and ``finished``, and :meth:`~EventStreamParser.fail`
for errors. How the stream ends decides the record, as for the OpenAI endpoints: the first error wins;
a stream without its final event is ``stream_incomplete``; one without output is ``empty_response``.
"""

from __future__ import annotations

import json
from typing import Any

from inferload.dialects import StopResponse, other_dialect, sniff_json
from inferload.endpoint import record_body, record_stream, server_message
from inferload.engine.sse import SSEParser
from inferload.records import (
    ERROR_EMPTY,
    ERROR_INCOMPLETE,
    ERROR_MALFORMED,
    ERROR_SERVER,
    RequestError,
    RequestRecord,
)

_decode = json.JSONDecoder().decode

def unexpected(obj: Any, what: str, payload: bytes) -> StopResponse:
    """End the request as ``malformed_response`` for an event or body of another dialect or of an unknown
    type, naming the likely ``--endpoint-type`` when the shape is known: ``raise unexpected(...)`` from
    ``on_event`` (the worker closes the connection at that event)."""
    return StopResponse(other_dialect(obj, what, payload))


def unknown_event(obj: Any, dialect: str, kind: Any, payload: bytes) -> StopResponse:
    """:func:`unexpected` for an event of a type ``dialect`` does not have, or of none (an OpenAI chunk has
    no ``type``: the message says so rather than quoting an empty name)."""
    what = f"unknown {dialect} event type {kind!r}" if kind else f"a stream event without a {dialect} 'type'"
    return unexpected(obj, what, payload)


class EventStreamParser:
    """Base for one streamed response of typed JSON events; ``ndjson`` reads one JSON object per line
    instead of SSE. ``end_hint`` names the final event in the ``stream_incomplete`` message."""

    end_hint = "its final event"
    ndjson = False

    def __init__(self) -> None:
        self._sse = None if self.ndjson else SSEParser()
        self._line = b""
        self._line_ns = 0
        self.chunk_ns: list[int] = []
        self.answer: list[str] = []
        self.reasoning: list[str] = []
        self.first_answer_ns: int | None = None
        self.usage: dict[str, Any] | None = None
        self.finished = False
        self.error: RequestError | None = None
        self._events = 0
        self._head = b""
        """The body's first bytes while no event has arrived (to name a whole JSON body for what it is)."""

    # -- what subclasses call ----------------------------------------------------------------------

    def on_event(self, ts_ns: int, event_type: str, obj: dict[str, Any], payload: bytes) -> None:
        """One decoded event (``event_type``: the SSE ``event:`` name, '' without one)."""
        raise NotImplementedError

    def output(self, ts_ns: int, answer: str | None, reasoning: str | None) -> None:
        """Text that arrived in an event at ``ts_ns``: one output chunk if either is non-empty."""
        if not answer and not reasoning:
            return
        self.chunk_ns.append(ts_ns)
        if reasoning:
            self.reasoning.append(reasoning)
        if answer:
            if self.first_answer_ns is None:
                self.first_answer_ns = ts_ns
            self.answer.append(answer)

    def fail(self, error: RequestError) -> None:
        """Fail the request (the first error is kept)."""
        if self.error is None:
            self.error = error

    def server_error(self, obj: Any) -> None:
        """An error event: ``server_error`` with the server's message."""
        self.fail(RequestError(ERROR_SERVER, server_message(obj) or "the server sent an error event"))

    # -- the ResponseParser protocol ---------------------------------------------------------------

    def feed(self, data: bytes, ts_ns: int) -> None:
        try:
            self._feed(data, ts_ns)
        except StopResponse as stop:  # the first error wins, also over a stop
            self.fail(stop.error)
            raise StopResponse(self.error or stop.error) from None

    def _feed(self, data: bytes, ts_ns: int) -> None:
        if not self._events and len(self._head) < 4096:
            self._head += data[:4096]
            if self._sse is not None:
                self._sniff(final=False)
        if self._sse is not None:
            for event_ns, event_type, payload in self._sse.feed(data, ts_ns):
                self._decode(event_ns, event_type.decode("utf-8", "replace"), payload)
            return
        if not self._line:
            self._line_ns = ts_ns
        self._line += data
        while (end := self._line.find(b"\n")) >= 0:  # find, not `in`: see engine/sse.py on `b"\n" in`
            line, self._line = self._line[:end], self._line[end + 1 :]
            if line.strip():
                self._decode(self._line_ns, "", line)
            self._line_ns = ts_ns

    def _sniff(self, *, final: bool) -> None:
        """An SSE response that starts as JSON (NDJSON lines or a whole body) is another dialect: stop at
        its first line (``final``: at the end, whatever it holds)."""
        head = self._head.lstrip()
        if head[:1] not in (b"{", b"["):
            return
        seen = sniff_json(head)
        if seen is not None and (final or 10 in head):  # 10: LF, as an int (engine/sse.py)
            whole = final and 10 not in head.rstrip()
            what = "a whole JSON body where a stream was expected" if whole else "a JSON line, no SSE event"
            raise unexpected(seen[0], what, seen[1])
        if final:
            raise unexpected(None, "a JSON body where a stream was expected", head)

    def _decode(self, ts_ns: int, event_type: str, payload: bytes) -> None:
        self._events += 1
        if not self.ndjson and payload == b"[DONE]":
            return  # gateways (LiteLLM) end every SSE stream so; the dialect's own final event decides
        if self.ndjson and payload.startswith(b"data:"):
            try:
                obj = _decode(payload[5:].decode("utf-8", "replace"))
            except ValueError:
                obj = None
            raise unexpected(obj, "an SSE event where NDJSON lines were expected", payload)
        try:
            obj = _decode(payload.decode("utf-8", "surrogatepass"))
        except ValueError:
            self.fail(RequestError(ERROR_MALFORMED, f"stream event is not JSON: {payload[:80]!r}"))
            return
        if not isinstance(obj, dict):
            self.fail(RequestError(ERROR_MALFORMED, f"stream event is not an object: {payload[:80]!r}"))
            return
        try:
            self.on_event(ts_ns, event_type, obj, payload)
        except (KeyError, IndexError, TypeError, AttributeError, ValueError):
            self.fail(RequestError(ERROR_MALFORMED, f"unexpected stream event: {payload[:80]!r}"))

    def finish(self, record: RequestRecord, tokenizer: Any) -> None:
        try:
            if self._sse is not None:
                for event_ns, event_type, payload in self._sse.close():
                    self._decode(event_ns, event_type.decode("utf-8", "replace"), payload)
                if not self._events:
                    self._sniff(final=True)
            elif self._line.strip():
                self._decode(self._line_ns, "", self._line)
        except StopResponse as stop:
            self.fail(stop.error)
        usage_error = record_stream(record, tokenizer, self.usage, self.chunk_ns, self.first_answer_ns,
                                    self.answer, self.reasoning)
        if self.error is not None:
            record.error = self.error
        elif usage_error is not None:
            record.error = usage_error
        elif not self.finished:
            record.error = RequestError(ERROR_INCOMPLETE, f"the stream ended before {self.end_hint}")
        elif not self.chunk_ns:
            record.error = RequestError(ERROR_EMPTY, "the stream carried no output (no text or reasoning)")


class OtherDialect(Exception):
    """Raised by a body reader for a response that is not its dialect's shape."""


class DialectBodyParser:
    """A non-streamed JSON response of a dialect: ``read(obj) -> (answer, reasoning, usage)`` with usage
    in OpenAI's names; an object it does not recognise raises :class:`OtherDialect`. ``require_output``
(generating endpoints): a response without text is ``empty_response``."""

    def __init__(self, read: Any, *, is_error: Any, require_output: bool = True) -> None:
        self._read = read
        self._is_error = is_error
        self._require_output = require_output
        self._parts: list[bytes] = []

    def feed(self, data: bytes, ts_ns: int) -> None:
        self._parts.append(data)

    def finish(self, record: RequestRecord, tokenizer: Any) -> None:
        body = b"".join(self._parts)
        try:
            obj = json.loads(body)
        except ValueError as exc:
            record.error = RequestError(ERROR_MALFORMED, f"response body is not JSON ({exc}): {body[:80]!r}")
            return
        if isinstance(obj, dict) and self._is_error(obj):
            record.error = RequestError(ERROR_SERVER, server_message(obj) or "error")
            return
        try:
            answer, reasoning, usage = self._read(obj)
        except OtherDialect:
            record.error = other_dialect(obj, "the response body is not the expected shape", body)
            return
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            record.error = RequestError(
                ERROR_MALFORMED, f"response body is not the expected JSON ({exc}): {body[:80]!r}"
            )
            return
        usage_error = record_body(record, tokenizer, usage, answer, reasoning)
        if usage_error is not None:
            record.error = usage_error
        elif self._require_output and not answer and not reasoning:
            reported = (usage or {}).get("completion_tokens")
            also = f" although its usage reports {reported} output tokens" if reported else ""
            record.error = RequestError(ERROR_EMPTY, f"the response carried no output text{also}")
