"""The protocol endpoint plugins implement, and the response parsers they share.

An ``EndpointSpec.factory()`` returns an :class:`EndpointAdapter`. Before t=0 the engine calls
:meth:`EndpointAdapter.render` once per conversation and serialises the result to bytes; during the run a
worker calls :meth:`EndpointAdapter.parser` once per request and feeds it the body as it arrives (already
timestamped). Parsers only collect facts; :meth:`ResponseParser.finish` writes them into the
:class:`~inferload.records.RequestRecord`. Answer text and reasoning text (``reasoning_content`` /
``reasoning``) are kept apart so reasoning never counts as the answer.

:class:`SSEJSONParser` and :class:`JSONBodyParser` serve every OpenAI-style endpoint: a plugin gives them a
small ``extract(obj) -> (answer, reasoning)`` function for its response shape.

Public API for endpoint plugins, kept in core on purpose (docs/architecture.md, "The plugin model"): the
built-in endpoints and contrib's vendor adapters all parse with it, the worker maps HTTP errors with
:func:`error_from_body`, and plugins may share code only through core, never through each other.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import msgspec
from msgspec import DecodeError

from inferload.dialects import StopResponse, likely_endpoint_type, other_dialect, sniff_json
from inferload.engine.sse import SSEParser
from inferload.json_codec import _decode as _msgspec_decode
from inferload.json_codec import loads as json_loads
from inferload.records import (
    ERROR_EMPTY,
    ERROR_HTTP,
    ERROR_INCOMPLETE,
    ERROR_MALFORMED,
    ERROR_SERVER,
    RequestError,
    RequestRecord,
)

if TYPE_CHECKING:
    from inferload.config import ProfileConfig
    from inferload.dataset import Conversation, Tokenizer


Extract = Callable[[dict[str, Any]], "tuple[str | None, str | None]"]
"""From one decoded response object (or stream event) to (answer text, reasoning text)."""

FastRead = Callable[[bytes], "tuple[str | None, Any, Any] | None"]
"""An endpoint's optional quick reader of its most common stream events (:class:`SSEJSONParser`'s
``fast``): from one event's data to ``(answer text or None, finish_reason, usage)`` when the event is
plainly of that shape — an object with no ``error``, no reasoning and nothing else ``extract`` would read
as output — else None, and the general path (decode to a dict, ``extract``) reads it. Whatever it answers
must be exactly what the general path would make of the event; it is there to skip building the dicts of
fields nobody reads (a typed ``msgspec`` decode does). :func:`plain_event_reader` makes one."""

ChoiceT = TypeVar("ChoiceT")


class PlainEvent(msgspec.Struct, Generic[ChoiceT], gc=False):
    """An OpenAI-style stream event as a :func:`plain_event_reader` decodes it: ``choices`` (required) of
    the endpoint's own choice type, ``error`` and ``usage``; every other field skipped without being built."""

    choices: list[ChoiceT]
    error: Any = None
    usage: Any = None


def plain_event_reader(choice_type: type[Any], text: str) -> FastRead:
    """A :data:`FastRead` for events whose ``choices`` are of ``choice_type``: a ``msgspec.Struct`` of a
    choice as a plain event has it — its text as ``str | None``, its ``finish_reason``, and every field
    that would make the event not plain (reasoning, tool calls, ...) typed ``None``, so the decode refuses
    an event that has anything there (the general path then reads it). ``text`` is the attribute path of
    the text in the first choice (``"delta.content"``), which is what extract functions read (the other
    choices are checked for shape only). An event without choices is read for its ``usage``; one with an
    ``error``, JSON msgspec refuses, or bytes that are not UTF-8 (which the typed decode does not check in
    the fields it skips) is left to the general path.

    About half the CPU of that path for a content event (0.82 -> 0.39 µs for the client bench's chat
    event, 1.10 -> 0.49 for one with vLLM's ``id``/``object``/``created``/``model``/``logprobs``; timeit,
    commit message): the checks are the decoder's, and no Python function runs per event but this one."""
    decode = msgspec.json.Decoder(PlainEvent[choice_type]).decode  # type: ignore[valid-type]
    text_and_finish = attrgetter(text, "finish_reason")

    def read(data: bytes) -> tuple[str | None, Any, Any] | None:
        if not data.isascii():
            try:  # the typed decode skips unread fields without checking their UTF-8; the general path
                data.decode()  # refuses the whole event over a bad byte anywhere, so this one goes there
            except UnicodeDecodeError:
                return None
        try:
            event = decode(data)
        except DecodeError:  # ValidationError included: not of this shape
            return None
        if event.error is not None:
            return None
        choices = event.choices
        if not choices:
            return None, None, event.usage
        answer, finish_reason = text_and_finish(choices[0])
        return answer, finish_reason, event.usage

    return read


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
        """A fresh parser for one response. Multi-turn sessions need it to have ``answer_text() -> str``
        (the reply as received, sent back in the next turn); both parsers below have it."""
        ...


_MAY_OPEN_JSON = frozenset((b"", b"{", b"[", b" ", b"\t", b"\n", b"\r", b"\x0b", b"\x0c"))
"""The first byte of a body that may be a JSON line (``bytes.lstrip``'s whitespace first: the next byte
decides), or none yet: :meth:`SSEJSONParser._sniff` looks further; any other first byte shows the body
is not JSON."""


class SSEJSONParser:
    """An OpenAI-style stream: ``data: {json}`` events, an optional ``usage`` event, then ``data: [DONE]``.

    How a stream ends decides the record: an error object or an ``event: error`` frame fails it as
    ``server_error`` (whatever follows); a stream that ends cleanly after a ``finish_reason`` succeeds
    with or without ``[DONE]`` (older llama.cpp and its forks send none); one that ends before either is
    ``stream_incomplete`` and keeps its chunk times; one with no output at all is ``empty_response`` when
    ``require_output`` (every generating endpoint). Reasoning-, answer- and tool-call deltas all count as
    output chunks, as in AIPerf.
    """

    __slots__ = (
        "_answer",
        "_chunk_ns",
        "_done",
        "_error",
        "_extract",
        "_fast",
        "_finished",
        "_first_answer_ns",
        "_head",
        "_reasoning",
        "_require_output",
        "_sse",
        "_usage",
    )

    def __init__(
        self, extract: Extract, *, require_output: bool = True, fast: FastRead | None = None
    ) -> None:
        """``extract`` reads answer and reasoning from an event's object; ``fast`` (:data:`FastRead`), when
        the endpoint has one, reads its plain events without building that object."""
        self._extract = extract
        self._fast = fast
        self._require_output = require_output
        self._sse = SSEParser()
        self._chunk_ns: list[int] = []
        self._answer: list[str] = []
        self._reasoning: list[str] = []
        self._first_answer_ns: int | None = None
        self._usage: Any = None
        self._done = False
        self._finished = False
        self._error: RequestError | None = None
        self._head: bytes | None = b""
        """The body's first bytes until they show SSE (then None) or JSON of another dialect."""

    def feed(self, data: bytes, ts_ns: int) -> None:
        head = self._head
        if head is not None:
            if not head and data[:1] not in _MAY_OPEN_JSON:  # the common first read: "data: ..."
                self._head = None
            else:
                self._sniff(data)
        values = self._sse.whole_data(data)
        if values is not None:  # the common read: data-only events, no event tuples
            self._values(ts_ns, values)
            return
        for event_ns, event_type, payload in self._sse.feed(data, ts_ns):
            self._event(event_ns, event_type, payload)

    def _sniff(self, data: bytes) -> None:
        """Stop at the first line of a body that is JSON, not SSE (an NDJSON stream of another dialect)."""
        head = (self._head or b"") + data
        stripped = head.lstrip()
        if not stripped:
            self._head = head
        elif stripped[:1] not in (b"{", b"[") or len(head) > 65536:
            self._head = None
        else:
            self._head = head
            seen = sniff_json(stripped) if 10 in stripped else None  # 10: LF, as an int (sse.py's _LF)
            if seen is not None:
                raise StopResponse(_not_sse(seen, "a JSON line, no SSE event"))

    def _event(self, ts_ns: int, event_type: bytes, payload: bytes) -> None:
        if event_type == b"error":
            if self._error is None:
                self._error = _stream_error(payload)
            return
        self._values(ts_ns, (payload,))

    def _values(self, ts_ns: int, payloads: Sequence[bytes]) -> None:
        """The data of events of the default type (``message``) that arrived at ``ts_ns``, in order: each
        read by the endpoint's fast reader when it is plain (what :meth:`_data` makes of it, for less),
        else by :meth:`_data`. One call for a read's events: no Python call per plain event but the
        reader's."""
        fast = self._fast
        for payload in payloads:
            if payload == b"[DONE]":
                self._done = True
                continue
            if fast is not None:
                read = fast(payload)
                if read is not None:
                    answer, finish_reason, usage = read
                    if usage:
                        self._usage = usage
                    if finish_reason:
                        self._finished = True
                    if answer:
                        self._chunk_ns.append(ts_ns)
                        if self._first_answer_ns is None:
                            self._first_answer_ns = ts_ns
                        self._answer.append(answer)
                    continue
            self._data(ts_ns, payload)

    def _data(self, ts_ns: int, payload: bytes) -> None:
        """One event's data, read the general way: decoded to a dict, then the endpoint's ``extract``."""
        try:
            try:
                obj = _msgspec_decode(payload)  # json_codec.loads inlined (its common case): one call less
            except DecodeError:
                obj = json_loads(payload)
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
        get = obj.get  # bound once: this method looks up up to four keys per event (hot path)
        choices = get("choices")
        if choices is None and "choices" not in obj and not (self._chunk_ns or self._usage or self._finished):
            # an event before the first output without choices: another API's, if its shape says so
            guess = likely_endpoint_type(obj) if get("error") is None and "usage" not in obj else None
            if guess is not None:
                raise StopResponse(other_dialect(obj, "a stream event of another API", payload))
        if get("error") is not None:
            if self._error is None:
                self._error = server_error(obj)
            return
        usage = get("usage")
        if usage:
            self._usage = usage
        try:
            answer, reasoning = _texts(self._extract(obj))
            if choices and choices[0].get("finish_reason"):
                self._finished = True
        except (KeyError, IndexError, TypeError, AttributeError):
            if self._error is None:
                self._error = RequestError(ERROR_MALFORMED, f"unexpected stream event: {payload[:80]!r}")
            return
        if answer or reasoning:
            self._chunk_ns.append(ts_ns)
            if reasoning:
                self._reasoning.append(reasoning)
            if answer:
                if self._first_answer_ns is None:
                    self._first_answer_ns = ts_ns
                self._answer.append(answer)

    def answer_text(self) -> str:
        """The answer text received so far, as streamed (reasoning apart): what a multi-turn session
        sends back as the assistant's reply in its next turn."""
        return "".join(self._answer)

    def finish(self, record: RequestRecord, tokenizer: Tokenizer | None) -> None:
        try:
            for event_ns, event_type, payload in self._sse.close():
                self._event(event_ns, event_type, payload)
            seen = sniff_json(self._head.strip()) if self._head else None
            if seen is not None:
                raise StopResponse(_not_sse(seen, "a whole JSON body where a stream was expected"))
        except StopResponse as stop:
            self._error = self._error or stop.error
        usage_error = record_stream(record, tokenizer, self._usage, self._chunk_ns, self._first_answer_ns,
                                    self._answer, self._reasoning)
        if self._error is not None:
            record.error = self._error
        elif usage_error is not None:
            record.error = usage_error
        elif not self._done and not self._finished:
            record.error = RequestError(
                ERROR_INCOMPLETE, "stream ended before any finish_reason and without 'data: [DONE]'"
            )
        elif self._require_output and not self._chunk_ns:
            record.error = RequestError(
                ERROR_EMPTY, "the stream carried no output (no content, reasoning or tool-call delta)"
            )


def _texts(texts: tuple[Any, Any]) -> tuple[str | None, str | None]:
    """An ``extract`` function's ``(answer, reasoning)``, each text or None; TypeError (the response's
    ``malformed_response``) for anything else a server put there, e.g. a number as ``text``."""
    answer, reasoning = texts
    _require_text(answer, "output text")
    _require_text(reasoning, "reasoning")
    return answer, reasoning


def _require_text(value: Any, what: str) -> None:
    """TypeError naming ``what`` unless ``value`` is text or None (read as the response's
    ``malformed_response``)."""
    if value is not None and value.__class__ is not str:
        raise TypeError(f"{what} is a {type(value).__name__}, not text")


def _not_sse(seen: tuple[Any, bytes], what: str) -> RequestError:
    """The error of a JSON body or line where SSE was expected: the server's own error when it is one,
    else ``malformed_response`` naming the likely endpoint type."""
    obj, line = seen
    if isinstance(obj, dict) and obj.get("error") is not None:
        return server_error(obj)
    return other_dialect(obj, what, line)


class JSONBodyParser:
    """A non-streamed JSON response: parsed once, when complete. With ``require_output`` (generating
    endpoints), a response without answer or reasoning text is ``empty_response``."""

    __slots__ = ("_answer", "_extract", "_parts", "_require_output")

    def __init__(self, extract: Extract, *, require_output: bool = False) -> None:
        self._extract = extract
        self._require_output = require_output
        self._parts: list[bytes] = []
        self._answer = ""

    def answer_text(self) -> str:
        """The response's answer text once :meth:`finish` has parsed it ("" before, or without one)."""
        return self._answer

    def feed(self, data: bytes, ts_ns: int) -> None:
        self._parts.append(data)

    def finish(self, record: RequestRecord, tokenizer: Tokenizer | None) -> None:
        body = b"".join(self._parts)
        try:
            obj = json_loads(body)
            if not isinstance(obj, dict):
                raise TypeError("not a JSON object")
            if obj.get("error") is not None:
                record.error = server_error(obj)
                return
            answer, reasoning = _texts(self._extract(obj))
            self._answer = answer or ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            record.error = RequestError(
                ERROR_MALFORMED, f"response body is not the expected JSON ({exc}): {body[:80]!r}"
            )
            return
        usage_error = record_body(record, tokenizer, obj.get("usage"), answer, reasoning)
        if usage_error is not None:
            record.error = usage_error
        elif self._require_output and not answer and not reasoning:
            record.error = RequestError(ERROR_EMPTY, "the response carried no output text")


def count_text(tokenizer: Tokenizer, text: str) -> int:
    """``tokenizer.count(text)`` of a response's text, which may hold surrogates: JSON can carry a lone
    ``\\ud800`` escape, and a server that escapes an emoji can split its pair across two stream events
    (each decodes to a lone surrogate; joined, a pair that UTF-8 cannot encode). Where the tokenizer
    refuses such text (``UnicodeError``; a Rust tokenizer's binding raises ``TypeError``), pairs are joined
    into their character and lone surrogates read as U+FFFD, and it counts that: the request keeps its
    measurements instead of becoming a client error. Any other failure is the tokenizer's, raised."""
    try:
        return tokenizer.count(text)
    except (UnicodeError, TypeError):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return tokenizer.count(text.encode("utf-16", "surrogatepass").decode("utf-16", "replace"))
        raise


def record_body(
    record: RequestRecord, tokenizer: Tokenizer | None, usage: Any, answer: str | None, reasoning: str | None
) -> RequestError | None:
    """Write what a whole (non-streamed) response carried into ``record``: usage, the client's counts of
    its answer and reasoning (none when the answer is None: a shape with no text), and the usage check.
    Returns the usage's ``malformed_response`` error, if any, for the caller to rank."""
    usage_error = apply_usage(record, usage)
    if tokenizer is not None and answer is not None:
        record.client_output_tokens = count_text(tokenizer, answer) if answer else 0
        if reasoning:
            record.client_reasoning_tokens = count_text(tokenizer, reasoning)
    check_usage(record, 1 if answer or reasoning else 0)
    return usage_error


def record_stream(
    record: RequestRecord,
    tokenizer: Tokenizer | None,
    usage: Any,
    chunk_ns: list[int],
    first_answer_ns: int | None,
    answer: list[str],
    reasoning: list[str],
) -> RequestError | None:
    """Write what a streamed response carried into ``record``: chunk times, first answer time, usage, the
    client's counts of the answer and reasoning parts, and the usage check against the chunks. Returns the
    usage's ``malformed_response`` error, if any, for the caller to rank against its own errors."""
    record.chunk_ns = chunk_ns
    record.first_answer_ns = first_answer_ns
    usage_error = apply_usage(record, usage)
    if tokenizer is not None:
        record.client_output_tokens = count_text(tokenizer, "".join(answer)) if answer else 0
        if reasoning:
            record.client_reasoning_tokens = count_text(tokenizer, "".join(reasoning))
    check_usage(record, len(chunk_ns))
    return usage_error


def error_from_body(status: int, body: bytes) -> RequestError:
    """An HTTP error record from a non-2xx status and (the start of) its body, whatever its shape."""
    try:
        obj = json.loads(body)
    except ValueError:
        message = body[:300].decode("utf-8", "replace").strip()
    else:
        message = server_message(obj)
    return RequestError(ERROR_HTTP, message or f"HTTP {status}", code=status)


def server_message(obj: Any) -> str:
    """The server's reason from a decoded error body of any common shape (at most 300 characters).

    Read in order: ``{"error": {"message"|"msg"|"detail": ...}}``, ``{"error": "..."}``,
    ``{"message": ...}``, FastAPI's ``{"detail": "..."}`` and ``{"detail": [{"loc", "msg"}, ...]}``,
    ``{"details": ...}``; anything else is shown as compact JSON.
    """
    if isinstance(obj, dict):
        for key in ("error", "message", "msg", "detail", "details"):
            value = obj.get(key)
            if value is None or value == "":
                continue
            if isinstance(value, str):
                return value[:300]
            if isinstance(value, list):
                return "; ".join(_detail_item(item) for item in value)[:300]
            if isinstance(value, dict) and key == "error":
                return server_message(value) or json.dumps(value)[:300]
            return json.dumps(value)[:300]
        return json.dumps(obj)[:300] if obj else ""
    if isinstance(obj, list):
        return "; ".join(_detail_item(item) for item in obj)[:300]
    return str(obj)[:300]


def _detail_item(item: Any) -> str:
    """One entry of a FastAPI/pydantic validation list: ``body.field: message``."""
    if isinstance(item, dict) and "msg" in item:
        loc = item.get("loc")
        where = ".".join(str(part) for part in loc) if isinstance(loc, list) else ""
        return f"{where}: {item['msg']}" if where else str(item["msg"])
    return server_message(item)


def server_error(obj: dict[str, Any]) -> RequestError:
    """The record error for an error object inside a 2xx response (a stream event or a JSON body)."""
    err = obj.get("error", obj)
    code = err.get("code") if isinstance(err, dict) else obj.get("code")
    return RequestError(
        ERROR_SERVER, server_message(obj) or "error", code=code if isinstance(code, int) else None
    )


def _stream_error(payload: bytes) -> RequestError:
    """An SSE ``event: error`` frame, whatever its data holds (JSON of any shape, or text)."""
    try:
        obj = json.loads(payload)
    except ValueError:
        text = payload[:300].decode("utf-8", "replace").strip()
        return RequestError(ERROR_SERVER, text or "the server sent an 'event: error' frame")
    if isinstance(obj, dict):
        return server_error(obj)
    return RequestError(ERROR_SERVER, server_message(obj) or "the server sent an 'event: error' frame")


_USAGE_FIELDS = (
    ("prompt_tokens", "usage_prompt_tokens"),
    ("completion_tokens", "usage_completion_tokens"),
    ("total_tokens", "usage_total_tokens"),
)


def apply_usage(record: RequestRecord, usage: Any) -> RequestError | None:
    """Copy a response's ``usage`` into the record; a value that is not a token count is the request's
    ``malformed_response`` error (returned, so the caller decides its precedence), never an exception."""
    if not usage:
        return None
    if not isinstance(usage, dict):
        return RequestError(ERROR_MALFORMED, f"usage is {_shown(usage)}, not an object")
    if len(usage) == 3:  # the common usage, the three counts only: no field list to build (hot path)
        prompt, completion, total = usage.get("prompt_tokens"), usage.get("completion_tokens"), \
            usage.get("total_tokens")
        if type(prompt) is int and type(completion) is int and type(total) is int \
                and prompt >= 0 and completion >= 0 and total >= 0:
            record.usage_prompt_tokens = prompt
            record.usage_completion_tokens = completion
            record.usage_total_tokens = total
            return None
    details = usage.get("completion_tokens_details") or {}
    prompt_details = usage.get("prompt_tokens_details") or {}
    fields = [(usage, key, attr) for key, attr in _USAGE_FIELDS]
    if isinstance(details, dict):
        fields.append((details, "reasoning_tokens", "usage_reasoning_tokens"))
    if isinstance(prompt_details, dict):
        # vLLM (with prefix caching) and OpenAI: the prompt tokens served from the prefix cache
        fields.append((prompt_details, "cached_tokens", "usage_cached_tokens"))
    for source, key, attr in fields:
        value = source.get(key)
        if value is None:
            continue
        if type(value) is not int or value < 0:
            name = key if source is usage else (
                f"prompt_tokens_details.{key}" if source is prompt_details
                else f"completion_tokens_details.{key}"
            )
            return RequestError(
                ERROR_MALFORMED, f"usage.{name} is {_shown(value)}, not a non-negative integer"
            )
        setattr(record, attr, value)
    return None


def _shown(value: Any) -> str:
    return f"{json.dumps(value)[:40]} ({type(value).__name__})"


def check_usage(record: RequestRecord, chunks: int) -> None:
    """Distrust ``usage.completion_tokens`` that contradicts the received output: zero, or fewer tokens
    than output chunks (each output chunk holds at least one token). Sets ``record.usage_note``; OSL then
    uses the client count. Gateways that estimate usage (or send zeros with ``include_usage`` off) are
    the usual cause."""
    reported = record.usage_completion_tokens
    if reported is None or not chunks or (reported >= chunks and reported > 0):
        return
    unit = "output chunks" if chunks > 1 else "output chunk"
    record.usage_note = (
        f"usage.completion_tokens = {reported} contradicts {chunks} {unit} received; using the client count"
    )


def content_text(content: Any) -> tuple[str | None, str | None]:
    """``(answer, reasoning)`` from a message/delta ``content``: a string, or a list of typed blocks
    (``{"type": "text", "text"}``; ``thinking``/``reasoning`` blocks are reasoning; others are ignored)."""
    if content is None or isinstance(content, str):
        return content, None
    if not isinstance(content, list):
        raise TypeError(f"content is a {type(content).__name__}")
    answer: list[str] = []
    reasoning: list[str] = []
    for block in content:
        if isinstance(block, str):
            answer.append(block)
            continue
        kind = block.get("type")
        if kind in ("thinking", "reasoning"):
            reasoning.append(block.get("thinking") or block.get("text") or "")
        elif kind in ("text", "output_text", None):
            answer.append(block.get("text") or "")
    return "".join(answer) or None, "".join(reasoning) or None


def reasoning_text(part: dict[str, Any]) -> str | None:
    """The reasoning text of a choice, message or delta: ``reasoning_content`` (vLLM, DeepSeek), else
    ``reasoning`` (newer vLLM, OpenRouter), an empty string counting as none; TypeError (the response's
    ``malformed_response``) when either holds something other than text or null."""
    content, other = part.get("reasoning_content"), part.get("reasoning")
    _require_text(content, "reasoning")
    _require_text(other, "reasoning")
    return content or other or None


def tool_call_text(tool_calls: Any) -> str | None:
    """The generated text of ``tool_calls`` entries (function name and argument fragments), or None."""
    if not tool_calls:
        return None
    parts: list[str] = []
    for call in tool_calls:
        function = call.get("function") or {}
        parts.append(function.get("name") or "")
        parts.append(function.get("arguments") or "")
    return "".join(parts) or None
