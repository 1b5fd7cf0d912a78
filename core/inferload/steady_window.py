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

from inferload.record_columns import PROFILING as PROFILING_FLAG
from inferload.record_columns import RecordColumns
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
    send (or there was no profiling request). From the record store's columns when it has them
    (:func:`steady_window_of_columns`); else one pass over ``records``, 16 bytes per profiling record
    (two int64 arrays), never a Python object per record."""
    import numpy as np

    columns = getattr(records, "columns", None)
    if isinstance(columns, RecordColumns):
        return steady_window_of_columns(columns, config)
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
    return _placed(start_ns, end_ns, int(start_ns[-1]), config, int(start_ns.size))


def _placed(start_ns: Any, end_ns: Any, end: int, config: ProfileConfig, sent: int) -> SteadyWindow | None:
    """The window from sorted profiling starts and ends (at least every one up to the window's start),
    the last start ``end`` and the profiling requests ``sent``."""
    if not config.timed_schedule:
        target = min(config.effective_concurrency or 1, sent)
        start = _first_reaching(start_ns, end_ns, target)
        rule = f"from {target} in flight (the concurrency target) to the last send"
    else:
        start = int(end_ns[0])
        rule = "from the first response end (rate mode or a fixed schedule) to the last send"
    if start is None or start >= end:
        return None
    return SteadyWindow(start, end, rule)


def steady_window_of_columns(columns: RecordColumns, config: ProfileConfig) -> SteadyWindow | None:
    """:func:`steady_window` from a run's record columns, in bounded memory: one chunked pass for the
    first and last start and the first end; in concurrency mode the target is searched among the starts
    and ends up to a horizon (the first start plus 1/64 of the sending time, doubled until the target is
    found or the horizon passes the last start), so memory holds the starts and ends of the ramp-up, not
    of the run. Equal to the pass over the records."""
    import numpy as np

    first = last = first_end = None
    sent = 0
    for chunk in columns.chunks():
        profiling = chunk.has(PROFILING_FLAG)
        count = int(np.count_nonzero(profiling))
        if not count:
            continue
        sent += count
        starts, ends = chunk.start_wall_ns[profiling], chunk.end_wall_ns[profiling]
        low, high, end = int(starts.min()), int(starts.max()), int(ends.min())
        first = low if first is None else min(first, low)
        last = high if last is None else max(last, high)
        first_end = end if first_end is None else min(first_end, end)
    if first is None or last is None or first_end is None:
        return None
    if config.timed_schedule:
        return _placed(np.array([first, last]), np.array([first_end]), last, config, sent)
    reach = max(1, (last - first) // 64)
    while True:
        horizon = first + reach
        starts, ends = array("q"), array("q")
        for chunk in columns.chunks():
            profiling = chunk.has(PROFILING_FLAG)
            starts.frombytes(chunk.start_wall_ns[profiling & (chunk.start_wall_ns <= horizon)].tobytes())
            ends.frombytes(chunk.end_wall_ns[profiling & (chunk.end_wall_ns <= horizon)].tobytes())
        start_ns = np.frombuffer(starts, dtype=np.int64)
        end_ns = np.frombuffer(ends, dtype=np.int64)
        start_ns.sort()
        end_ns.sort()
        target = min(config.effective_concurrency or 1, sent)
        if horizon >= last or _first_reaching(start_ns, end_ns, target) is not None:
            return _placed(start_ns, end_ns, last, config, sent)
        reach *= 2


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
