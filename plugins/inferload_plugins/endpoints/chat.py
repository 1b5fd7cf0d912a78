"""OpenAI ``/v1/chat/completions``: messages in, (streamed) deltas out, reasoning kept apart."""

from __future__ import annotations

from typing import Any

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
        return SSEJSONParser(_delta) if streaming else JSONBodyParser(_message, require_output=True)


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


def _message(obj: dict[str, Any]) -> tuple[str | None, str | None]:
    answer, reasoning = _output(obj["choices"][0]["message"])
    return answer or "", reasoning


def is_chat(obj: object) -> bool:
    """A chat completion or chunk: ``choices``, not a legacy ``text_completion``."""
    return isinstance(obj, dict) and "choices" in obj and obj.get("object") != "text_completion"
