"""The steady-state window: the one definition every steady-state figure uses (docs/metrics.md, "Steady
state"): the ``steady_state`` metrics block and the ``steady_state`` window of the server-metrics block.

Start: concurrency mode (a --concurrency cap and no timed schedule), the first instant the number of
profiling requests in flight reaches the target, ``min(concurrency, profiling requests sent)``; rate mode
or a fixed schedule, the first profiling response end (before it, nothing has gone through the server).
End: the start of the last profiling request sent (after it, the load only drains). Wall clock, ns.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from inferload.records import PROFILING, RequestRecord

if TYPE_CHECKING:
    from inferload.config import ProfileConfig

_SLICE = 4096 * 64
"""Starts examined at a time while looking for the target in flight: no temporary is as long as the run."""


@dataclass(frozen=True)
class SteadyWindow:
    """The window: ``[start_ns, end_ns]`` on the wall clock and the ``rule`` that placed it (one line)."""

    start_ns: int
    end_ns: int
    rule: str

    def contains(self, record: RequestRecord) -> bool:
        """Whether ``record`` ended inside the window (start <= its end <= end): how both blocks count it."""
        return self.start_ns <= record_span(record)[1] <= self.end_ns


def record_span(record: RequestRecord) -> tuple[int, int]:
    """(start, end) of a request in wall-clock ns: its wall start plus its monotonic duration."""
    return record.start_wall_ns, record.start_wall_ns + (record.end_ns - record.start_ns)


def steady_window(records: Iterable[RequestRecord], config: ProfileConfig) -> SteadyWindow | None:
    """The run's steady-state window, or None when the load never reached its target before the last
    send (or there was no profiling request). One pass over ``records``; 16 bytes per profiling record
    (two int64 arrays), never a Python object per record."""
    import numpy as np

    starts, ends = array("q"), array("q")
    for record in records:
        if record.phase == PROFILING:
            start, end = record_span(record)
            starts.append(start)
            ends.append(end)
    if not starts:
        return None
    start_ns = np.frombuffer(starts, dtype=np.int64)  # views of the arrays, sorted in place: no copies
    end_ns = np.frombuffer(ends, dtype=np.int64)
    start_ns.sort()
    end_ns.sort()
    end = int(start_ns[-1])
    if not config.timed_schedule:
        target = min(config.effective_concurrency or 1, int(start_ns.size))
        start = _first_reaching(start_ns, end_ns, target)
        rule = f"from {target} in flight (the concurrency target) to the last send"
    else:
        start = int(end_ns[0])
        rule = "from the first response end (rate mode or a fixed schedule) to the last send"
    if start is None or start >= end:
        return None
    return SteadyWindow(start, end, rule)


def _first_reaching(start_ns: Any, end_ns: Any, target: int) -> int | None:
    """The first start (sorted ``start_ns``) after which ``target`` requests are in flight: starts so far
    minus ends at or before it (at one instant an end is counted before a start: in flight means strictly
    overlapping). In slices, so no temporary is as long as the run."""
    import numpy as np

    for first in range(0, start_ns.size, _SLICE):
        chunk = start_ns[first:first + _SLICE]
        started = np.arange(first + 1, first + chunk.size + 1)
        in_flight = started - np.searchsorted(end_ns, chunk, side="right")
        reached = np.flatnonzero(in_flight >= target)
        if reached.size:
            return int(chunk[reached[0]])
    return None
