"""Arrival-pattern plugins: the gaps between request starts under ``--request-rate``.

Each pattern is its own plugin module. A factory ``factory(rate, rng, smoothness=None, **_)`` returns an
infinite iterator of gaps in seconds whose mean is ``1/rate``; the engine adds them up into an absolute
schedule, so a pattern never sleeps and never sees the clock.
"""

from __future__ import annotations

import math

from inferload.errors import UsageError


def positive(value: float, flag: str) -> float:
    """``value`` as a float if it is a finite number > 0; else one clear error naming ``flag``."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or value <= 0:
        raise UsageError(f"{flag} must be a finite number > 0, got {value!r}")
    return float(value)


def check_rate(rate: float) -> float:
    """``rate`` (requests per second) as a float, or a UsageError naming ``--request-rate``."""
    return positive(rate, "--request-rate")
