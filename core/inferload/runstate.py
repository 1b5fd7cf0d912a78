"""RunState: the one object that describes a run while it happens.

The engine is its only writer; API routers, the console UI and lifecycle observers read it. The engine
replaces containers instead of mutating them in place where a reader could see a half-made value (e.g.
``live_metrics`` is swapped whole), so a reader never needs a lock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from inferload.stats import ns_to

if TYPE_CHECKING:
    from inferload.config import ProfileConfig


class Lifecycle(str, Enum):
    """States of a run. ``/readyz`` is ready only in RUNNING; ``/healthz`` fails only in FAILED."""

    CREATED = "created"
    STARTING = "starting"
    RUNNING = "running"
    COMPLETING = "completing"  # sending stopped; draining in-flight requests, computing, exporting
    COMPLETE = "complete"
    CANCELLED = "cancelled"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (Lifecycle.COMPLETE, Lifecycle.CANCELLED, Lifecycle.FAILED)


class RunInfo(BaseModel):
    """Run identity, shared verbatim by ``/api/run`` and the ``run_info`` block of profile_export.json."""

    benchmark_id: str
    sweep_id: str | None = None
    trial: int = 0
    random_seed: int | None = None
    run_label: str | None = None
    variation_label: str | None = None
    variation_index: int | None = None
    variation_values: dict[str, Any] | None = None
    cli_command: str = Field(description="The launch command, redacted before it was stored.")


@dataclass
class PhaseProgress:
    """Counters of one phase (``warmup`` or ``profiling``). Times are wall-clock ns."""

    phase: str
    phase_index: int
    total_expected_requests: int | None = None
    expected_duration_sec: float | None = None
    expected_grace_period_sec: float | None = None
    start_ns: int | None = None
    sent_end_ns: int | None = None
    requests_end_ns: int | None = None
    requests_sent: int = 0
    requests_completed: int = 0
    requests_cancelled: int = 0
    request_errors: int = 0
    timeout_triggered: bool = False
    grace_period_timeout_triggered: bool = False
    was_cancelled: bool = False

    @property
    def finished(self) -> bool:
        return self.requests_end_ns is not None

    def elapsed_sec(self, now_ns: int | None = None) -> float:
        if self.start_ns is None:
            return 0.0
        end = self.requests_end_ns or now_ns or time.time_ns()
        return max(0.0, ns_to(end - self.start_ns, "sec"))

    def requests_per_second(self, now_ns: int | None = None) -> float | None:
        elapsed = self.elapsed_sec(now_ns)
        return self.requests_completed / elapsed if elapsed > 0 else None

    def percent(self, now_ns: int | None = None) -> float | None:
        """Completion in percent, by request count (the finished ones, cancelled included, as the progress
        line's count) or else by elapsed duration; a finished phase is 100 unless it was cut short
        (``was_cancelled``: Ctrl+C), which keeps the share it reached."""
        if self.finished and not self.was_cancelled:
            return 100.0
        if self.total_expected_requests:
            done = self.requests_completed + self.requests_cancelled
            return min(100.0, 100.0 * done / self.total_expected_requests)
        if self.expected_duration_sec:
            return min(100.0, 100.0 * self.elapsed_sec(now_ns) / self.expected_duration_sec)
        return None

    def eta_sec(self, now_ns: int | None = None) -> float | None:
        if self.finished:
            return 0.0
        if self.total_expected_requests:
            rate = self.requests_per_second(now_ns)
            if not rate:
                return None
            return max(0.0, (self.total_expected_requests - self.requests_completed) / rate)
        if self.expected_duration_sec:
            return max(0.0, self.expected_duration_sec - self.elapsed_sec(now_ns))
        return None


@dataclass
class WorkerStats:
    """One worker process as the parent last saw it."""

    worker_id: str
    pid: int | None = None
    state: str = "starting"  # starting, running, stopping, stopped, failed
    requests_sent: int = 0
    requests_completed: int = 0
    request_errors: int = 0
    requests_cancelled: int = 0
    create_time: float | None = None
    cpu_percent: float | None = None
    cpu_user_sec: float | None = None
    cpu_system_sec: float | None = None
    memory_rss_bytes: int | None = None
    num_threads: int | None = None
    last_update_ns: int | None = None
    stopped_ns: int | None = None
    """When the process was seen gone (stopped or failed); its process figures are the last ones sampled."""
    ready_ns: int | None = None
    """Wall-clock ns when the worker had its transport set up (clients created, connections warmed); none
    of its requests starts before it."""
    node: str | None = None
    """Where the worker runs, for executors that place workers on other machines (Ray: node IP and id)."""
    clock_offset_ns: int | None = None
    """The worker's wall clock minus the parent's (NTP-style estimate, ns); None on the parent's machine."""
    clock_uncertainty_ns: int | None = None
    """Half the round trip of the sample behind ``clock_offset_ns``: the true offset is within ± this."""
    clock_measured_offset_ns: int | None = None
    """The latest NTP-style estimate of that offset, also where the exact one is known (the parent's own
    host, offset 0): there its distance from 0 shows the estimate's error."""
    clock_samples: int = 0
    """How many clock-offset measurements were taken (at start, then periodically)."""


@dataclass
class RunSlot:
    """Where one run of a sweep goes, handed by the orchestrator (the profile command's sweep) to the engine.

    ``identity`` fills :class:`RunInfo`'s sweep fields (``sweep_id``, ``trial``, ``variation_*``);
    ``artifact_dir`` replaces the run's own directory; ``state`` is the one RunState the sweep's live API
    serves: the engine re-initialises it in place for each run instead of creating its own, and leaves
    the API server (``api_shared``) to the orchestrator.
    """

    identity: dict[str, Any]
    artifact_dir: Path
    state: RunState | None = None
    api_shared: bool = False


@dataclass
class RunState:
    """Everything known about the current run. Only the engine writes it."""

    run_info: RunInfo
    config: ProfileConfig | None
    """The validated profile configuration, plugin choices filled in (None only before one exists);
    routers show it through ``redacted_dump()``."""
    artifact_dir: Path
    version: str = ""
    lifecycle: Lifecycle = Lifecycle.CREATED
    error: str | None = None
    stopped_early: str | None = None
    """The line that ended the run early because a run guard stopped it (:mod:`inferload.engine.guards`:
    the credentials refused, the server gone), also its ``error``; None otherwise. A sweep ends at such a
    run: every further run would fail the same way."""
    phases: dict[str, PhaseProgress] = field(default_factory=dict)
    workers: dict[str, WorkerStats] = field(default_factory=dict)
    live_metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Metric tag -> stats dict (header, unit, avg, min, max, p1…p99, std, count, sum); swapped whole."""
    live_metrics_updated_ns: int | None = None
    results: dict[str, Any] | None = None
    """The final results (the content of profile_export.json) once artifacts are written."""
    artifact_files: list[str] = field(default_factory=list)
    """Paths relative to artifact_dir that *this* run wrote; only these are listed or served."""
    artifacts_ready: bool = False
    failed_exporters: list[str] = field(default_factory=list)
    created_ns: int = field(default_factory=time.time_ns)
    started_ns: int | None = None
    ended_ns: int | None = None
    control: Any = None
    """The run's :class:`inferload.load_control.LoadControl`: the load target in force, the load segments,
    and the one thing of the state a router may call (the control routes queue changes through it; the
    engine applies them). None in a RunState the engine did not build."""
    sweep: dict[str, Any] | None = None
    """While a sweep or repeated trials run: where the sweep is (``sweep_id``, ``variation_index``,
    ``variation_count``, ``variation_label``, ``trial``, ``num_trials``, ``variations_done``); None for
    a single run. Set by the orchestrator (the sweep), swapped whole."""
    plugin_states: dict[str, Any] = field(default_factory=dict)
    """Run-scoped state owned by plugins (``run_state`` category), by spec name; created by the engine with
    the RunState, before any hook sees it. Read it with :meth:`plugin_state`."""

    def plugin_state(self, name: str) -> Any:
        """The state the ``run_state`` plugin ``name`` created for this run, or None (plugin disabled,
        its ``create`` failed, or a RunState the engine did not build)."""
        return self.plugin_states.get(name)

    def windows(self) -> dict[str, tuple[int, int] | None]:
        """Named time windows of the run (wall-clock ns): ``run`` (first request out to the end) and
        ``profiling`` (the profiling phase, start to its last response; to the run's end when it is the
        last phase, so end-of-run work such as a final scrape falls inside). None where unknown. The
        steady-state window is computed from the records (:mod:`inferload.steady_window`)."""
        end = self.ended_ns or time.time_ns()
        run = (self.started_ns, end) if self.started_ns is not None else None
        phase = self.phases.get("profiling")
        profiling = None
        if phase is not None and phase.start_ns is not None:
            last = list(self.phases)[-1] == "profiling"
            profiling = (phase.start_ns, end if last else phase.requests_end_ns or end)
        return {"run": run, "profiling": profiling}

    @property
    def current_phase(self) -> PhaseProgress | None:
        for phase in reversed(self.phases.values()):
            if phase.start_ns is not None:
                return phase
        return None
