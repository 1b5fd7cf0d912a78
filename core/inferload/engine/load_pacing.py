"""A worker's pace when the load can change while it runs (docs/control.md, "How a change takes effect").

Rate mode keeps one arrival schedule, made at the base rate (``--request-rate``); a new rate does not
redraw it but changes the pace at which the worker walks it. :class:`Pace` maps a schedule offset to the
instant it is due: piecewise linear in time, each piece starting at a change, so the arrivals keep their
pattern (Poisson stays Poisson at the new rate), a change never shifts requests already sent, and a pause
(pace 0) resumes where it stopped, without a burst of the requests it held back.

:class:`ArrivalStream` is the schedule itself, drawn as it is walked: a run whose rate can rise has no
fixed end to draw it to. Every worker draws the same sequence from the same seed and takes its
round-robin share, exactly as the fixed schedule of :mod:`inferload.engine.schedule` is shared.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any


class Pace:
    """Schedule offsets (ns at the base rate) to due instants (``perf_counter_ns``).

    ``speed`` is the rate over the base rate; ``paused`` holds the schedule still. Starts at ``t0_ns``."""

    __slots__ = ("_real0", "_virtual0", "paused", "speed")

    def __init__(self, t0_ns: int, speed: float = 1.0, paused: bool = False) -> None:
        self._real0 = t0_ns
        self._virtual0 = 0.0
        self.speed = speed
        self.paused = paused

    @property
    def _moving(self) -> float:
        return 0.0 if self.paused else self.speed

    def due(self, offset_ns: int) -> int | None:
        """When the request at ``offset_ns`` of the schedule is due; None while paused."""
        moving = self._moving
        if moving <= 0.0:
            return None
        return self._real0 + round((offset_ns - self._virtual0) / moving)

    def change(self, at_ns: int, speed: float | None = None, paused: bool | None = None) -> None:
        """From ``at_ns`` on, walk at ``speed`` (and/or pause or resume); offsets due before it keep their
        instants."""
        self._virtual0 += (at_ns - self._real0) * self._moving
        self._real0 = at_ns
        if speed is not None:
            self.speed = speed
        if paused is not None:
            self.paused = paused


@dataclass
class ArrivalStream:
    """Rate mode's schedule drawn while it is sent: ``(request id, offset ns)`` from ``first_id`` on,
    ``count`` of them (None: without end), gaps from ``gaps(rate, rng, **kwargs)`` (an arrival plugin's
    factory) at the base ``rate`` with a ``random.Random(seed)``; this share takes every ``stride``-th
    request from ``index``."""

    gaps: Callable[..., Any]
    rate: float
    seed: int
    first_id: int
    count: int | None
    kwargs: dict[str, Any] = field(default_factory=dict)
    index: int = 0
    stride: int = 1

    def share(self, index: int, workers: int) -> ArrivalStream:
        """Worker ``index``'s round-robin share among ``workers``."""
        return replace(self, index=index, stride=workers)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        gaps = iter(self.gaps(self.rate, random.Random(self.seed), **self.kwargs))
        total, i = 0.0, 0
        count, index, stride, first = self.count, self.index, self.stride, self.first_id
        while count is None or i < count:
            if i % stride == index:
                yield first + i, round(total * 1e9)
            total += next(gaps)
            i += 1
