"""Client-side cancellation (request flow ``cancellation``; ``--request-cancellation-rate P
--request-cancellation-delay S``, AIPerf's flags): P percent of requests are abandoned S seconds after they
were sent, as users close a tab or an agent gives up. Which requests is decided by the request id and the
run's seed, so a seeded run cancels the same ones every time, in every worker, with no shared state and no
random generator on the hot path.

A cancelled request is a record of its own kind (:data:`ERROR_REQUEST_CANCELLED`, ``cancelled`` true): not a
success, not an error; the metrics count it apart (``cancelled_request_count``) and leave it out of every
latency and throughput figure (docs/metrics.md, "Which requests count").

In each worker the plan's timer (:class:`CancellationTimer`) is told of every request as it is sent and,
for a chosen one, arms one loop timer that cancels it; the request's end disarms it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, Field, model_validator

from inferload import hookimpl
from inferload.engine.flow import FlowPlan
from inferload.plugin_options import Flag
from inferload.records import ERROR_REQUEST_CANCELLED, RequestError
from inferload.types import OptionsSpec, RequestFlowSpec

if TYPE_CHECKING:
    from inferload.engine.flow import FlowContext, FlowHost

__all__ = ["ERROR_REQUEST_CANCELLED", "CancellationPlan", "cancellation_plan"]


@hookimpl
def register_request_flows() -> list[RequestFlowSpec]:
    return [RequestFlowSpec(name="cancellation", description="--request-cancellation-rate: requests the "
                            "client abandons a delay after sending", prepare=prepare_cancellation)]


class CancellationOptions(BaseModel):
    """Which share of the requests the client abandons and when (AIPerf's names)."""

    request_cancellation_rate: Annotated[float, Flag(metavar="PERCENT")] = Field(
        0.0, ge=0, le=100, description="percent of requests the client cancels (default 0)")
    request_cancellation_delay: Annotated[float | None, Flag(metavar="SECONDS")] = Field(
        None, ge=0, description="seconds after sending that they are cancelled (0)")

    @model_validator(mode="after")
    def _delay_needs_rate(self) -> CancellationOptions:
        if self.request_cancellation_delay is not None and not self.request_cancellation_rate:
            raise ValueError("--request-cancellation-delay needs --request-cancellation-rate PERCENT")
        return self


@hookimpl
def register_options() -> list[OptionsSpec]:
    return [OptionsSpec(name="cancellation", description="Client-side cancellation",
                        model=CancellationOptions, title="request cancellation (docs/profile.md)")]


def prepare_cancellation(context: FlowContext) -> FlowPlan | None:
    """The run's plan as every worker's part; None when ``--request-cancellation-rate`` is 0."""
    options = context.config.options(CancellationOptions)
    plan = cancellation_plan(options.request_cancellation_rate, options.request_cancellation_delay or 0.0,
                             context.seed)
    return None if plan is None else FlowPlan(worker=plan)

_MIX = 0x9E3779B97F4A7C15
"""2^64 / golden ratio: Fibonacci hashing spreads consecutive ids evenly over [0, 2^64)."""
_MASK = (1 << 64) - 1


@dataclass(frozen=True)
class CancellationPlan:
    """``rate_pct`` percent of requests cancelled ``delay_s`` seconds after their start."""

    rate_pct: float
    delay_s: float
    seed: int

    def chosen(self, request_id: int) -> bool:
        """Whether request ``request_id`` is one to cancel (a pure function of the id and the seed)."""
        mixed = (((request_id + 1) * _MIX) ^ (self.seed * 0xBF58476D1CE4E5B9)) & _MASK
        mixed = ((mixed ^ (mixed >> 31)) * 0x94D049BB133111EB) & _MASK
        return (mixed ^ (mixed >> 29)) < self.rate_pct / 100.0 * (1 << 64)

    def start(self, host: FlowHost) -> CancellationTimer:
        """This plan's timer in a worker (called once, on the worker's loop)."""
        return CancellationTimer(self, asyncio.get_running_loop())

    def message(self) -> str:
        """The record's error message: the same for every cancelled request, so they group in one row."""
        return (
            f"cancelled by the client {self.delay_s:g} s after it was sent "
            f"(--request-cancellation-rate {self.rate_pct:g} %)"
        )


def cancellation_plan(rate_pct: float, delay_s: float, seed: int) -> CancellationPlan | None:
    """The plan for a run, or None when nothing is cancelled (the worker then does no per-request work)."""
    return CancellationPlan(rate_pct, delay_s, seed) if rate_pct > 0 else None


class CancellationTimer:
    """A worker's side of a :class:`CancellationPlan`: one loop timer per chosen request."""

    __slots__ = ("chosen", "delay_s", "loop", "message")

    def __init__(self, plan: CancellationPlan, loop: asyncio.AbstractEventLoop) -> None:
        self.chosen = plan.chosen
        self.delay_s = plan.delay_s
        self.loop = loop
        self.message = plan.message()
        """One message for every cancelled request: they group in one row of the error summary."""

    def on_request(self, request_id: int, cancel: Callable[[RequestError], None]) -> Callable[[], Any] | None:
        """Arm the timer of a chosen request; the returned callable disarms it when the request ends."""
        if not self.chosen(request_id):
            return None
        error = RequestError(ERROR_REQUEST_CANCELLED, self.message)
        return self.loop.call_later(self.delay_s, cancel, error).cancel
