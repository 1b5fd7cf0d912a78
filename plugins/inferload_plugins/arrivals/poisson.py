"""``--arrival-pattern poisson``: a Poisson process, exponential gaps with mean ``1/rate``.

What independent users produce: bursts and lulls with a coefficient of variation of 1. It is the usual
choice for request-rate runs and what most serving papers assume.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from inferload import hookimpl
from inferload.types import ArrivalSpec
from inferload_plugins.arrivals import check_rate


@hookimpl
def register_arrival_patterns() -> list[ArrivalSpec]:
    return [ArrivalSpec(name="poisson", description="Poisson process: exponential gaps, mean 1/rate",
                        factory=poisson_gaps)]


def poisson_gaps(rate: float, rng: random.Random, smoothness: float | None = None,
                 **_: Any) -> Iterator[float]:
    """Exponential gaps drawn from ``rng`` (seeded by the engine for a reproducible schedule)."""
    return _draw(rng, check_rate(rate))


def _draw(rng: random.Random, rate: float) -> Iterator[float]:
    # A separate generator so that a bad rate fails when the factory is called, not at the first gap.
    draw = rng.expovariate
    while True:
        yield draw(rate)
