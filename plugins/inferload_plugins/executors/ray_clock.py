"""Clock offsets between the driver and a Ray worker, measured NTP-style over Ray round trips.

Each sample asks the worker for its clocks (wall ``time_ns`` and monotonic ``perf_counter_ns``) and takes
the driver's own just before and just after: assuming the answer was read halfway through the round trip,
``offset = worker - (before + after) / 2``, true within ± half the round trip. Of a burst of samples the
one with the shortest round trip is kept (queueing only ever adds delay, so the fastest sample is the
tightest bound). Workers on the driver's own host (same kernel boot id) share its clocks exactly: their
offsets are 0 with no uncertainty.

Offsets never touch durations: a record's times are shifted as a whole (every monotonic field by the same
amount), so TTFT, ITL and latencies stay differences of one machine's monotonic clock; the shift only
places the record on the driver's timeline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter_ns

BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")


def host_clock_id() -> str | None:
    """This kernel's boot id (Linux): two processes with the same one read the same monotonic clock."""
    try:
        return BOOT_ID_PATH.read_text().strip() or None
    except OSError:
        return None


def read_clocks() -> tuple[int, int]:
    """``(time.time_ns(), perf_counter_ns())`` of the calling process: what a worker answers a sample with."""
    return time.time_ns(), perf_counter_ns()


@dataclass(frozen=True)
class ClockEstimate:
    """A worker's clocks relative to the driver's, in ns: add ``mono_offset_ns`` to a driver
    ``perf_counter_ns`` time for the worker's; subtract it (and ``wall_offset_ns`` from wall times) to move
    a worker time onto the driver's timeline. ``uncertainty_ns`` is half the round trip of the sample."""

    wall_offset_ns: int = 0
    mono_offset_ns: int = 0
    uncertainty_ns: int = 0
    same_host: bool = True


SAME_HOST = ClockEstimate()


def measure(ask: Callable[[], tuple[int, int]], samples: int) -> ClockEstimate:
    """Take ``samples`` round trips through ``ask`` (which returns the worker's :func:`read_clocks`) and
    keep the one with the shortest round trip. Errors from ``ask`` propagate."""
    best: ClockEstimate | None = None
    for _ in range(max(1, samples)):
        before_wall, before_mono = time.time_ns(), perf_counter_ns()
        worker_wall, worker_mono = ask()
        after_mono, after_wall = perf_counter_ns(), time.time_ns()
        half_rtt = (after_mono - before_mono) // 2
        if best is None or half_rtt < best.uncertainty_ns:
            best = ClockEstimate(
                wall_offset_ns=worker_wall - (before_wall + after_wall) // 2,
                mono_offset_ns=worker_mono - (before_mono + after_mono) // 2,
                uncertainty_ns=half_rtt,
                same_host=False,
            )
    assert best is not None
    return best
