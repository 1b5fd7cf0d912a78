"""OpenAI Responses (``POST /v1/responses``): the endpoint adapter and the simulator's route for it.

A stream is SSE with a ``type`` in every event's data (``event:`` lines optional: ``transformers serve``
sends none, and no ``[DONE]``): ``response.created``, ``response.output_item.added``, …,
``response.output_text.delta`` (the answer), ``response.reasoning_text.delta`` /
``response.reasoning_summary_text.delta`` (reasoning, timed apart), ``response.completed`` (or
``response.incomplete``, e.g. at ``max_output_tokens``) with ``usage``; ``response.failed`` and ``error``
end the request as ``server_error``.
"""

from __future__ import annotations

import json
from typing import Any

from inferload import hookimpl
from inferload.simulated import SimulatedOutput, SimulatedRequest, SimulatedRequestError
from inferload.types import EndpointSpec, SimulatorRouteSpec

from .event_stream import DialectBodyParser, EventStreamParser, OtherDialect, unknown_event

NAME = "responses"
PATH = "/v1/responses"

_ANSWER = frozenset({"response.output_text.delta", "response.refusal.delta",
                     "response.function_call_arguments.delta", "response.custom_tool_call_input.delta"})
_REASONING = frozenset({"response.reasoning_text.delta", "response.reasoning_summary_text.delta",
                        "response.reasoning.delta", "response.reasoning_summary.delta"})
_END = frozenset({"response.completed", "response.incomplete"})


@hookimpl
def register_endpoints() -> list[EndpointSpec]:
    return [
        EndpointSpec(
            name=NAME,
            description="OpenAI Responses /v1/responses (typed events, reasoning apart)",
            path=PATH,
            streaming=True,
            produces_tokens=True,
            factory=ResponsesAdapter,
            recognise=is_responses,
        )
    ]


@hookimpl
def register_simulator_routes() -> list[SimulatorRouteSpec]:
    return [
        SimulatorRouteSpec(
            name=NAME,
            description="POST /v1/responses in the OpenAI Responses dialect",
            path=PATH,
            parse=parse_request,
            render=SimulatedResponseEvents,
        )
    ]


# -- the adapter ---------------------------------------------------------------------------------------


class ResponsesAdapter:
    """Renders ``{"model", "input": [messages], "stream", "max_output_tokens"?}`` (``stream`` always sent:
    some servers default it to true); reads output-text deltas as the answer, reasoning deltas apart."""

    def render(self, conversation: Any, config: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": config.model,
            "input": conversation.chat_messages(),
            "stream": bool(config.streaming),
        }
        if conversation.max_output_tokens is not None:
            body["max_output_tokens"] = conversation.max_output_tokens
        if config.ignore_eos:
            body["ignore_eos"] = True
        body.update(config.extra_body)
        return body

    def parser(self, streaming: bool) -> Any:
        if streaming:
            return ResponsesStreamParser()
        return DialectBodyParser(read_response, is_error=_is_error)


def _is_error(obj: dict[str, Any]) -> bool:
    return obj.get("error") is not None or obj.get("status") == "failed"


def usage_of(usage: Any) -> dict[str, Any]:
    """Responses usage (``input_tokens``, ``output_tokens``, ``total_tokens``,
    ``output_tokens_details.reasoning_tokens``) in OpenAI chat's names."""
    if not usage:
        return {}
    if not isinstance(usage, dict):
        raise TypeError("usage is not an object")
    out: dict[str, Any] = {}
    for source, target in (("input_tokens", "prompt_tokens"), ("output_tokens", "completion_tokens"),
                           ("total_tokens", "total_tokens")):
        if usage.get(source) is not None:
            out[target] = usage[source]
    details = usage.get("output_tokens_details")
    if isinstance(details, dict) and details.get("reasoning_tokens") is not None:
        out["completion_tokens_details"] = {"reasoning_tokens": details["reasoning_tokens"]}
    return out


class ResponsesStreamParser(EventStreamParser):
    """One Responses stream; it succeeds at ``response.completed`` or ``response.incomplete``."""

    end_hint = "'response.completed'"

    def on_event(self, ts_ns: int, event_type: str, obj: dict[str, Any], payload: bytes) -> None:
        kind = obj.get("type") or event_type
        if kind in _ANSWER:
            self.output(ts_ns, obj["delta"], None)
        elif kind in _REASONING:
            self.output(ts_ns, None, obj["delta"])
        elif kind in _END:
            self.finished = True
            self.usage = usage_of(obj["response"].get("usage"))
        elif kind == "response.failed":
            response = obj.get("response") or {}
            self.server_error(response.get("error") or {"message": "response.failed"})
        elif kind == "error":
            self.server_error(obj)
        elif not isinstance(kind, str) or not kind.startswith("response."):
            raise unknown_event(obj, "Responses", kind, payload)


def read_response(obj: Any) -> tuple[str, str | None, dict[str, Any]]:
    """``(answer, reasoning, usage)`` of a whole ``{"object": "response"}`` body."""
    if not isinstance(obj, dict) or obj.get("object") != "response":
        raise OtherDialect
    answer: list[str] = []
    reasoning: list[str] = []
    for item in obj["output"]:
        kind = item.get("type")
        if kind == "message":
            answer.extend(part.get("text") or part.get("refusal") or "" for part in item["content"])
        elif kind == "reasoning":
            parts = (item.get("content") or []) + (item.get("summary") or [])
            reasoning.extend(part.get("text") or "" for part in parts)
        elif kind == "function_call":
            answer.append(item.get("name", "") + item.get("arguments", ""))
    return "".join(answer), "".join(reasoning) or None, usage_of(obj.get("usage"))


# -- the simulator's route -----------------------------------------------------------------------------


def parse_request(body: dict[str, Any]) -> SimulatedRequest:
    """A Responses request: ``input`` is a string or a list of messages / input items. ``stream``
    defaults to false, as on OpenAI."""
    raw = body.get("input")
    if isinstance(raw, str):
        texts = [raw]
    elif isinstance(raw, list) and raw:
        texts = [_item_text(item) for item in raw]
    else:
        raise SimulatedRequestError(400, "'input' must be a string or a non-empty list", param="input")
    if body.get("instructions"):
        texts.insert(0, str(body["instructions"]))
    max_tokens = body.get("max_output_tokens")
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int)
                                   or max_tokens < 1):
        raise SimulatedRequestError(400, "'max_output_tokens' must be an integer >= 1",
                                    param="max_output_tokens")
    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        raise SimulatedRequestError(400, "'stream' must be true or false", param="stream")
    return SimulatedRequest(prompt=tuple(texts), model=body.get("model"), max_tokens=max_tokens,
                            stream=stream, ignore_eos=body.get("ignore_eos") is True)


def _item_text(item: Any) -> str:
    if isinstance(item, str):
        return item
    if not isinstance(item, dict):
        raise SimulatedRequestError(400, "each 'input' item must be an object", param="input")
    content = item.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _event(data: dict[str, Any]) -> bytes:
    return b"event: " + data["type"].encode() + b"\ndata: " + json.dumps(data).encode() + b"\n\n"


class SimulatedResponseEvents:
    """The simulator's Responses answer: a reasoning item for reasoning tokens, then a message item."""

    def __init__(self, output: SimulatedOutput, request: SimulatedRequest) -> None:
        self.out = output
        self.seq = 0

    def _next(self, kind: str, **data: Any) -> bytes:
        self.seq += 1
        return _event({"type": kind, "sequence_number": self.seq, **data})

    def _response(self, status: str, output: list[dict[str, Any]], usage: bool) -> dict[str, Any]:
        out = self.out
        response: dict[str, Any] = {"id": out.id, "object": "response", "created_at": out.created,
                                    "status": status, "model": out.model, "output": output, "usage": None}
        if status == "incomplete":
            response["incomplete_details"] = {"reason": "max_output_tokens"}
        if usage:
            response["usage"] = {
                "input_tokens": out.prompt_tokens, "output_tokens": out.output_tokens,
                "total_tokens": out.prompt_tokens + out.output_tokens,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens_details": {"reasoning_tokens": out.reasoning_tokens},
            }
        return response

    def _items(self) -> list[dict[str, Any]]:
        out = self.out
        items: list[dict[str, Any]] = []
        if out.reasoning_tokens:
            items.append({"id": f"rs_{out.id}", "type": "reasoning", "summary": [],
                          "content": [{"type": "reasoning_text", "text": out.reasoning}]})
        items.append({"id": f"msg_{out.id}", "type": "message", "role": "assistant", "status": "completed",
                      "content": [{"type": "output_text", "text": out.answer, "annotations": []}]})
        return items

    def opening(self) -> bytes:
        return (self._next("response.created", response=self._response("in_progress", [], False))
                + self._next("response.in_progress", response=self._response("in_progress", [], False)))

    def tokens(self, start: int, end: int) -> bytes:
        out = self.out
        split = out.reasoning_tokens
        parts: list[bytes] = []
        answer_index = 1 if split else 0
        if start < split:
            if start == 0:
                parts.append(self._next("response.output_item.added", output_index=0, item={
                    "id": f"rs_{out.id}", "type": "reasoning", "summary": [], "content": []}))
            parts.append(self._next("response.reasoning_text.delta", item_id=f"rs_{out.id}", output_index=0,
                                    content_index=0, delta=out.text(start, min(end, split))))
        if end > split:
            lo = max(start, split)
            item_id = f"msg_{out.id}"
            if lo == split:
                parts.append(self._next("response.output_item.added", output_index=answer_index, item={
                    "id": item_id, "type": "message", "role": "assistant", "status": "in_progress",
                    "content": []}))
                parts.append(self._next("response.content_part.added", item_id=item_id,
                                        output_index=answer_index, content_index=0,
                                        part={"type": "output_text", "text": "", "annotations": []}))
            parts.append(self._next("response.output_text.delta", item_id=item_id, output_index=answer_index,
                                    content_index=0, delta=out.text(lo, end), logprobs=[]))
        return b"".join(parts)

    def closing(self) -> bytes:
        status = "incomplete" if self.out.finish_reason == "length" else "completed"
        kind = "response.incomplete" if status == "incomplete" else "response.completed"
        done = self._next("response.output_text.done", item_id=f"msg_{self.out.id}",
                          output_index=1 if self.out.reasoning_tokens else 0, content_index=0,
                          text=self.out.answer)
        return done + self._next(kind, response=self._response(status, self._items(), True))

    def malformed(self) -> bytes:
        return b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","del\n\n'

    def body(self) -> bytes:
        status = "incomplete" if self.out.finish_reason == "length" else "completed"
        return json.dumps(self._response(status, self._items(), True)).encode()


def is_responses(obj: Any) -> bool:
    """A Responses event (``response.*``) or a whole ``{"object": "response"}`` body."""
    if not isinstance(obj, dict):
        return False
    kind = obj.get("type")
    return obj.get("object") == "response" or (isinstance(kind, str) and kind.startswith("response."))
