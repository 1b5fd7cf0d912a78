"""Routes in plugins' dialects (hook ``register_simulator_routes``): the same generation as the OpenAI
routes, rendered by the plugin's :class:`~inferload.simulated.SimulatedResponse`."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from inferload.simulated import SimulatedOutput, SimulatedRequest, SimulatedRequestError

from .api import ApiError, decide_output, model_of, next_id
from .text import count_tokens

if TYPE_CHECKING:
    from inferload.types import SimulatorRouteSpec

    from .config import SimulatorConfig
    from .text import TokenTape


def plugin_routes() -> dict[str, SimulatorRouteSpec]:
    """Every enabled plugin's simulator route, by path (the registry's name rules apply)."""
    from inferload.registry import load_plugins

    return {spec.path: spec for spec in load_plugins().all("simulator_route").values()}


def _parse(spec: SimulatorRouteSpec, data: dict[str, Any]) -> SimulatedRequest:
    try:
        request = spec.parse(data)
    except SimulatedRequestError as exc:
        raise ApiError(exc.status, exc.message, param=exc.param) from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ApiError(400, f"request body does not fit {spec.path}: {exc}") from None
    if not isinstance(request, SimulatedRequest):
        raise TypeError(f"simulator route {spec.name!r}: parse returned {type(request).__name__}")
    return request


class DialectEncoding:
    """One accepted request on a plugin's encoder route (``generates=False``), with what the simulator's
    embeddings path reads (the same as :class:`.api.Embeddings`)."""

    __slots__ = ("model", "prompt_tokens", "request", "spec")

    def __init__(self, spec: SimulatorRouteSpec, data: dict[str, Any], config: SimulatorConfig) -> None:
        self.spec = spec
        self.request = _parse(spec, data)
        self.model = model_of({"model": self.request.model}, config)
        self.prompt_tokens = sum(count_tokens(part) for part in self.request.prompt)

    def body(self, seed: int) -> bytes:
        output = SimulatedOutput(id=next_id(self.spec.name.replace("_", "-")), model=self.model,
                                 created=int(time.time()), prompt_tokens=self.prompt_tokens, output_tokens=0,
                                 reasoning_tokens=0, finish_reason="stop", tokens=[])
        return self.spec.render(output, self.request).body()


class DialectGeneration:
    """One accepted request on a plugin route, with the attributes the simulator's pacing loop reads
    (the same as :class:`.api.Generation`)."""

    __slots__ = ("created", "finish_reason", "id", "model", "output_tokens", "prompt_tokens",
                 "reasoning_tokens", "response", "stream", "tokens")

    def __init__(self, spec: SimulatorRouteSpec, data: dict[str, Any], config: SimulatorConfig,
                 tape: TokenTape) -> None:
        request = _parse(spec, data)
        self.model = model_of({"model": request.model}, config)
        self.prompt_tokens = sum(count_tokens(part) for part in request.prompt)
        self.stream = request.stream
        self.output_tokens, self.finish_reason, self.reasoning_tokens, self.tokens = decide_output(
            config, tape, spec.name, "\n".join(request.prompt), self.prompt_tokens,
            max_tokens=request.max_tokens, ignore_eos=request.ignore_eos, reasoning=request.reasoning,
            seed=request.seed, param="prompt",
        )
        self.id = next_id(spec.name.replace("_", "-"))
        self.created = int(time.time())
        output = SimulatedOutput(
            id=self.id, model=self.model, created=self.created, prompt_tokens=self.prompt_tokens,
            output_tokens=self.output_tokens, reasoning_tokens=self.reasoning_tokens,
            finish_reason=self.finish_reason, tokens=self.tokens,
        )
        self.response = spec.render(output, request)

    def role_event(self) -> bytes:
        return self.response.opening()

    def token_events(self, start: int, end: int) -> bytes:
        return self.response.tokens(start, end)

    def malformed_event(self) -> bytes:
        return self.response.malformed()

    def final_events(self) -> bytes:
        return self.response.closing()

    def body(self) -> bytes:
        return self.response.body()
