"""``--fixed-schedule``: each request starts at its own timestamp from the dataset (a trace replay).

This plugin declares the flags (``register_options``; the model is shared with the replay flow) and
``--fixed-schedule`` picks this pattern (``ArrivalSpec.switch``). AIPerf's options and units:
``--fixed-schedule-speedup X`` divides every gap by X; ``--fixed-schedule-start-offset MS`` and
``--fixed-schedule-end-offset MS`` keep only the requests whose trace timestamp lies in ``[start, end]``
(inclusive, on the trace's own millisecond axis). The replay's time zero is the start offset when one is
given, else the first request's timestamp, so a trace whose clock starts at an epoch time replays at once,
and a window keeps the quiet time before its first request.

Requests sharing a timestamp keep their dataset order. The engine hands offsets to workers round-robin,
each request with its own offset, so every request is still sent at its timestamp whatever the worker
count, and its lateness is the run's schedule lag (``client_health.schedule_lag``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

from inferload import hookimpl
from inferload.errors import UsageError
from inferload.types import ArrivalSpec, OptionsSpec
from inferload_plugins.arrivals import positive
from inferload_plugins.shared.fixed_schedule_options import FIXED_SCHEDULE_OPTIONS, SWITCH, run_name

NAME = "timestamps"
"""The pattern's name: it replays the dataset's timestamps (``--fixed-schedule`` picks it, no rate needed)."""


@hookimpl
def register_arrival_patterns() -> list[ArrivalSpec]:
    return [ArrivalSpec(name=NAME, factory=replay_offsets, timed=True, switch=SWITCH, run_name=run_name,
                        slower="lower --fixed-schedule-speedup",
                        description="Each request at its dataset timestamp (--fixed-schedule), with speed-up "
                                    "and a start/end window")]


@hookimpl
def register_options() -> list[OptionsSpec]:
    """``--fixed-schedule`` and its speed-up and window (the replay flow reads them too:
    :mod:`inferload_plugins.shared.fixed_schedule_options`)."""
    return [FIXED_SCHEDULE_OPTIONS]


def replay_offsets(
    rate: float | None = None,
    rng: random.Random | None = None,
    *,
    timestamps_ms: Sequence[float],
    speedup: float = 1.0,
    start_offset_ms: float | None = None,
    end_offset_ms: float | None = None,
    **_: Any,
) -> list[tuple[int, float]]:
    """``(entry index, offset in seconds)`` for every timestamp in the window, in sending order.

    ``timestamps_ms`` are the dataset's, one per entry; ``rate`` and ``rng`` do not apply (a replay has no
    randomness). Raises UsageError for a speed-up that is not a finite number > 0, a timestamp that is not
    a finite number, or an end offset before the start offset.
    """
    speedup = positive(speedup, "--fixed-schedule-speedup")
    for index, stamp in enumerate(timestamps_ms):
        if not math.isfinite(stamp):
            raise UsageError(f"entry {index + 1} of the trace has timestamp {stamp!r}; give finite "
                             "milliseconds")
    if start_offset_ms is not None and end_offset_ms is not None and end_offset_ms < start_offset_ms:
        raise UsageError(f"--fixed-schedule-end-offset {end_offset_ms:g} ms is before "
                         f"--fixed-schedule-start-offset {start_offset_ms:g} ms")
    order = sorted(range(len(timestamps_ms)), key=lambda i: timestamps_ms[i])
    window = [
        i for i in order
        if (start_offset_ms is None or timestamps_ms[i] >= start_offset_ms)
        and (end_offset_ms is None or timestamps_ms[i] <= end_offset_ms)
    ]
    if not window:
        return []
    zero = start_offset_ms if start_offset_ms is not None else timestamps_ms[order[0]]
    return [(i, (timestamps_ms[i] - zero) / 1000.0 / speedup) for i in window]
