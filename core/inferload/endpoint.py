"""The protocol endpoint plugins implement, and the response parsers they share.

An ``EndpointSpec.factory()`` returns an :class:`EndpointAdapter`. Before t=0 the engine calls
:meth:`EndpointAdapter.render` once per conversation and serialises the result to bytes; during the run a
worker calls :meth:`EndpointAdapter.parser` once per request and feeds it the body as it arrives (already
timestamped). Parsers only collect facts; :meth:`ResponseParser.finish` writes them into the
:class:`~inferload.records.RequestRecord`. Answer text and reasoning text (``reasoning_content`` /
``reasoning``) are kept apart so reasoning never counts as the answer.

:class:`SSEJSONParser` and :class:`JSONBodyParser` serve every OpenAI-style endpoint: a plugin gives them a
small ``extract(obj) -> (answer, reasoning)`` function for its response shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from inferload.engine.sse import SSEParser
from inferload.records import ERROR_HTTP, ERROR_MALFORMED, RequestError, RequestRecord

if TYPE_CHECKING:
    from inferload.config import ProfileConfig
    from inferload.dataset import Conversation, Tokenizer

_decode = json.JSONDecoder().decode

Extract = Callable[[dict[str, Any]], "tuple[str | None, str | None]"]
"""From one decoded response object (or stream event) to (answer text, reasoning text)."""


class ResponseParser(Protocol):
    """Collects one response. ``feed`` runs per body read, so it must stay cheap."""

    def feed(self, data: bytes, ts_ns: int) -> None: ...

    def finish(self, record: RequestRecord, tokenizer: Tokenizer | None) -> None:
        """Write chunk times, usage, client-side token counts or a malformed-response error."""
        ...


class EndpointAdapter(Protocol):
    """One API flavour: how to build its request body and read its response (its path and whether it
    produces tokens are declared once, on the :class:`~inferload.types.EndpointSpec`)."""

    def render(self, conversation: Conversation, config: ProfileConfig) -> dict[str, Any]:
        """The JSON request body for ``conversation`` (``--extra-inputs`` already merged)."""
        ...

    def parser(self, streaming: bool) -> ResponseParser:
        """A fresh parser for one response."""
        ...


class SSEJSONParser:
    """An OpenAI-style stream: ``data: {json}`` events, an optional ``usage`` event, then ``data: [DONE]``."""

    __slots__ = (
        "_answer",
        "_chunk_ns",
        "_done",
        "_error",
        "_extract",
        "_first_answer_ns",
        "_reasoning",
        "_sse",
        "_usage",
    )

    def __init__(self, extract: Extract) -> None:
        self._extract = extract
        self._sse = SSEParser()
        self._chunk_ns: list[int] = []
        self._answer: list[str] = []
        self._reasoning: list[str] = []
        self._first_answer_ns: int | None = None
        self._usage: dict[str, Any] | None = None
        self._done = False
        self._error: RequestError | None = None

    def feed(self, data: bytes, ts_ns: int) -> None:
        for event_ns, payload in self._sse.feed(data, ts_ns):
            self._event(event_ns, payload)

    def _event(self, ts_ns: int, payload: bytes) -> None:
        if payload == b"[DONE]":
            self._done = True
            return
        try:
            # what json.loads(bytes) does for UTF-8 (SSE is UTF-8 by definition), minus its per-call checks
            obj = _decode(payload.decode("utf-8", "surrogatepass"))
        except ValueError:
            if self._error is None:
                self._error = RequestError(ERROR_MALFORMED, f"stream event is not JSON: {payload[:80]!r}")
            return
        if not isinstance(obj, dict):
            if self._error is None:
                self._error = RequestError(
                    ERROR_MALFORMED, f"stream event is not an object: {payload[:80]!r}"
                )
            return
        if obj.get("error") is not None and self._error is None:
            self._error = _server_error(obj["error"])
            return
        usage = obj.get("usage")
        if usage:
            self._usage = usage
        try:
            answer, reasoning = self._extract(obj)
        except (KeyError, IndexError, TypeError, AttributeError):
            if self._error is None:
                self._error = RequestError(ERROR_MALFORMED, f"unexpected stream event: {payload[:80]!r}")
            return
        if answer or reasoning:
            self._chunk_ns.append(ts_ns)
            if reasoning:
                self._reasoning.append(reasoning)
            if answer:
                if self._first_answer_ns is None and self._reasoning:
                    self._first_answer_ns = ts_ns
                self._answer.append(answer)

    def finish(self, record: RequestRecord, tokenizer: Tokenizer | None) -> None:
        for event_ns, payload in self._sse.close():
            self._event(event_ns, payload)
        record.chunk_ns = self._chunk_ns
        record.first_answer_ns = self._first_answer_ns
        _apply_usage(record, self._usage)
        if tokenizer is not None:
            record.client_output_tokens = tokenizer.count("".join(self._answer)) if self._answer else 0
            if self._reasoning:
                record.client_reasoning_tokens = tokenizer.count("".join(self._reasoning))
        if self._error is not None:
            record.error = self._error
        elif not self._done:
            record.error = RequestError(ERROR_MALFORMED, "stream ended without 'data: [DONE]'")


class JSONBodyParser:
    """A non-streamed JSON response: parsed once, when complete."""

    __slots__ = ("_extract", "_parts")

    def __init__(self, extract: Extract) -> None:
        self._extract = extract
        self._parts: list[bytes] = []

    def feed(self, data: bytes, ts_ns: int) -> None:
        self._parts.append(data)

    def finish(self, record: RequestRecord, tokenizer: Tokenizer | None) -> None:
        body = b"".join(self._parts)
        try:
            obj = json.loads(body)
            if not isinstance(obj, dict):
                raise TypeError("not a JSON object")
            if obj.get("error") is not None:
                record.error = _server_error(obj["error"])
                return
            answer, reasoning = self._extract(obj)
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            record.error = RequestError(
                ERROR_MALFORMED, f"response body is not the expected JSON ({exc}): {body[:80]!r}"
            )
            return
        _apply_usage(record, obj.get("usage"))
        if tokenizer is not None and answer is not None:
            record.client_output_tokens = tokenizer.count(answer) if answer else 0
            if reasoning:
                record.client_reasoning_tokens = tokenizer.count(reasoning)


def error_from_body(status: int, body: bytes) -> RequestError:
    """An HTTP error record from a non-2xx status and (the start of) its body."""
    message = ""
    try:
        obj = json.loads(body)
        err = obj.get("error", obj) if isinstance(obj, dict) else obj
        message = err.get("message", "") if isinstance(err, dict) else str(err)
    except ValueError:
        message = body[:200].decode("utf-8", "replace").strip()
    return RequestError(ERROR_HTTP, message or f"HTTP {status}", code=status)


def _server_error(err: Any) -> RequestError:
    if isinstance(err, dict):
        code = err.get("code")
        return RequestError(
            ERROR_HTTP, str(err.get("message") or err)[:300], code=code if isinstance(code, int) else None
        )
    return RequestError(ERROR_HTTP, str(err)[:300])


def _apply_usage(record: RequestRecord, usage: dict[str, Any] | None) -> None:
    if not usage:
        return
    record.usage_prompt_tokens = usage.get("prompt_tokens")
    record.usage_completion_tokens = usage.get("completion_tokens")
    record.usage_total_tokens = usage.get("total_tokens")
    details = usage.get("completion_tokens_details") or {}
    if isinstance(details, dict):
        record.usage_reasoning_tokens = details.get("reasoning_tokens")
