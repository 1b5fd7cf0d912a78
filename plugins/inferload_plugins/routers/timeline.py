"""GET /api/timeline — the run as a time series, one point a second: the data behind the dashboard charts.

No other route keeps history: ``/api/metrics`` and ``/api/progress`` are the run *now*. While the API is
on (``--api-port``), ``run_started`` starts a sampler thread that reads the RunState once a second (it
never writes it) and keeps the points in a bounded buffer; ``run_finished`` takes a last point and stops
it. Rates are differences of the run's own counters between two points, and the interval averages of
TTFT and ITL are differences of the live metrics' exact ``sum`` and ``count`` (docs/metrics.md), so the
points need no access to the records and cost O(1) each.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from inferload import hookimpl
from inferload.types import RouterSpec

if TYPE_CHECKING:
    from fastapi import APIRouter

    from inferload.runstate import RunState

log = logging.getLogger(__name__)

ROUTES = ("GET /api/timeline",)
INTERVAL_SEC = 1.0
"""Time between two points."""
MAX_POINTS = 7200
"""Points kept per run (two hours at one a second); older ones are dropped and counted in ``dropped``."""
MAX_RUNS = 4
"""Runs whose timeline is kept (a sweep's previous variations stay readable while the next one runs)."""
LATENCY_TAGS = {"ttft": "time_to_first_token", "itl": "inter_token_latency"}
"""Point field prefix -> the metric tag it summarises."""
OUTPUT_TOKENS_TAG = "output_sequence_length"


@dataclass
class _Counters:
    """What one point is differenced against: the previous point's cumulative figures."""

    perf_sec: float
    sent: int = 0
    completed: int = 0
    errors: int = 0
    metric_sums: dict[str, tuple[float, int]] = field(default_factory=dict)
    """Metric tag -> (sum, count) of its live block."""


class Timeline:
    """The points of one run and the thread that takes them; see the module docstring."""

    def __init__(self, state: RunState, interval: float = INTERVAL_SEC, max_points: int = MAX_POINTS) -> None:
        self.state = state
        self.benchmark_id = state.run_info.benchmark_id
        self.interval = interval
        self.points: deque[dict[str, Any]] = deque(maxlen=max_points)
        self.dropped = 0
        self._origin_ns = state.started_ns or time.time_ns()
        self._previous = _Counters(perf_sec=time.perf_counter())
        self._stop = threading.Event()
        self._done = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="inferload-timeline", daemon=True)

    @property
    def sampling(self) -> bool:
        """True until :meth:`stop` has taken the last point: points are still being added."""
        return not self._done

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Take the last point (the run's final counters) and end the thread; idempotent."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2 * self.interval + 1)
        self.sample()
        self._done = True

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sample()
            except Exception as exc:  # noqa: BLE001 - a chart must never stop the run
                log.debug("timeline sample failed: %s", exc)

    def sample(self) -> dict[str, Any]:
        """Append one point read from the RunState now, and return it."""
        with self._lock:
            point = self._point()
            if len(self.points) == self.points.maxlen:
                self.dropped += 1
            self.points.append(point)
            return point

    def since(self, t_sec: float | None) -> list[dict[str, Any]]:
        """The points with ``t_sec`` at or after ``t_sec`` (all of them for None), oldest first."""
        with self._lock:
            points = list(self.points)
        if t_sec is None:
            return points
        return [point for point in points if point["t_sec"] >= t_sec]

    def _point(self) -> dict[str, Any]:
        from inferload.load_plan import CONCURRENCY, REQUEST_RATE

        state = self.state
        now_ns = time.time_ns()
        now = time.perf_counter()
        phases = list(dict(state.phases).values())
        current = state.current_phase
        metrics = state.live_metrics  # swapped whole by the engine: one consistent snapshot
        counters = _Counters(
            perf_sec=now,
            sent=sum(p.requests_sent for p in phases),
            completed=sum(p.requests_completed for p in phases),
            errors=sum(p.request_errors for p in phases),
            metric_sums={tag: _sum_count(metrics.get(tag)) for tag in (*LATENCY_TAGS.values(),
                                                                         OUTPUT_TOKENS_TAG)},
        )
        previous, self._previous = self._previous, counters
        elapsed = now - previous.perf_sec

        def per_sec(current_value: float, previous_value: float) -> float | None:
            return max(0.0, current_value - previous_value) / elapsed if elapsed > 0 else None

        point: dict[str, Any] = {
            "t_sec": (now_ns - self._origin_ns) / 1e9,
            "timestamp_ns": now_ns,
            "phase": current.phase if current is not None else None,
            "system_state": state.lifecycle.value,
            "requests_sent": counters.sent,
            "requests_completed": counters.completed,
            "request_errors": counters.errors,
            "requests_in_flight": max(0, counters.sent - counters.completed
                                      - sum(p.requests_cancelled for p in phases)),
            "sent_per_sec": per_sec(counters.sent, previous.sent),
            "requests_per_sec": per_sec(counters.completed, previous.completed),
            "errors_per_sec": per_sec(counters.errors, previous.errors),
            "output_tokens_per_sec": per_sec(counters.metric_sums[OUTPUT_TOKENS_TAG][0],
                                             previous.metric_sums.get(OUTPUT_TOKENS_TAG, (0.0, 0))[0]),
        }
        target = getattr(state.control, "target", None)  # the run's LoadControl, when the engine made one
        kind = target.kind if target is not None else None
        point["target_request_rate"] = target.value if kind == REQUEST_RATE else None
        point["target_concurrency"] = int(target.value) if kind == CONCURRENCY else None
        point["paused"] = bool(target is not None and target.paused)
        for prefix, tag in LATENCY_TAGS.items():
            total, count = counters.metric_sums[tag]
            before_total, before_count = previous.metric_sums.get(tag, (0.0, 0))
            block = metrics.get(tag) or {}
            point[f"{prefix}_avg_ms"] = ((total - before_total) / (count - before_count)
                                         if count > before_count else None)
            point[f"{prefix}_p50_ms"] = block.get("p50")
            point[f"{prefix}_p99_ms"] = block.get("p99")
        return point


def _sum_count(block: Mapping[str, Any] | None) -> tuple[float, int]:
    if not block:
        return 0.0, 0
    return float(block.get("sum") or 0.0), int(block.get("count") or 0)


_TIMELINES: dict[str, Timeline] = {}
"""benchmark_id -> its timeline, at most :data:`MAX_RUNS`, oldest first."""


@hookimpl
def run_started(state: RunState) -> None:
    """Start sampling when the run serves the live API (nobody else could read the points)."""
    config = state.config
    if config is None or getattr(config, "api_port", None) is None:
        return
    for timeline in list(_TIMELINES.values()):
        timeline.stop()  # a sweep's previous run, if its run_finished never came
    timeline = Timeline(state)
    _TIMELINES[timeline.benchmark_id] = timeline
    while len(_TIMELINES) > MAX_RUNS:
        _TIMELINES.pop(next(iter(_TIMELINES)))
    timeline.start()


@hookimpl
def run_stopping(state: RunState) -> None:
    """Every record is in: take the last point now, before the results are published, so a client that
    sees the results complete also sees the timeline's final counts."""
    timeline = _TIMELINES.get(state.run_info.benchmark_id)
    if timeline is not None:
        timeline.stop()


@hookimpl
def run_finished(state: RunState) -> None:
    timeline = _TIMELINES.get(state.run_info.benchmark_id)
    if timeline is not None:
        timeline.stop()


@hookimpl
def register_api_routers() -> list[RouterSpec]:
    return [
        RouterSpec(
            name="api-timeline",
            description="GET /api/timeline: throughput, TTFT, ITL and errors over time, one point a second",
            routes=ROUTES,
            factory=make_router,
        )
    ]


def timeline_view(state: RunState, since: float | None = None) -> dict[str, Any]:
    """The TimelineResponse of the run ``state`` describes now (no points when it is not sampled)."""
    timeline = _TIMELINES.get(state.run_info.benchmark_id)
    return {
        "benchmark_id": state.run_info.benchmark_id,
        "interval_sec": timeline.interval if timeline is not None else INTERVAL_SEC,
        "sampling": timeline is not None and timeline.sampling,
        "dropped": timeline.dropped if timeline is not None else 0,
        "points": timeline.since(since) if timeline is not None else [],
    }


def make_router(state: RunState) -> APIRouter:
    from fastapi import APIRouter, Query

    from inferload_plugins.routers.timeline_models import TimelineResponse

    router = APIRouter(tags=["timeline"])

    @router.get(
        "/api/timeline",
        response_model=TimelineResponse,
        summary="The run over time, one point a second (TimelineResponse)",
        description="Points of the current run, oldest first: requests sent, completed and failed per "
        "second, output tokens per second, in-flight requests, and TTFT/ITL (the interval's average, and "
        "p50/p99 of the run so far). `since` returns only points at or after that many seconds.",
    )
    async def get_api_timeline(
        since: float | None = Query(None, ge=0, description="Only points with t_sec >= since"),
    ) -> Any:
        return timeline_view(state, since)

    return router
