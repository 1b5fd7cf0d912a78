"""Anthropic Messages (``POST /v1/messages``): the endpoint adapter and the simulator's route for it.

Requests carry ``x-api-key`` (from ``--api-key``) and ``anthropic-version``; ``max_tokens`` is required
by the API (``--osl``, else :data:`inferload.dataset.DEFAULT_OUTPUT_TOKENS`, the length every other
endpoint type gets by default on the simulator). A stream is ``message_start``, per content block
``content_block_start`` / ``content_block_delta`` (``text_delta``, ``thinking_delta``) /
``content_block_stop``, ``message_delta`` (stop reason, output usage), ``message_stop``; ``ping`` may come
anywhere and ``error`` ends the request as ``server_error``.
"""

from __future__ import annotations

import json
from typing import Any

from inferload import hookimpl
from inferload.dataset import DEFAULT_OUTPUT_TOKENS
from inferload.simulated import SimulatedOutput, SimulatedRequest, SimulatedRequestError
from inferload.types import EndpointSpec, SimulatorRouteSpec

from .event_stream import DialectBodyParser, EventStreamParser, OtherDialect, unexpected, unknown_event

NAME = "anthropic_messages"
PATH = "/v1/messages"
ANTHROPIC_VERSION = "2023-06-01"

_BLOCK_DELTAS = {"text_delta": "text", "thinking_delta": "thinking"}
_IGNORED = frozenset({"ping", "content_block_start", "content_block_stop", "signature_delta"})


@hookimpl
def register_endpoints() -> list[EndpointSpec]:
    return [
        EndpointSpec(
            name=NAME,
            description="Anthropic Messages /v1/messages (x-api-key, typed stream events, thinking)",
            path=PATH,
            streaming=True,
            produces_tokens=True,
            factory=AnthropicMessagesAdapter,
            recognise=is_messages,
            headers={"anthropic-version": ANTHROPIC_VERSION},
            auth_headers=lambda key: {"x-api-key": key},
        )
    ]


@hookimpl
def register_simulator_routes() -> list[SimulatorRouteSpec]:
    return [
        SimulatorRouteSpec(
            name=NAME,
            description="POST /v1/messages in the Anthropic Messages dialect",
            path=PATH,
            parse=parse_request,
            render=SimulatedMessage,
            error_body=error_body,
        )
    ]


# -- the adapter ---------------------------------------------------------------------------------------


class AnthropicMessagesAdapter:
    """Renders ``{"model", "max_tokens", "messages", "system"?, "stream"}``; reads text deltas as the
    answer and thinking deltas as reasoning; usage from ``message_start`` and ``message_delta``."""

    def render(self, conversation: Any, config: Any) -> dict[str, Any]:
        messages = conversation.chat_messages()
        system = [m["content"] for m in messages if m.get("role") == "system"]
        body: dict[str, Any] = {
            "model": config.model,
            "max_tokens": conversation.max_output_tokens or DEFAULT_OUTPUT_TOKENS,
            "messages": [m for m in messages if m.get("role") != "system"],
            "stream": bool(config.streaming),
        }
        if system:
            body["system"] = "\n".join(str(part) for part in system)
        if config.ignore_eos:
            body["ignore_eos"] = True
        body.update(config.extra_body)
        return body

    def parser(self, streaming: bool) -> Any:
        if streaming:
            return MessagesStreamParser()
        return DialectBodyParser(read_message, is_error=lambda obj: obj.get("type") == "error")


def _usage(usage: dict[str, Any], into: dict[str, Any]) -> dict[str, Any]:
    """Anthropic usage (``input_tokens``, ``output_tokens``, cache counts) in OpenAI's names."""
    if not isinstance(usage, dict):
        raise TypeError("usage is not an object")
    prompt = usage.get("input_tokens")
    if prompt is not None:
        cached = sum(usage.get(k) or 0 for k in ("cache_read_input_tokens", "cache_creation_input_tokens"))
        into["prompt_tokens"] = prompt + cached if isinstance(prompt, int) else prompt
    if usage.get("output_tokens") is not None:
        into["completion_tokens"] = usage["output_tokens"]
    if isinstance(into.get("prompt_tokens"), int) and isinstance(into.get("completion_tokens"), int):
        into["total_tokens"] = into["prompt_tokens"] + into["completion_tokens"]
    return into


class MessagesStreamParser(EventStreamParser):
    """One Messages stream; it succeeds at ``message_stop``."""

    end_hint = "'message_stop'"

    def on_event(self, ts_ns: int, event_type: str, obj: dict[str, Any], payload: bytes) -> None:
        kind = obj.get("type") or event_type
        if kind == "content_block_delta":
            delta = obj["delta"]
            field = _BLOCK_DELTAS.get(delta.get("type"))
            if field == "text":
                self.output(ts_ns, delta["text"], None)
            elif field == "thinking":
                self.output(ts_ns, None, delta["thinking"])
            elif delta.get("type") == "input_json_delta":
                self.output(ts_ns, delta.get("partial_json"), None)  # tool input is generated output
            elif delta.get("type") not in _IGNORED:
                raise unexpected(obj, "unknown content_block_delta type", payload)
        elif kind == "message_start":
            self.usage = _usage(obj["message"].get("usage") or {}, {})
        elif kind == "message_delta":
            self.usage = _usage(obj.get("usage") or {}, self.usage or {})
        elif kind == "message_stop":
            self.finished = True
        elif kind == "error":
            self.server_error(obj)
        elif kind not in _IGNORED:
            raise unknown_event(obj, "Messages", kind, payload)


def read_message(obj: Any) -> tuple[str, str | None, dict[str, Any]]:
    """``(answer, reasoning, usage)`` of a whole ``{"type": "message"}`` response."""
    if not isinstance(obj, dict) or obj.get("type") != "message":
        raise OtherDialect
    answer: list[str] = []
    reasoning: list[str] = []
    for block in obj["content"]:
        if block.get("type") == "text":
            answer.append(block["text"])
        elif block.get("type") == "thinking":
            reasoning.append(block["thinking"])
        elif block.get("type") == "tool_use":
            answer.append(json.dumps(block.get("input"), separators=(",", ":")))
    return "".join(answer), "".join(reasoning) or None, _usage(obj.get("usage") or {}, {})


# -- the simulator's route -----------------------------------------------------------------------------


def parse_request(body: dict[str, Any]) -> SimulatedRequest:
    """A Messages request as the API validates it: ``max_tokens`` and ``messages`` are required."""
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise SimulatedRequestError(400, "max_tokens: Field required (an integer >= 1)", param="max_tokens")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise SimulatedRequestError(400, "messages: Field required (a non-empty list)", param="messages")
    texts = [_text(body["system"])] if body.get("system") else []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise SimulatedRequestError(400, f"messages.{i}.role: Input should be 'user' or 'assistant'")
        texts.append(_text(message.get("content")))
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise SimulatedRequestError(400, "stream: Input should be a valid boolean", param="stream")
    thinking = body.get("thinking")
    return SimulatedRequest(
        prompt=tuple(texts), model=body.get("model"), max_tokens=max_tokens, stream=stream,
        ignore_eos=body.get("ignore_eos") is True,
        reasoning=not (isinstance(thinking, dict) and thinking.get("type") == "disabled"),
    )


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    raise SimulatedRequestError(400, "content: Input should be a string or a list of content blocks")


def error_body(status: int, message: str) -> bytes:
    """Anthropic's error shape: ``{"type": "error", "error": {"type", "message"}}``."""
    kind = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
            429: "rate_limit_error", 503: "overloaded_error"}.get(status, "api_error")
    return json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + json.dumps({"type": kind, **data}).encode() + b"\n\n"


_STOP = {"stop": "end_turn", "length": "max_tokens"}


class SimulatedMessage:
    """The simulator's Messages answer: a thinking block for reasoning tokens, then a text block."""

    def __init__(self, output: SimulatedOutput, request: SimulatedRequest) -> None:
        self.out = output

    def _usage(self) -> dict[str, int]:
        return {"input_tokens": self.out.prompt_tokens, "output_tokens": self.out.output_tokens}

    def opening(self) -> bytes:
        out = self.out
        message = {"id": out.id, "type": "message", "role": "assistant", "model": out.model, "content": [],
                   "stop_reason": None, "stop_sequence": None,
                   "usage": {"input_tokens": out.prompt_tokens, "output_tokens": 0}}
        return _event("message_start", {"message": message})

    def _block(self, index: int) -> tuple[bytes, bytes]:
        thinking = index == 0 and self.out.reasoning_tokens > 0
        block = {"type": "thinking", "thinking": ""} if thinking else {"type": "text", "text": ""}
        start = _event("content_block_start", {"index": index, "content_block": block})
        return start, _event("content_block_stop", {"index": index})

    def tokens(self, start: int, end: int) -> bytes:
        split = self.out.reasoning_tokens
        parts: list[bytes] = []
        text_index = 1 if split else 0
        for lo, hi, thinking in ((start, min(end, split), True), (max(start, split), end, False)):
            if lo >= hi:
                continue
            index = 0 if thinking else text_index
            if lo == (0 if thinking else split):
                if not thinking and split:
                    parts.append(self._block(0)[1])
                parts.append(self._block(index)[0])
            delta = ({"type": "thinking_delta", "thinking": self.out.text(lo, hi)} if thinking
                     else {"type": "text_delta", "text": self.out.text(lo, hi)})
            parts.append(_event("content_block_delta", {"index": index, "delta": delta}))
        return b"".join(parts)

    def closing(self) -> bytes:
        out = self.out
        index = 1 if out.reasoning_tokens and out.output_tokens > out.reasoning_tokens else 0
        stop = _event("content_block_stop", {"index": index}) if out.output_tokens else b""
        return (stop + _event("message_delta", {
            "delta": {"stop_reason": _STOP.get(out.finish_reason, "end_turn"), "stop_sequence": None},
            "usage": {"output_tokens": out.output_tokens}})
            + _event("message_stop", {}))

    def malformed(self) -> bytes:
        return b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"tr\n\n'

    def body(self) -> bytes:
        out = self.out
        content: list[dict[str, Any]] = []
        if out.reasoning_tokens:
            content.append({"type": "thinking", "thinking": out.reasoning, "signature": ""})
        content.append({"type": "text", "text": out.answer})
        return json.dumps({"id": out.id, "type": "message", "role": "assistant", "model": out.model,
                           "content": content, "stop_reason": _STOP.get(out.finish_reason, "end_turn"),
                           "stop_sequence": None, "usage": self._usage()}).encode()


def is_messages(obj: Any) -> bool:
    """A Messages event (``message_*``, ``content_block_*``) or a whole ``{"type": "message"}`` body."""
    kind = obj.get("type") if isinstance(obj, dict) else None
    return isinstance(kind, str) and (kind == "message" or kind.startswith(("message_", "content_block_")))
