"""The plan of a run, made before t=0: phases, request ids, per-worker shares and start offsets.

Concurrency mode has no times: each worker gets its share of the in-flight cap and takes request ids from
a shared counter, so the count is exact. Rate mode turns the arrival plugin's gaps into *absolute* offsets
from the phase start (the first request at 0), so a late start never shifts the ones after it; workers get
the offsets round-robin, which keeps each worker's share evenly spread in time.
"""

from __future__ import annotations

import math
import os
import random
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from inferload.engine.load_pacing import ArrivalStream
from inferload.engine.messages import WorkerSchedule
from inferload.load_plan import is_dynamic
from inferload.records import PROFILING, WARMUP

if TYPE_CHECKING:
    from inferload.config import ProfileConfig
    from inferload.registry import PluginRegistry

_MAX_SCHEDULED = 50_000_000
"""A guard against a rate x duration that would not fit in memory."""


@dataclass
class PhasePlan:
    """One phase: which ids it sends and, in rate mode, when (offsets in ns from the phase start)."""

    phase: str
    first_id: int
    count: int | None
    """Requests to send; None when the duration decides (concurrency mode only)."""
    duration_sec: float | None
    grace_sec: float | None
    offsets_ns: array[int] | None
    """Rate mode: the start offset of request ``first_id + i``; None in concurrency mode."""
    stream: ArrivalStream | None = None
    """Rate mode when the rate can change while it runs: the schedule drawn as it is sent (offsets_ns
    is then None)."""
    expected_requests: int | None = None
    """Requests the phase sends at most, when its ids are units of several requests (sessions' turns);
    None: one request per id."""

    def worker_schedule(self, index: int, workers: int) -> WorkerSchedule | ArrivalStream | None:
        """Worker ``index``'s share: every ``workers``-th request from ``index``, round-robin."""
        if self.stream is not None:
            return self.stream.share(index, workers)
        if self.offsets_ns is None:
            return None
        return WorkerSchedule(self.first_id + index, workers, array("q", self.offsets_ns[index::workers]))


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, as ``taskset`` sets it), else the machine's count;
    worker processes inherit the mask, so more workers than this only contend."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def default_workers(config: Any, rate: float | None = None) -> int:
    """As many worker processes as are useful: one handles a few thousand requests/s or ~64 streams in
    flight comfortably; more than the cores only adds contention. ``rate`` is the mean rate of a schedule
    that is not ``--request-rate`` (a ``--fixed-schedule`` replay's density)."""
    cores = usable_cpus()
    rate = config.request_rate if rate is None else rate
    if rate is not None:
        needed = math.ceil(rate / 2500)
    else:
        needed = math.ceil((config.effective_concurrency or 1) / 64)
    workers = max(1, min(cores, needed))
    cap = config.effective_concurrency
    return min(workers, cap) if cap else workers


def schedule_rate(offsets_ns: Sequence[int] | None) -> float | None:
    """A fixed schedule's mean rate (requests/s over its span), which sizes the default worker count; None
    for no schedule or one too short to have a rate."""
    if not offsets_ns or len(offsets_ns) < 2 or offsets_ns[-1] <= offsets_ns[0]:
        return None
    return (len(offsets_ns) - 1) / ((offsets_ns[-1] - offsets_ns[0]) / 1e9)


def split_concurrency(total: int | None, workers: int) -> list[int | None]:
    """Share a hard cap among workers so the shares sum exactly to it."""
    if total is None:
        return [None] * workers
    return [total // workers + (1 if i < total % workers else 0) for i in range(workers)]


def arrival_offsets(gaps: Any, count: int | None, duration_sec: float | None) -> array[int]:
    """Absolute offsets (ns) from gaps (s): the first request at 0, then the running sum of the gaps.
    Stops after ``count`` requests, or before the first offset at or past ``duration_sec``. An int64
    array: 8 bytes per request in the parent (a list of ints took ~40), for schedules of millions."""
    offsets = array("q")
    limit_ns = None if duration_sec is None else int(duration_sec * 1e9)
    total = 0.0
    while True:
        offset = round(total * 1e9)
        if count is not None and len(offsets) >= count:
            break
        if limit_ns is not None and offset >= limit_ns:
            break
        if len(offsets) >= _MAX_SCHEDULED:
            raise ValueError("the schedule would exceed 50 million requests; lower the rate or duration")
        offsets.append(offset)
        total += next(gaps)
    return offsets


def build_phases(
    config: ProfileConfig,
    registry: PluginRegistry,
    seed: int,
    fixed_offsets_ns: Sequence[int] | None = None,
    unit_requests: Sequence[int] | None = None,
) -> list[PhasePlan]:
    """Warmup (if asked) then profiling, ids consecutive across phases.

    ``fixed_offsets_ns`` (a request flow's fixed schedule: a ``--fixed-schedule`` replay, already cut by
    count or duration) is the profiling phase's schedule. ``unit_requests``: the sessions of a multi-turn
    dataset, as the requests (turns) each sends. Ids and counts are then sessions (a rate starts sessions),
    profiling sends every session once unless ``--conversation-num``, ``--request-count`` or
    ``--benchmark-duration`` says otherwise, and each phase expects the turns of its sessions."""
    units = None if unit_requests is None else len(unit_requests)
    phases = _phases(config, registry, seed, fixed_offsets_ns, units)
    if unit_requests:
        for plan in phases:
            count = len(plan.offsets_ns) if plan.offsets_ns is not None else plan.count
            if count is not None:  # whole passes over the units, then the ids left
                passes, rest = divmod(count, len(unit_requests))
                plan.expected_requests = passes * sum(unit_requests) + sum(
                    unit_requests[(plan.first_id + i) % len(unit_requests)] for i in range(rest)
                )
    return phases


def _phases(
    config: ProfileConfig,
    registry: PluginRegistry,
    seed: int,
    fixed_offsets_ns: Sequence[int] | None,
    sessions: int | None,
) -> list[PhasePlan]:
    if fixed_offsets_ns is not None:
        offsets = array("q", fixed_offsets_ns)
        grace = config.effective_grace_period if config.benchmark_duration is not None else None
        return [PhasePlan(PROFILING, 0, len(offsets), config.benchmark_duration, grace, offsets)]
    phases: list[PhasePlan] = []
    next_id = 0
    rng = random.Random(seed ^ 0x5EED)

    def offsets(count: int | None, duration: float | None) -> array[int] | None:
        if config.request_rate is None:
            return None
        factory, kwargs = _arrivals(config, registry)
        gaps = iter(factory(config.request_rate, rng, **kwargs))
        return arrival_offsets(gaps, count, duration)

    if config.warmup_request_count:
        count = config.warmup_request_count
        phases.append(PhasePlan(WARMUP, next_id, count, None, None, offsets(count, None)))
        next_id += count
    count = config.effective_request_count
    if sessions is not None and config.benchmark_duration is None:
        count = config.conversation_num or config.request_count or sessions
    duration = config.benchmark_duration
    grace = config.effective_grace_period if duration is not None else None
    if config.request_rate is not None and is_dynamic(config):
        # the rate can change while it runs: no end to draw a fixed schedule to (inferload.engine.load_pacing)
        factory, kwargs = _arrivals(config, registry)
        stream = ArrivalStream(factory, config.request_rate, rng.randrange(2**63), next_id, count, kwargs)
        phases.append(PhasePlan(PROFILING, next_id, count, duration, grace, None, stream))
        return phases
    phases.append(PhasePlan(PROFILING, next_id, count, duration, grace, offsets(count, duration)))
    return phases


def _arrivals(config: ProfileConfig, registry: PluginRegistry) -> tuple[Any, dict[str, Any]]:
    """The arrival plugin's gap factory and the keyword arguments the run gives it."""
    spec = registry.get("arrival_pattern", config.effective_arrival_pattern)
    smoothness = config.arrival_smoothness
    return spec.factory, {} if smoothness is None else {"smoothness": smoothness}
