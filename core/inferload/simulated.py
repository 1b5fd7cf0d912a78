"""What an endpoint plugin implements to make the built-in simulator speak its dialect.

A :class:`~inferload.types.SimulatorRouteSpec` (hook ``register_simulator_routes``) gives the simulator a
path, a ``parse`` function from the request's JSON body to a :class:`SimulatedRequest`, and a ``render``
factory from the output the simulator decided (:class:`SimulatedOutput`) to a :class:`SimulatedResponse`
that writes the dialect's bytes. The simulator keeps everything else: the latency model (queueing,
prefill, batched decode), output lengths, the truth log, ``/metrics`` and fault injection, so every dialect
is timed, counted and faulted exactly like the OpenAI routes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["SimulatedOutput", "SimulatedRequest", "SimulatedRequestError", "SimulatedResponse"]


class SimulatedRequestError(Exception):
    """A request the dialect refuses: answered with ``status`` and the route's error body."""

    def __init__(self, status: int, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param


@dataclass(frozen=True, slots=True)
class SimulatedRequest:
    """What a dialect reads from one request body.

    ``prompt``: the texts whose tokens are the prompt (counted one by one, no template overhead);
    ``model``: the model asked for (None: the served one); ``max_tokens``: the output cap (None: no cap
    but the context); ``stream``: answer with events; ``ignore_eos``: run to ``max_tokens``;
    ``reasoning``: the dialect carries reasoning tokens (the simulator's ``--reasoning-tokens`` apply);
    ``seed``: the request's seed, if it sent one.
    """

    prompt: tuple[str, ...]
    model: str | None = None
    max_tokens: int | None = None
    stream: bool = False
    ignore_eos: bool = False
    reasoning: bool = True
    seed: str | None = None


@dataclass(slots=True)
class SimulatedOutput:
    """The output the simulator decided for one request.

    ``tokens`` holds one entry per generated token: its UTF-8 bytes, a leading space and a lower-case
    ASCII word (safe inside a JSON string without escaping). The first ``reasoning_tokens`` are
    reasoning, the rest the answer. ``finish_reason`` is ``"stop"`` (natural end) or ``"length"`` (cut
    at ``max_tokens`` or the context), in OpenAI's terms; a dialect maps it to its own.
    """

    id: str
    model: str
    created: int
    prompt_tokens: int
    output_tokens: int
    reasoning_tokens: int
    finish_reason: str
    tokens: list[bytes] = field(repr=False)

    def text(self, start: int, end: int) -> str:
        """The generated text of tokens ``start:end``."""
        return b"".join(self.tokens[start:end]).decode()

    @property
    def answer(self) -> str:
        """The whole answer text (reasoning excluded)."""
        return self.text(self.reasoning_tokens, self.output_tokens)

    @property
    def reasoning(self) -> str:
        """The whole reasoning text ('' without reasoning tokens)."""
        return self.text(0, self.reasoning_tokens)


class SimulatedResponse(Protocol):
    """Writes one response in a dialect. Each method returns complete events (framing included: SSE
    ``data:`` lines, NDJSON lines …); the simulator adds HTTP framing and decides when each is sent."""

    def opening(self) -> bytes:
        """Events before any token (e.g. ``message_start``); sent together with the first tokens."""
        ...

    def tokens(self, start: int, end: int) -> bytes:
        """Events carrying tokens ``start:end`` (indices below ``reasoning_tokens`` are reasoning)."""
        ...

    def closing(self) -> bytes:
        """Events after the last token: finish reason, usage, end of stream."""
        ...

    def malformed(self) -> bytes:
        """One well-framed event whose JSON is cut off (the ``malformed_chunk`` fault)."""
        ...

    def body(self) -> bytes:
        """The whole non-streamed JSON response."""
        ...
