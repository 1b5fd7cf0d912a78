"""``--arrival-pattern gamma``: gamma gaps with mean ``1/rate``, burstiness set by ``--arrival-smoothness``.

The smoothness is the gamma shape ``k``: the gaps' coefficient of variation is ``1/sqrt(k)``, so ``k = 1`` is
exactly Poisson, ``k > 1`` is smoother (towards constant as ``k`` grows) and ``k < 1`` is burstier than
Poisson. The scale ``1/(k * rate)`` keeps the mean rate whatever ``k`` is.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from inferload import hookimpl
from inferload.types import ArrivalSpec
from inferload_plugins.arrivals import check_rate, positive

DEFAULT_SMOOTHNESS = 1.0


@hookimpl
def register_arrival_patterns() -> list[ArrivalSpec]:
    return [ArrivalSpec(name="gamma", factory=gamma_gaps, smoothness=True,
                        description="Gamma gaps, mean 1/rate; --arrival-smoothness k gives CV 1/sqrt(k)")]


def gamma_gaps(rate: float, rng: random.Random, smoothness: float | None = None,
               **_: Any) -> Iterator[float]:
    """Gamma(k, 1/(k*rate)) gaps drawn from ``rng``; ``smoothness`` None means k = 1 (Poisson)."""
    rate = check_rate(rate)
    shape = positive(DEFAULT_SMOOTHNESS if smoothness is None else smoothness, "--arrival-smoothness")
    return _draw(rng, shape, 1.0 / (shape * rate))


def _draw(rng: random.Random, shape: float, scale: float) -> Iterator[float]:
    # A separate generator so that bad arguments fail when the factory is called, not at the first gap.
    draw = rng.gammavariate
    while True:
        yield draw(shape, scale)
