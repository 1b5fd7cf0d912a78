"""Hugging Face TEI's native embedding API (``POST /embed``): the endpoint adapter and the simulator's
route for it.

A body is ``{"inputs": text, "truncate": false}``; the answer is a JSON array with one vector (a list of
floats) per input and no usage. Errors are ``{"error", "error_type"}``. No output tokens, never streamed:
the request latency is what is measured.
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

from inferload import hookimpl
from inferload.simulated import SimulatedOutput, SimulatedRequest, SimulatedRequestError
from inferload.types import EndpointSpec, SimulatorRouteSpec

from .encoder_response import EncoderResponse
from .event_stream import DialectBodyParser, OtherDialect
from .hf_wire import INFO_PATH, info_body, tei_error_body

NAME = "tei_embed"
PATH = "/embed"
SIMULATED_DIM = 384
"""Vector size the simulator answers with (a small sentence-embedding model's)."""


@hookimpl
def register_endpoints() -> list[EndpointSpec]:
    return [
        EndpointSpec(
            name=NAME,
            description="Hugging Face TEI /embed (inputs in, one vector per input out)",
            path=PATH,
            streaming=False,
            produces_tokens=False,
            factory=TEIEmbedAdapter,
            recognise=is_tei_embed,
            models_path=INFO_PATH,
            sends_model=False,
        )
    ]


@hookimpl
def register_simulator_routes() -> list[SimulatorRouteSpec]:
    return [
        SimulatorRouteSpec(name=NAME, description="POST /embed in TEI's native dialect", path=PATH,
                           parse=parse_request, render=SimulatedEmbedding, error_body=tei_error_body,
                           generates=False, models_path=INFO_PATH, models_body=info_body)
    ]


class TEIEmbedAdapter:
    """Renders ``{"inputs": prompt, "truncate": false}`` (``--extra-inputs`` adds e.g. ``normalize``);
    a response must be a non-empty array of vectors."""

    def render(self, conversation: Any, config: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"inputs": conversation.text(), "truncate": False}
        body.update(config.extra_body)
        return body

    def parser(self, streaming: bool) -> Any:
        return DialectBodyParser(read_vectors, is_error=lambda obj: obj.get("error") is not None,
                                 require_output=False)


def read_vectors(obj: Any) -> tuple[None, None, None]:
    """Checks the ``[[float, ...], ...]`` shape; embeddings carry no text and no usage."""
    if not isinstance(obj, list) or not obj or not all(isinstance(v, list) and v for v in obj):
        raise OtherDialect
    if not all(isinstance(x, (int, float)) for x in obj[0]):
        raise TypeError("vector entries are not numbers")
    return None, None, None


def parse_request(body: dict[str, Any]) -> SimulatedRequest:
    """``inputs``: a string or a list of strings."""
    inputs = body.get("inputs")
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list) or not inputs or not all(isinstance(t, str) for t in inputs):
        raise SimulatedRequestError(422, "`inputs` must be a string or a non-empty list of strings",
                                    param="inputs")
    return SimulatedRequest(prompt=tuple(inputs), model=body.get("model"), reasoning=False)


class SimulatedEmbedding(EncoderResponse):
    """One deterministic unit vector per input (seeded by the text)."""

    def __init__(self, output: SimulatedOutput, request: SimulatedRequest) -> None:
        self.texts = request.prompt

    @staticmethod
    def _vector(text: str) -> list[float]:
        rng = random.Random(hashlib.blake2b(text.encode(), digest_size=8).digest())
        values = [rng.uniform(-1.0, 1.0) for _ in range(SIMULATED_DIM)]
        norm = sum(v * v for v in values) ** 0.5 or 1.0
        return [round(v / norm, 6) for v in values]

    def malformed(self) -> bytes:
        return b"[[0.1,0.2"

    def body(self) -> bytes:
        return json.dumps([self._vector(text) for text in self.texts]).encode()


def is_tei_embed(obj: Any) -> bool:
    """TEI's embeddings: an array of vectors."""
    return isinstance(obj, list) and bool(obj) and isinstance(obj[0], list)
