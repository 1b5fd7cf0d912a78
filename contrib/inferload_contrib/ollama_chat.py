"""Ollama's native chat API (``POST /api/chat``): the endpoint adapter, the server-reported durations as
metrics, and the simulator's route for it.

A body is ``{"model", "messages", "stream", "options": {"num_predict"}}`` (``stream`` is always sent:
Ollama defaults it to true). A stream is newline-delimited JSON, one object per line:
``{"message": {"role", "content", "thinking"?}, "done": false}``, then a final ``"done": true`` object with
``done_reason``, ``prompt_eval_count``, ``eval_count`` and the server's durations in ns
(``total_duration``, ``load_duration``, ``prompt_eval_duration``, ``eval_duration``). An ``{"error"}``
object fails the request.
"""

from __future__ import annotations

import json
import time
from typing import Any

from inferload import hookimpl
from inferload.simulated import SimulatedOutput, SimulatedRequest, SimulatedRequestError
from inferload.types import EndpointSpec, MetricSpec, SimulatorRouteSpec

from .event_stream import DialectBodyParser, EventStreamParser, OtherDialect, unexpected

NAME = "ollama_chat"
PATH = "/api/chat"
TAGS_PATH = "/api/tags"
DURATIONS = ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration")
"""Ollama's per-request durations (ns on the wire), kept in ``RequestRecord.server_timing_ms``."""


@hookimpl
def register_endpoints() -> list[EndpointSpec]:
    return [
        EndpointSpec(
            name=NAME,
            description="Ollama /api/chat (NDJSON stream, eval counts and server durations)",
            path=PATH,
            streaming=True,
            produces_tokens=True,
            factory=OllamaChatAdapter,
            recognise=is_ollama_chat,
            models_path=TAGS_PATH,
        )
    ]


@hookimpl
def register_metrics() -> list[MetricSpec]:
    headers = {"total_duration": "Server Total Duration", "load_duration": "Server Load Duration",
               "prompt_eval_duration": "Server Prompt Eval Duration",
               "eval_duration": "Server Eval Duration"}
    return [
        MetricSpec(name=f"server_{name}", description=f"Ollama's {name} for the request, in ms",
                   header=headers[name], unit="ms", kind="record", compute=_timing(name),
                   display_order=900 + i)
        for i, name in enumerate(DURATIONS)
    ]


def _timing(name: str) -> Any:
    def compute(record: Any) -> float | None:
        timing = record.server_timing_ms
        return None if timing is None else timing.get(name)

    return compute


@hookimpl
def register_simulator_routes() -> list[SimulatorRouteSpec]:
    return [
        SimulatorRouteSpec(name=NAME, description="POST /api/chat in Ollama's native dialect (NDJSON)",
                           path=PATH, parse=parse_request, render=SimulatedChat, error_body=error_body,
                           stream_content_type="application/x-ndjson", models_path=TAGS_PATH,
                           models_body=tags_body)
    ]


def tags_body(model: str) -> bytes:
    """``GET /api/tags``: Ollama's list of local models (``name`` and ``model`` each)."""
    return json.dumps({"models": [{"name": model, "model": model, "size": 0, "digest": "",
                                   "details": {"format": "gguf"}}]}).encode()


# -- the adapter ---------------------------------------------------------------------------------------


class OllamaChatAdapter:
    """Renders ``{"model", "messages", "stream", "options": {"num_predict"?}}``; reads ``message.content``
    as the answer and ``message.thinking`` as reasoning; ``prompt_eval_count``/``eval_count`` as usage."""

    def render(self, conversation: Any, config: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"model": config.model, "messages": conversation.chat_messages(),
                                "stream": bool(config.streaming)}
        options: dict[str, Any] = {}
        if conversation.max_output_tokens is not None:
            options["num_predict"] = conversation.max_output_tokens
        extra = dict(config.extra_body)
        options.update(extra.pop("options", None) or {})
        if options:
            body["options"] = options
        body.update(extra)
        return body

    def parser(self, streaming: bool) -> Any:
        if streaming:
            return ChatStreamParser()
        return _TimedBodyParser(read_chat, is_error=lambda obj: obj.get("error") is not None)


def _final(obj: dict[str, Any]) -> tuple[dict[str, Any], dict[str, float]]:
    """Usage in OpenAI's names and the server's durations in ms, from a ``done`` object."""
    usage: dict[str, Any] = {}
    if obj.get("prompt_eval_count") is not None:
        usage["prompt_tokens"] = obj["prompt_eval_count"]
    if obj.get("eval_count") is not None:
        usage["completion_tokens"] = obj["eval_count"]
    timing = {name: obj[name] / 1e6 for name in DURATIONS if isinstance(obj.get(name), (int, float))}
    return usage, timing


class ChatStreamParser(EventStreamParser):
    """One NDJSON chat stream; it succeeds at the ``"done": true`` object."""

    end_hint = "the final '\"done\": true' object"
    ndjson = True

    def __init__(self) -> None:
        super().__init__()
        self.timing: dict[str, float] | None = None

    def on_event(self, ts_ns: int, event_type: str, obj: dict[str, Any], payload: bytes) -> None:
        if obj.get("error") is not None:
            self.server_error(obj)
            return
        message = obj.get("message")
        if not isinstance(message, dict) or "done" not in obj:
            raise unexpected(obj, "an NDJSON line that is not an Ollama chat object", payload)
            return
        self.output(ts_ns, message.get("content"), message.get("thinking"))
        if obj["done"]:
            self.finished = True
            self.usage, self.timing = _final(obj)

    def finish(self, record: Any, tokenizer: Any) -> None:
        super().finish(record, tokenizer)
        record.server_timing_ms = self.timing or None


def read_chat(obj: Any) -> tuple[str, str | None, dict[str, Any]]:
    """``(content, thinking, usage)`` of a whole ``/api/chat`` answer."""
    if not isinstance(obj, dict) or not isinstance(obj.get("message"), dict) or "done" not in obj:
        raise OtherDialect
    message = obj["message"]
    return message.get("content") or "", message.get("thinking") or None, _final(obj)[0]


class _TimedBodyParser(DialectBodyParser):
    """A whole answer, with the server's durations kept too."""

    def finish(self, record: Any, tokenizer: Any) -> None:
        super().finish(record, tokenizer)
        try:
            obj = json.loads(b"".join(self._parts))
        except ValueError:
            return
        if isinstance(obj, dict):
            record.server_timing_ms = _final(obj)[1] or None


# -- the simulator's route -----------------------------------------------------------------------------


def parse_request(body: dict[str, Any]) -> SimulatedRequest:
    """An Ollama chat request: ``model`` and ``messages`` required; ``stream`` defaults to true."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise SimulatedRequestError(400, "model is required", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise SimulatedRequestError(400, "messages must be a list", param="messages")
    texts = [str(m.get("content") or "") for m in messages if isinstance(m, dict)]
    options = body.get("options") or {}
    num_predict = options.get("num_predict") if isinstance(options, dict) else None
    if num_predict is not None and (not isinstance(num_predict, int) or isinstance(num_predict, bool)):
        raise SimulatedRequestError(400, "options.num_predict must be an integer", param="num_predict")
    stream = body.get("stream", True)
    return SimulatedRequest(prompt=tuple(texts), model=body["model"],
                            max_tokens=num_predict if num_predict and num_predict > 0 else None,
                            stream=bool(stream), reasoning=body.get("think") is not False)


def error_body(status: int, message: str) -> bytes:
    """Ollama's error shape: ``{"error": "..."}``."""
    return json.dumps({"error": message}).encode()


class SimulatedChat:
    """The simulator's Ollama answer. Durations come from the simulator's own clock: ``total_duration``
    from receipt to the final line (as Ollama measures it); the prompt/eval split is not modelled, so
    only ``total_duration`` is sent (plus ``load_duration`` 0: the model is always loaded)."""

    def __init__(self, output: SimulatedOutput, request: SimulatedRequest) -> None:
        self.out = output
        self._start = time.monotonic_ns()

    def _line(self, obj: dict[str, Any]) -> bytes:
        return json.dumps(obj).encode() + b"\n"

    def _head(self) -> dict[str, Any]:
        return {"model": self.out.model, "created_at": "1970-01-01T00:00:00Z"}

    def opening(self) -> bytes:
        return b""

    def tokens(self, start: int, end: int) -> bytes:
        out = self.out
        split = out.reasoning_tokens
        lines = []
        if start < split:
            lines.append({"role": "assistant", "content": "", "thinking": out.text(start, min(end, split))})
        if end > split:
            lines.append({"role": "assistant", "content": out.text(max(start, split), end)})
        return b"".join(self._line({**self._head(), "message": m, "done": False}) for m in lines)

    def _done(self, message: dict[str, Any]) -> dict[str, Any]:
        out = self.out
        return {**self._head(), "message": message, "done": True,
                "done_reason": "stop" if out.finish_reason == "stop" else "length",
                "total_duration": time.monotonic_ns() - self._start, "load_duration": 0,
                "prompt_eval_count": out.prompt_tokens, "eval_count": out.output_tokens}

    def closing(self) -> bytes:
        return self._line(self._done({"role": "assistant", "content": ""}))

    def malformed(self) -> bytes:
        return b'{"model":"m","message":{"role":"assistant","cont\n'

    def body(self) -> bytes:
        message: dict[str, Any] = {"role": "assistant", "content": self.out.answer}
        if self.out.reasoning_tokens:
            message["thinking"] = self.out.reasoning
        return self._line(self._done(message))


def is_ollama_chat(obj: Any) -> bool:
    """An Ollama chat line or body: ``done`` with a ``message`` (or the final counts)."""
    return isinstance(obj, dict) and "done" in obj and ("message" in obj or "eval_count" in obj)
