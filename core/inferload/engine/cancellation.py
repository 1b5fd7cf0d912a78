"""Client-side cancellation (``--request-cancellation-rate P --request-cancellation-delay S``, AIPerf's
flags): P percent of requests are abandoned S seconds after they were sent, as users close a tab or an agent
gives up. Which requests is decided by the request id and the run's seed, so a seeded run cancels the same
ones every time, in every worker, with no shared state and no random generator on the hot path.

A cancelled request is a record of its own kind (:data:`ERROR_REQUEST_CANCELLED`, ``cancelled`` true): not a
success, not an error; the metrics count it apart (``cancelled_request_count``) and leave it out of every
latency and throughput figure (docs/metrics.md, "Which requests count").
"""

from __future__ import annotations

from dataclasses import dataclass

from inferload.records import ERROR_REQUEST_CANCELLED

__all__ = ["ERROR_REQUEST_CANCELLED", "CancellationPlan", "cancellation_plan"]

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

    def message(self) -> str:
        """The record's error message: the same for every cancelled request, so they group in one row."""
        return (
            f"cancelled by the client {self.delay_s:g} s after it was sent "
            f"(--request-cancellation-rate {self.rate_pct:g} %)"
        )


def cancellation_plan(rate_pct: float, delay_s: float, seed: int) -> CancellationPlan | None:
    """The plan for a run, or None when nothing is cancelled (the worker then does no per-request work)."""
    return CancellationPlan(rate_pct, delay_s, seed) if rate_pct > 0 else None
