"""OpenAI ``/v1/chat/completions``: messages in, (streamed) deltas out, reasoning kept apart."""

from __future__ import annotations

from typing import Any

import msgspec

from inferload import hookimpl
from inferload.endpoint import (
    JSONBodyParser,
    SSEJSONParser,
    content_text,
    plain_event_reader,
    reasoning_text,
    tool_call_text,
)
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
    return answer, reasoning or reasoning_text(part)


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
    """A ``delta`` of text (or nothing) alone: anything in a field typed None makes the decoder refuse the
    event (``_delta`` then reads it); other fields (``role``, ...) are not read."""

    content: str | None = None
    tool_calls: None = None
    reasoning_content: None = None
    reasoning: None = None


class _PlainChoice(msgspec.Struct, gc=False):
    """A choice as the fast reader takes it: an absent ``delta`` reads as an empty one, as ``_delta``
    reads it (a null one is refused: ``_delta`` reads the event)."""

    delta: _PlainDelta = msgspec.field(default_factory=_PlainDelta)
    finish_reason: Any = None


_plain_event = plain_event_reader(_PlainChoice, "delta.content")
"""The stream parser's ``fast`` reader of a plain chat event (``inferload.endpoint.FastRead``): one whose
first choice's delta is text (or nothing), with no reasoning or tool call."""


def _message(obj: dict[str, Any]) -> tuple[str | None, str | None]:
    answer, reasoning = _output(obj["choices"][0]["message"])
    return answer or "", reasoning


def is_chat(obj: object) -> bool:
    """A chat completion or chunk: ``choices``, not a legacy ``text_completion``."""
    return isinstance(obj, dict) and "choices" in obj and obj.get("object") != "text_completion"
