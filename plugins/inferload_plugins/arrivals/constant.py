"""``--arrival-pattern constant``: requests start exactly ``1/rate`` seconds apart.

The reference stimulus: no randomness, so a run's schedule is the same on every machine and any jitter in
the results comes from the client or the server, not from the load.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Any

from inferload import hookimpl
from inferload.types import ArrivalSpec
from inferload_plugins.arrivals import check_rate


@hookimpl
def register_arrival_patterns() -> list[ArrivalSpec]:
    return [ArrivalSpec(name="constant", description="Evenly spaced requests, 1/rate seconds apart",
                        factory=constant_gaps)]


def constant_gaps(rate: float, rng: random.Random | None = None, smoothness: float | None = None,
                  **_: Any) -> Iterator[float]:
    """Gaps of exactly ``1/rate`` seconds, forever; ``rng`` and ``smoothness`` do not apply."""
    return itertools.repeat(1.0 / check_rate(rate))
