"""The engine keeps RunState true to what happens: live metrics appear with the first profiling record
(never zero-valued during warmup), workers go stopping -> stopped/failed as they actually exit, their CPU
is measured over real intervals, and a run that ends by an exception still leaves a finished state."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api_state_factory import make_state, registry, serving
from inferload.engine import aggregator as aggregator_module
from inferload.engine.aggregator import RecordAggregator
from inferload.engine.finish import record_abort
from inferload.engine.runner import ProfileRun
from inferload.engine.workers import WorkerPool
from inferload.metrics_engine import MetricsAccumulator
from inferload.records import PROFILING, WARMUP, RequestRecord
from inferload.runstate import Lifecycle, PhaseProgress, RunState, WorkerStats
from inferload_plugins.routers.workers import ProcessProbe, workers_view

MS = 1_000_000


@pytest.fixture(scope="module")
def plugins() -> Any:
    return registry()


def record(request_id: int, phase: str) -> RequestRecord:
    start = 1_000 * MS + request_id * 100 * MS
    return RequestRecord(
        request_id=request_id, phase=phase, worker_id="worker_0", conversation_id=f"c{request_id}",
        x_request_id=f"x{request_id}", scheduled_ns=start, start_ns=start, end_ns=start + 80 * MS,
        start_wall_ns=1_700_000_000_000_000_000 + start, input_tokens=8, status=200,
        chunk_ns=[start + 20 * MS, start + 40 * MS], usage_prompt_tokens=8, usage_completion_tokens=2,
        usage_total_tokens=10,
    )


def new_aggregator(tmp_path: Path, plugins: Any, workers: tuple[str, ...] = ()) -> RecordAggregator:
    state = make_state(tmp_path / "artifacts")
    aggregator = RecordAggregator(state, plugins, MetricsAccumulator(plugins))
    for worker_id in workers:
        aggregator.add_worker(worker_id, None)
    return aggregator


# -- live metrics -----------------------------------------------------------------------------------


def test_live_metrics_stay_empty_through_warmup_and_appear_with_the_first_profiling_record(
    tmp_path: Path, plugins: Any
) -> None:
    agg = new_aggregator(tmp_path, plugins, ("worker_0",))
    warmup = PhaseProgress(phase=WARMUP, phase_index=0, total_expected_requests=2)
    agg.begin_phase(warmup)
    agg.on_records("worker_0", warmup, [record(0, WARMUP), record(1, WARMUP)], 2)
    agg.refresh_live_metrics()
    assert agg.state.live_metrics == {} and agg.state.live_metrics_updated_ns is None

    profiling = PhaseProgress(phase=PROFILING, phase_index=1, total_expected_requests=4)
    agg.begin_phase(profiling)
    agg.refresh_live_metrics()
    assert agg.state.live_metrics == {}  # the profiling phase began, but nothing of it has completed
    agg.on_records("worker_0", profiling, [record(2, PROFILING)], 3)
    agg.refresh_live_metrics()
    assert agg.state.live_metrics["request_count"]["avg"] == 1
    assert agg.state.live_metrics_updated_ns is not None


def test_prometheus_stays_valid_with_no_live_metrics_during_warmup(tmp_path: Path) -> None:
    state = make_state(tmp_path / "artifacts")
    state.lifecycle = Lifecycle.RUNNING
    state.phases = {WARMUP: PhaseProgress(phase=WARMUP, phase_index=0, total_expected_requests=2,
                                          start_ns=time.time_ns(), requests_sent=2, requests_completed=1)}
    with serving(state) as server:
        api = httpx.get(server.url + "/api/metrics").json()
        response = httpx.get(server.url + "/metrics")
    assert api["metrics"] == {}
    assert response.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    assert "inferload_info" in families and "inferload_request_count_requests" not in families
    (sample,) = [s for s in families["inferload_requests_completed"].samples if s.name.endswith("_total")]
    assert sample.labels["phase"] == WARMUP and sample.value == 1


# -- workers: counts and CPU ------------------------------------------------------------------------


def test_worker_total_counts_requests_in_flight_and_adds_up_over_phases(tmp_path: Path, plugins: Any) -> None:
    agg = new_aggregator(tmp_path, plugins, ("worker_0",))
    warmup = PhaseProgress(phase=WARMUP, phase_index=0)
    agg.begin_phase(warmup)
    agg.on_records("worker_0", warmup, [record(0, WARMUP)], 1)
    profiling = PhaseProgress(phase=PROFILING, phase_index=1)
    agg.begin_phase(profiling)
    agg.on_records("worker_0", profiling, [], 4)  # four sent, none back yet
    stats = agg.state.workers["worker_0"]
    assert (stats.requests_sent, stats.requests_completed) == (5, 1)
    agg.on_records("worker_0", profiling, [record(1, PROFILING)], 4)
    stats = agg.state.workers["worker_0"]
    assert (stats.requests_sent, stats.requests_completed) == (5, 2)
    assert profiling.requests_sent == 4


def _spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


@pytest.fixture
def busy_process() -> Any:
    process = multiprocessing.get_context("spawn").Process(target=_spin, args=(120.0,), daemon=True)
    process.start()
    try:
        yield process
    finally:
        process.kill()
        process.join(5)


def _wait_for_cpu_time(pid: int, at_least: float) -> None:
    """Until the process has used ``at_least`` more CPU seconds (event-driven, no fixed sleep)."""
    proc = psutil.Process(pid)
    start = sum(proc.cpu_times()[:2])
    while sum(proc.cpu_times()[:2]) - start < at_least:
        time.sleep(0.01)


def test_engine_samples_real_cpu_percent_with_one_process_object_per_worker(
    tmp_path: Path, plugins: Any, busy_process: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aggregator_module, "_MIN_CPU_INTERVAL_SEC", 0.0)
    agg = new_aggregator(tmp_path, plugins)
    agg.add_worker("worker_0", busy_process.pid)
    proc = agg._procs["worker_0"]
    _wait_for_cpu_time(busy_process.pid, 0.05)
    agg.refresh_workers()
    _wait_for_cpu_time(busy_process.pid, 0.05)
    agg.refresh_workers()
    stats = agg.state.workers["worker_0"]
    assert agg._procs["worker_0"] is proc
    assert stats.cpu_percent and stats.cpu_percent > 0
    assert stats.memory_rss_bytes and stats.num_threads and stats.cpu_user_sec is not None
    assert stats.cpu_system_sec is not None


def test_a_refresh_too_soon_after_the_last_keeps_the_measured_cpu_percent(
    tmp_path: Path, plugins: Any, busy_process: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aggregator_module, "_MIN_CPU_INTERVAL_SEC", 0.0)
    agg = new_aggregator(tmp_path, plugins)
    agg.add_worker("worker_0", busy_process.pid)
    _wait_for_cpu_time(busy_process.pid, 0.05)
    agg.refresh_workers()
    measured = agg.state.workers["worker_0"].cpu_percent
    assert measured and measured > 0
    monkeypatch.setattr(aggregator_module, "_MIN_CPU_INTERVAL_SEC", 3600.0)
    agg.refresh_workers()  # a tick-resolution reading over ~0 s would be 0 % or a multiple of 100 %
    assert agg.state.workers["worker_0"].cpu_percent == measured


def test_router_probe_never_reports_a_made_up_zero_and_then_measures(busy_process: Any) -> None:
    probe = ProcessProbe()
    first = probe.sample(busy_process.pid)
    assert first["cpu_usage"] is None and first["memory_usage"] and first["num_threads"]
    _wait_for_cpu_time(busy_process.pid, 0.05)
    assert probe.sample(busy_process.pid)["cpu_usage"] > 0


# -- workers: lifecycle -----------------------------------------------------------------------------


class FakeHandle:
    """An executor handle whose process exits with ``exitcode`` when joined (None: never exits)."""

    def __init__(self, worker_id: str, exitcode: int | None, state: RunState) -> None:
        self.worker_id = worker_id
        self.pid = None
        self._exitcode = exitcode
        self.state = state
        self.sent: list[Any] = []
        self.state_at_join: str | None = None
        self.alive = True
        self.killed = False
        self.conn = self

    def send(self, message: Any) -> None:
        self.sent.append(message)

    def close(self) -> None:
        pass

    def join(self, timeout: float | None = None) -> None:
        self.state_at_join = self.state.workers[self.worker_id].state
        if self._exitcode is not None:
            self.alive = False

    def is_alive(self) -> bool:
        return self.alive

    def kill(self) -> None:
        if self.alive:
            self.killed, self.alive, self._exitcode = True, False, -9

    @property
    def exitcode(self) -> int | None:
        return self._exitcode


def test_workers_go_stopping_then_stopped_or_failed_as_they_exit(
    tmp_path: Path, plugins: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import inferload.engine.workers as workers_module

    monkeypatch.setattr(workers_module, "EXIT_TIMEOUT_SEC", 0.0)
    ids = ("worker_0", "worker_1", "worker_2", "worker_3")
    agg = new_aggregator(tmp_path, plugins, ids)
    for worker_id in ids:
        agg.state.workers[worker_id].cpu_percent = 12.5
    agg.set_worker_state("worker_3", "failed")  # it reported FAILED during the run
    pool = WorkerPool(plugins.get("executor", "local"))
    pool.handles = [FakeHandle("worker_0", 0, agg.state), FakeHandle("worker_1", 1, agg.state),
                    FakeHandle("worker_2", None, agg.state), FakeHandle("worker_3", 0, agg.state)]
    handles = list(pool.handles)
    pool.stop(agg)

    assert [h.state_at_join for h in handles] == ["stopping", "stopping", "stopping", "failed"]
    assert all(("exit", None) in h.sent for h in handles)
    workers = agg.state.workers
    assert {w: workers[w].state for w in ids} == {"worker_0": "stopped", "worker_1": "failed",
                                                   "worker_2": "failed", "worker_3": "failed"}
    assert handles[2].killed and not handles[0].killed
    assert all(workers[w].stopped_ns is not None for w in ids)
    assert workers["worker_0"].cpu_percent == 0.0
    assert pool.handles == []

    view = workers_view(agg.state, ProcessProbe())
    assert view.workers["worker_0"].status == "stopped"
    assert view.worker_groups["local"].status == "failed" and view.worker_groups["local"].ready_workers == 0


def test_a_stopped_workers_uptime_ends_when_it_stopped(tmp_path: Path, plugins: Any) -> None:
    state = make_state(tmp_path / "artifacts")
    created = time.time() - 100.0
    stats = WorkerStats(worker_id="worker_0", pid=1, state="stopped", create_time=created, cpu_percent=0.0,
                        memory_rss_bytes=1000, stopped_ns=int((created + 10.0) * 1e9))
    state.workers = {"worker_0": stats}
    health = workers_view(state, ProcessProbe()).workers["worker_0"].health
    assert health is not None and health.uptime == pytest.approx(10.0, abs=1e-3)


# -- a run ended by an exception --------------------------------------------------------------------


@pytest.mark.parametrize(("exc", "lifecycle"), [(RuntimeError("boom"), Lifecycle.FAILED),
                                                (KeyboardInterrupt(), Lifecycle.CANCELLED)])
def test_a_run_ended_by_an_exception_leaves_a_finished_state(
    tmp_path: Path, exc: BaseException, lifecycle: Lifecycle
) -> None:
    state = make_state(tmp_path / "artifacts")
    state.lifecycle = Lifecycle.RUNNING
    state.phases = {
        WARMUP: PhaseProgress(phase=WARMUP, phase_index=0, start_ns=1, sent_end_ns=2, requests_end_ns=3),
        PROFILING: PhaseProgress(phase=PROFILING, phase_index=1, start_ns=4),
    }
    run = ProfileRun.__new__(ProfileRun)
    run.state = state
    record_abort(state, exc, run.scrub)
    assert state.lifecycle == lifecycle and state.ended_ns is not None
    assert state.phases[WARMUP].requests_end_ns == 3
    profiling = state.phases[PROFILING]
    assert profiling.finished and profiling.sent_end_ns is not None
    assert profiling.was_cancelled is (lifecycle == Lifecycle.CANCELLED)
    assert (state.error is not None) is (lifecycle == Lifecycle.FAILED)


def test_the_error_of_a_failed_run_holds_no_secret(tmp_path: Path) -> None:
    from inferload.config import ProfileConfig

    state = make_state(tmp_path / "artifacts")
    state.config = ProfileConfig.load({"api_key": "sk-state-secret-4711", "url": "http://127.0.0.1:1"})
    state.lifecycle = Lifecycle.RUNNING
    run = ProfileRun.__new__(ProfileRun)
    run.state = state
    error = RuntimeError("401 from http://bob:pw-4711@h/v1: bad key sk-state-secret-4711")
    record_abort(state, error, run.scrub)
    assert state.lifecycle == Lifecycle.FAILED
    assert "sk-state-secret-4711" not in state.error and "pw-4711" not in state.error
    assert "bad key <redacted>" in state.error


def test_an_interrupted_phase_keeps_the_share_it_reached_and_a_finished_one_reads_100() -> None:
    from inferload.runstate import PhaseProgress

    cut = PhaseProgress(phase="profiling", phase_index=1, total_expected_requests=300, start_ns=0,
                        requests_end_ns=9_000_000_000, requests_completed=8, was_cancelled=True)
    assert cut.percent() == pytest.approx(100 * 8 / 300)
    done = PhaseProgress(phase="profiling", phase_index=1, total_expected_requests=300, start_ns=0,
                         requests_end_ns=9_000_000_000, requests_completed=300)
    assert done.percent() == 100.0
