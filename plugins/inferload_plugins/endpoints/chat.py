"""OpenAI ``/v1/chat/completions``: messages in, (streamed) deltas out, reasoning kept apart."""

from __future__ import annotations

from typing import Any

import msgspec

from inferload import hookimpl
from inferload.endpoint import JSONBodyParser, SSEJSONParser, content_text, tool_call_text
from inferload.types import EndpointSpec


@hookimpl
def register_endpoints() -> list[EndpointSpec]:
    return [
        EndpointSpec(
            name="chat",
            description="OpenAI chat completions (messages, streaming deltas)",
            path="/v1/chat/completions",
            streaming=True,
            produces_tokens=True,
            factory=ChatAdapter,
            recognise=is_chat,
        )
    ]


class ChatAdapter:
    """Renders ``messages`` bodies (standard OpenAI fields only unless ``--ignore-eos``/``--extra-inputs``
    add others); reads ``delta.content`` (text or typed blocks) and ``tool_calls`` as output, apart from
    ``reasoning_content``/``reasoning``."""

    def render(self, conversation: Any, config: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": config.model,
            "messages": conversation.chat_messages(),
            "stream": bool(config.streaming),
        }
        if conversation.max_output_tokens is not None:
            # max_tokens by default: every server we target honours it, and several silently ignore
            # max_completion_tokens (docs/profile.md, "Output length")
            field = "max_tokens" if config.use_legacy_max_tokens else "max_completion_tokens"
            body[field] = conversation.max_output_tokens
        if config.ignore_eos:
            body["ignore_eos"] = True
        if config.streaming:
            body["stream_options"] = {"include_usage": True}
        body.update(config.extra_body)
        return body

    def parser(self, streaming: bool) -> Any:
        if streaming:
            return SSEJSONParser(_delta, fast=_plain_event)
        return JSONBodyParser(_message, require_output=True)


def _output(part: dict[str, Any]) -> tuple[str | None, str | None]:
    """(answer, reasoning) of a ``delta`` or ``message``: text or typed-block content, tool-call names and
    argument fragments (output, as in AIPerf), and ``reasoning_content``/``reasoning`` kept apart."""
    content = part.get("content")
    if content.__class__ is str and len(part) == 1:  # a delta of text alone (most of a stream): done
        return content, None
    if content is None or content.__class__ is str:  # the common delta: no call for it
        answer, reasoning = content, None
    else:
        answer, reasoning = content_text(content)
    tool_calls = part.get("tool_calls")
    if tool_calls:
        answer = (answer or "") + (tool_call_text(tool_calls) or "")
    return answer, reasoning or part.get("reasoning_content") or part.get("reasoning")


def _delta(obj: dict[str, Any]) -> tuple[str | None, str | None]:
    choices = obj.get("choices")
    if not choices:
        return None, None  # e.g. the final usage-only event
    delta = choices[0].get("delta") or {}
    content = delta.get("content")
    if content.__class__ is str and len(delta) == 1:
        # _output's first case, inlined: a delta of text alone (most of a stream) costs no second call
        return content, None
    return _output(delta)


class _PlainDelta(msgspec.Struct, gc=False):
    """The fields of a ``delta`` that make output; any other field (``role``, ...) is not read."""

    content: str | None = None
    tool_calls: Any = None
    reasoning_content: Any = None
    reasoning: Any = None


class _PlainChoice(msgspec.Struct, gc=False):
    delta: _PlainDelta | None = None
    finish_reason: Any = None


class _PlainEvent(msgspec.Struct, gc=False):
    """A chat stream event as :func:`_plain_event` reads it: ``choices`` required, ``id``, ``model``,
    ``created``, ``logprobs``, ... skipped by the decoder without being built."""

    choices: list[_PlainChoice]
    error: Any = None
    usage: Any = None


_decode_plain = msgspec.json.Decoder(_PlainEvent).decode


def _plain_event(data: bytes) -> tuple[str | None, Any, Any] | None:
    """The stream parser's ``fast`` reader (``inferload.endpoint.FastRead``) of a plain chat event: one
    first choice whose delta is text (or nothing) and no reasoning or tool call, or no choice and
    ``usage``; None for anything else (another shape, an ``error``, reasoning, tool calls, typed content
    blocks, JSON msgspec refuses), which ``_delta`` then reads from the event's dict. About half the CPU
    of that path for a content event (0.82 -> 0.39 µs for the client bench's, 1.10 -> 0.49 for one with
    vLLM's ``id``/``object``/``created``/``model``/``logprobs``; timeit, commit message)."""
    try:
        event = _decode_plain(data)
    except msgspec.DecodeError:  # ValidationError included: not of this shape
        return None
    if event.error is not None:
        return None
    choices = event.choices
    if not choices:
        return None, None, event.usage
    choice = choices[0]  # as _delta reads it; the others were checked for shape only
    delta = choice.delta
    if delta is None or delta.tool_calls is not None or delta.reasoning_content is not None \
            or delta.reasoning is not None:
        return None
    return delta.content, choice.finish_reason, event.usage


def _message(obj: dict[str, Any]) -> tuple[str | None, str | None]:
    answer, reasoning = _output(obj["choices"][0]["message"])
    return answer or "", reasoning


def is_chat(obj: object) -> bool:
    """A chat completion or chunk: ``choices``, not a legacy ``text_completion``."""
    return isinstance(obj, dict) and "choices" in obj and obj.get("object") != "text_completion"
