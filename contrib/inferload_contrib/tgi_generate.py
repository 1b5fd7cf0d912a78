"""Hugging Face TGI's native API (``POST /generate``, streamed ``POST /generate_stream``): the endpoint
adapter and the simulator's routes for it.

A body is ``{"inputs", "parameters": {"max_new_tokens", "details": true}}``. A stream is SSE ``data:``
events, one per token: ``{"index", "token": {"id", "text", "logprob", "special"}, "generated_text",
"details"}``; the last carries ``generated_text`` and ``details`` (``finish_reason``,
``generated_tokens``). There is no ``[DONE]``. Special tokens (e.g. ``</s>``) are tokens but no text.
Errors are ``{"error", "error_type"}``, as a body or a stream event.
"""

from __future__ import annotations

import json
from typing import Any

from inferload import hookimpl
from inferload.simulated import SimulatedOutput, SimulatedRequest, SimulatedRequestError
from inferload.types import EndpointSpec, SimulatorRouteSpec

from .event_stream import DialectBodyParser, EventStreamParser, OtherDialect, unexpected
from .hf_wire import INFO_PATH, info_body

NAME = "tgi_generate"
PATH = "/generate"
STREAM_PATH = "/generate_stream"


@hookimpl
def register_endpoints() -> list[EndpointSpec]:
    return [
        EndpointSpec(
            name=NAME,
            description="Hugging Face TGI /generate and /generate_stream (inputs, parameters, token events)",
            path=PATH,
            stream_path=STREAM_PATH,
            streaming=True,
            produces_tokens=True,
            factory=TGIGenerateAdapter,
            recognise=is_tgi,
            models_path=INFO_PATH,
            sends_model=False,
        )
    ]


@hookimpl
def register_simulator_routes() -> list[SimulatorRouteSpec]:
    return [
        SimulatorRouteSpec(name=NAME, description="POST /generate in TGI's native dialect", path=PATH,
                           parse=lambda body: parse_request(body, stream=False), render=SimulatedGenerate,
                           error_body=error_body, models_path=INFO_PATH, models_body=info_body),
        SimulatorRouteSpec(name=f"{NAME}.stream", description="POST /generate_stream in TGI's native dialect",
                           path=STREAM_PATH, parse=lambda body: parse_request(body, stream=True),
                           render=SimulatedGenerate, error_body=error_body),
        SimulatorRouteSpec(name=f"{NAME}.compat", description="POST / (TGI's compat route: `stream` decides)",
                           path="/", parse=parse_compat_request, render=SimulatedGenerate,
                           error_body=error_body),
    ]


# -- the adapter ---------------------------------------------------------------------------------------


class TGIGenerateAdapter:
    """Renders ``{"inputs": prompt, "parameters": {"max_new_tokens"?, "details": true}}``; reads token
    texts (special tokens excluded) and ``details.generated_tokens`` as usage. TGI has no ``ignore_eos``;
    ``--extra-inputs '{"parameters": {...}}'`` adds to ``parameters``."""

    def render(self, conversation: Any, config: Any) -> dict[str, Any]:
        parameters: dict[str, Any] = {"details": True}
        if conversation.max_output_tokens is not None:
            parameters["max_new_tokens"] = conversation.max_output_tokens
        body: dict[str, Any] = {"inputs": conversation.text(), "parameters": parameters}
        extra = dict(config.extra_body)
        parameters.update(extra.pop("parameters", None) or {})
        body.update(extra)
        return body

    def parser(self, streaming: bool) -> Any:
        if streaming:
            return GenerateStreamParser()
        return DialectBodyParser(read_generated, is_error=lambda obj: obj.get("error") is not None)


def _usage(details: Any) -> dict[str, Any] | None:
    if isinstance(details, dict) and details.get("generated_tokens") is not None:
        return {"completion_tokens": details["generated_tokens"]}
    return None


class GenerateStreamParser(EventStreamParser):
    """One ``/generate_stream`` response; it succeeds at the event carrying ``generated_text``."""

    end_hint = "the final event with 'generated_text'"

    def on_event(self, ts_ns: int, event_type: str, obj: dict[str, Any], payload: bytes) -> None:
        if obj.get("error") is not None:
            self.server_error(obj)
            return
        token = obj.get("token")
        if not isinstance(token, dict):
            raise unexpected(obj, "a stream event without 'token'", payload)
            return
        if not token.get("special"):
            self.output(ts_ns, token["text"], None)
        if obj.get("generated_text") is not None:
            self.finished = True
            self.usage = _usage(obj.get("details"))


def read_generated(obj: Any) -> tuple[str, None, dict[str, Any] | None]:
    """``(generated_text, None, usage)`` of a ``/generate`` body (TGI may wrap it in a one-item list)."""
    if isinstance(obj, list) and len(obj) == 1:
        obj = obj[0]
    if not isinstance(obj, dict) or "generated_text" not in obj:
        raise OtherDialect
    return obj["generated_text"], None, _usage(obj.get("details"))


# -- the simulator's routes ----------------------------------------------------------------------------


def parse_compat_request(body: dict[str, Any]) -> SimulatedRequest:
    """TGI's ``POST /`` (the route Hugging Face's ``InferenceClient`` uses): ``stream: true`` streams."""
    return parse_request(body, stream=body.get("stream") is True)


def parse_request(body: dict[str, Any], *, stream: bool) -> SimulatedRequest:
    """A TGI request: ``inputs`` is required; ``parameters.max_new_tokens`` defaults to the server's."""
    inputs = body.get("inputs")
    if not isinstance(inputs, str) or not inputs:
        raise SimulatedRequestError(422, "Input validation error: `inputs` must be a non-empty string",
                                    param="inputs")
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise SimulatedRequestError(422, "Input validation error: `parameters` must be an object")
    max_new = parameters.get("max_new_tokens")
    if max_new is not None and (isinstance(max_new, bool) or not isinstance(max_new, int) or max_new < 1):
        raise SimulatedRequestError(422, "Input validation error: `max_new_tokens` must be strictly positive",
                                    param="max_new_tokens")
    seed = parameters.get("seed")
    return SimulatedRequest(prompt=(inputs,), max_tokens=max_new, stream=stream, reasoning=False,
                            seed=None if seed is None else str(seed))


def error_body(status: int, message: str) -> bytes:
    """TGI's error shape: ``{"error", "error_type"}``."""
    kind = {422: "validation", 429: "overloaded", 503: "overloaded"}.get(status, "generation")
    return json.dumps({"error": message, "error_type": kind}).encode()


_FINISH = {"stop": "eos_token", "length": "length"}


class SimulatedGenerate:
    """The simulator's TGI answer: one event per token, ``generated_text`` and ``details`` on the last.
    A natural stop ends with the special EOS token, as TGI does."""

    def __init__(self, output: SimulatedOutput, request: SimulatedRequest) -> None:
        self.out = output

    def _details(self) -> dict[str, Any]:
        out = self.out
        return {"finish_reason": _FINISH[out.finish_reason], "generated_tokens": out.output_tokens,
                "seed": None}

    def opening(self) -> bytes:
        return b""

    def _token(self, index: int, text: str, *, special: bool = False, last: bool = False) -> bytes:
        event: dict[str, Any] = {"index": index + 1, "token": {"id": index, "text": text, "logprob": -0.1,
                                                               "special": special},
                                 "generated_text": None, "details": None}
        if last:
            event["generated_text"] = self.out.answer
            event["details"] = self._details()
        return b"data:" + json.dumps(event).encode() + b"\n\n"

    def tokens(self, start: int, end: int) -> bytes:
        out = self.out
        eos = out.finish_reason == "stop"
        return b"".join(
            self._token(i, out.text(i, i + 1), last=i == out.output_tokens - 1 and not eos)
            for i in range(start, end)
        )

    def closing(self) -> bytes:
        if self.out.finish_reason != "stop":
            return b""
        # the EOS token: special, so the client takes it for no text and no output chunk
        return self._token(self.out.output_tokens, "</s>", special=True, last=True)

    def malformed(self) -> bytes:
        return b'data:{"index":1,"token":{"id":1,"te\n\n'

    def body(self) -> bytes:
        return json.dumps({"generated_text": self.out.answer, "details": self._details()}).encode()


def is_tgi(obj: Any) -> bool:
    """A TGI token event (``token``) or a ``generated_text`` body."""
    return isinstance(obj, dict) and (isinstance(obj.get("token"), dict) or "generated_text" in obj)
