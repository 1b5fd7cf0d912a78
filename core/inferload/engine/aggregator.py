"""The parent's side of the record stream: every batch updates RunState counters, the metrics
accumulator and the record list, and fires the ``record_batch`` hook once per batch (never per record).
It also samples the workers' CPU and memory with psutil for ``/api/workers``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from inferload.records import ERROR_CANCELLED, RequestRecord
from inferload.runstate import PhaseProgress, RunState, WorkerStats

log = logging.getLogger(__name__)


class RecordAggregator:
    """Owns the run's records and keeps ``state.phases``/``state.workers`` current."""

    def __init__(self, state: RunState, registry: Any, accumulator: Any) -> None:
        self.state = state
        self.registry = registry
        self.accumulator = accumulator
        self.records: list[RequestRecord] = []
        self.sent_by_worker: dict[str, int] = {}
        self._procs: dict[str, Any] = {}
        self._live_dirty = False

    def add_worker(self, worker_id: str, pid: int | None) -> None:
        import psutil

        workers = dict(self.state.workers)
        stats = WorkerStats(worker_id=worker_id, pid=pid, state="running")
        try:
            proc = psutil.Process(pid)
            proc.cpu_percent(None)  # primes the counter; the next call measures since now
            self._procs[worker_id] = proc
            stats.create_time = proc.create_time()
        except (psutil.Error, TypeError, ValueError):
            pass
        workers[worker_id] = stats
        self.state.workers = workers

    def set_worker_state(self, worker_id: str, value: str) -> None:
        stats = self.state.workers.get(worker_id)
        if stats is not None:
            stats.state = value

    def begin_phase(self, phase: PhaseProgress) -> None:
        self.sent_by_worker = {}
        phase.start_ns = time.time_ns()
        self.state.phases = {**self.state.phases, phase.phase: phase}

    def on_records(
        self, worker_id: str, phase: PhaseProgress, records: list[RequestRecord], sent: int
    ) -> None:
        """One batch from a worker; ``sent`` is that worker's running count of requests sent this phase."""
        self.sent_by_worker[worker_id] = sent
        phase.requests_sent = sum(self.sent_by_worker.values())
        stats = self.state.workers.get(worker_id)
        if not records:
            return
        errors = cancelled = 0
        for record in records:
            if record.error is not None:
                if record.error.type == ERROR_CANCELLED:
                    cancelled += 1
                else:
                    errors += 1
        phase.requests_completed += len(records) - cancelled
        phase.requests_cancelled += cancelled
        phase.request_errors += errors
        if stats is not None:
            stats.requests_sent += len(records)
            stats.requests_completed += len(records) - cancelled
            stats.requests_cancelled += cancelled
            stats.request_errors += errors
            stats.last_update_ns = time.time_ns()
        self.records.extend(records)
        self.accumulator.add(records)
        self._live_dirty = True
        self.registry.hook.record_batch(state=self.state, records=records)

    def refresh_live_metrics(self) -> None:
        """Swap in a fresh snapshot when new records arrived since the last one."""
        if not self._live_dirty:
            return
        self._live_dirty = False
        try:
            snapshot = self.accumulator.snapshot()
        except Exception as exc:  # noqa: BLE001 - a live view must never stop the run
            log.debug("live metrics snapshot failed: %s", exc)
            return
        self.state.live_metrics = snapshot
        self.state.live_metrics_updated_ns = time.time_ns()

    def refresh_workers(self) -> None:
        """CPU and memory of each worker process, swapped in as new WorkerStats objects."""
        import psutil

        workers = {}
        for worker_id, stats in self.state.workers.items():
            proc = self._procs.get(worker_id)
            updated = WorkerStats(**vars(stats))
            if proc is not None:
                try:
                    with proc.oneshot():
                        cpu = proc.cpu_times()
                        updated.cpu_percent = proc.cpu_percent(None)
                        updated.cpu_user_sec = cpu.user
                        updated.cpu_system_sec = cpu.system
                        updated.memory_rss_bytes = proc.memory_info().rss
                        updated.num_threads = proc.num_threads()
                except psutil.Error:
                    pass
            updated.last_update_ns = time.time_ns()
            workers[worker_id] = updated
        self.state.workers = workers

    def worker_cpu_seconds(self) -> float:
        """Total user+system CPU the workers have used so far (for the CPU-per-request figure)."""
        total = 0.0
        for stats in self.state.workers.values():
            total += (stats.cpu_user_sec or 0.0) + (stats.cpu_system_sec or 0.0)
        return total
