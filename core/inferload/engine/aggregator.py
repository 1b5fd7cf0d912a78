"""The parent's side of the record stream: every batch updates RunState counters and the metrics
accumulator, goes to the record store on disk (:mod:`inferload.record_store`) as the bytes the worker
sent, with its records' metric values and ``profile_export.jsonl`` lines, each worked out once here, and
fires the ``record_batch`` hook once per batch (never per record).
It also samples the workers' CPU and memory with psutil for ``/api/workers``.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inferload.engine.guards import GuardStop, RunGuards
from inferload.engine.messages import decode_batch
from inferload.export import record_lines_wanted, secret_values
from inferload.record_lines import encode_measured_lines
from inferload.record_store import MeasuredValues, RecordStore
from inferload.records import ERROR_CANCELLED, ERROR_REQUEST_CANCELLED, RequestRecord
from inferload.redact import redact_text
from inferload.runstate import PhaseProgress, RunState, WorkerStats
from inferload.spool_write import EndReserve

if TYPE_CHECKING:
    from inferload.metrics_engine import MetricsAccumulator
    from inferload.registry import PluginRegistry

log = logging.getLogger(__name__)

_MIN_CPU_INTERVAL_SEC = 0.2
"""CPU percent is measured over at least this long: psutil counts CPU time in clock ticks (10 ms), so a
shorter interval gives 0 % or a multiple of 100 % instead of a usage figure."""
_GONE = ("stopped", "failed")


def spool_dir(state: RunState) -> Path | None:
    """Where a run's temporary record and value files go: its artifact directory once it exists (the disk
    the user chose for the run's output), else the system's temporary directory."""
    directory = getattr(state, "artifact_dir", None)
    return Path(directory) if directory is not None and Path(directory).is_dir() else None


class RecordAggregator:
    """Owns the run's records and keeps ``state.phases``/``state.workers`` current."""

    def __init__(self, state: RunState, registry: PluginRegistry, accumulator: MetricsAccumulator) -> None:
        self.state = state
        self.registry = registry
        self.accumulator = accumulator
        self.records = RecordStore(spool_dir=spool_dir(state))
        """Every record so far, on disk in arrival order, with its metric values and JSONL line."""
        self.records.value_tags = accumulator.record_tags
        self._secrets = secret_values(state.config)
        self._store_lines = record_lines_wanted(registry, getattr(state, "config", None))
        """Whether an exporter that will run reads the JSONL lines (none at ``--export-level summary``, or
        with the JSONL exporter disabled): then they are neither encoded nor stored."""
        """The run's secret values, scrubbed from error messages in the JSONL lines."""
        self.sent_by_worker: dict[str, int] = {}
        self._sent_before_phase: dict[str, int] = {}
        self._procs: dict[str, Any] = {}
        """One primed ``psutil.Process`` per worker, reused: cpu_percent measures since its previous call."""
        self._cpu_sampled_at: dict[str, float] = {}
        self._live_dirty = False
        self.write_error: OSError | None = None
        """The first batch the record store could not write (a full disk); the run then stops."""
        self.reserve = EndReserve(spool_dir(state))
        """Space held on the spools' disk for the end of the run, given back by :meth:`release_reserve`."""
        self.guards = RunGuards(registry, getattr(state, "config", None))
        """The run's ``run_guard`` plugins, fed every batch here; the phase loop asks them whether to stop."""

    def add_worker(self, worker_id: str, pid: int | None, ready_ns: int | None = None) -> None:
        """A worker reported ready (``ready_ns``: wall-clock ns its transport set-up ended)."""
        import psutil

        workers = dict(self.state.workers)
        stats = WorkerStats(worker_id=worker_id, pid=pid, state="running", ready_ns=ready_ns)
        try:
            proc = psutil.Process(pid)
            proc.cpu_percent(None)  # primes the counter; the next call measures since now
            self._procs[worker_id] = proc
            self._cpu_sampled_at[worker_id] = time.monotonic()
            stats.create_time = proc.create_time()
        except (psutil.Error, TypeError, ValueError):
            pass
        workers[worker_id] = stats
        self.state.workers = workers

    def update_worker(self, worker_id: str, fields: dict[str, Any]) -> None:
        """Figures a worker's executor measured itself (a worker on another machine: node, CPU, memory,
        clock offset): ``fields`` are :class:`WorkerStats` field names; unknown names are ignored."""
        stats = self.state.workers.get(worker_id)
        if stats is None:
            return
        known = {f.name for f in dataclasses.fields(WorkerStats)}
        updated = dataclasses.replace(
            stats, **{k: v for k, v in fields.items() if k in known and k not in ("worker_id", "state")}
        )
        updated.last_update_ns = time.time_ns()
        self.state.workers = {**self.state.workers, worker_id: updated}

    def set_worker_state(self, worker_id: str, value: str) -> None:
        """Move a worker to ``value`` (running, stopping, stopped, failed) as it happens. A failed worker
        stays failed; a worker that is gone gets ``stopped_ns``, 0 % CPU and is no longer sampled."""
        stats = self.state.workers.get(worker_id)
        if stats is None or stats.state == "failed" or stats.state == value:
            return
        updated = dataclasses.replace(stats, state=value, last_update_ns=time.time_ns())
        if value in _GONE:
            updated.stopped_ns = updated.last_update_ns
            if updated.cpu_percent is not None:
                updated.cpu_percent = 0.0
            self._procs.pop(worker_id, None)
        self.state.workers = {**self.state.workers, worker_id: updated}

    def begin_phase(self, phase: PhaseProgress) -> None:
        self.sent_by_worker = {}
        self._sent_before_phase = {wid: stats.requests_sent for wid, stats in self.state.workers.items()}
        phase.start_ns = time.time_ns()
        self.state.phases = {**self.state.phases, phase.phase: phase}

    def on_records(
        self, worker_id: str, phase: PhaseProgress, batch: bytes | list[RequestRecord], sent: int
    ) -> None:
        """One batch from a worker (its pickled bytes, :func:`~inferload.engine.messages.encode_batch`, or
        the records); ``sent`` is that worker's running count of requests sent this phase."""
        self.sent_by_worker[worker_id] = sent
        phase.requests_sent = sum(self.sent_by_worker.values())
        stats = self.state.workers.get(worker_id)
        if stats is not None:  # sent so far over all phases, in flight included (task_stats.total)
            stats.requests_sent = self._sent_before_phase.get(worker_id, 0) + sent
        if not batch:
            return
        records, data = decode_batch(batch)
        self.guards.observe(records)
        errors = cancelled = 0
        for record in records:
            if record.error is not None:
                if record.error.type in (ERROR_CANCELLED, ERROR_REQUEST_CANCELLED):
                    cancelled += 1
                else:
                    errors += 1
        values = self.accumulator.add(records)  # may mark a record metric_error: stored as it ends up
        metric_errors = sum(1 for record in records if record.error is not None) - errors - cancelled
        errors += metric_errors
        phase.requests_completed += len(records) - cancelled
        phase.requests_cancelled += cancelled
        phase.request_errors += errors
        if stats is not None:
            stats.requests_completed += len(records) - cancelled
            stats.requests_cancelled += cancelled
            stats.request_errors += errors
            stats.last_update_ns = time.time_ns()
        if self.write_error is not None:  # the disk was full: what it holds stays whole, the space
            self.records.unstored += len(records)  # given back by the end reserve is for the end
        else:
            try:
                self.records.append(records, data=None if metric_errors else data, values=values,
                                    lines=self._lines(records, values) if self._store_lines else None)
            except OSError as exc:  # a full disk: the run stops (write_stop); what was stored stays whole
                self.write_error = exc
        self._live_dirty = True
        self.registry.hooks.record_batch(state=self.state, records=records)

    def release_reserve(self) -> None:
        """The run has stopped sending: give back the space held for its end (:class:`EndReserve`)."""
        self.reserve.release()

    def write_stop(self) -> GuardStop | None:
        """The run's stop when one of its spools could not be written (a full disk, despite the
        ``disk-space`` guard: another process filled it, or the guard is off): one line naming the file
        and what was kept; None while every write succeeded. Cheap: asked every pass of the phase loop."""
        exc = self.write_error or self.records.write_error or self.accumulator.write_error()
        if exc is None:
            return None
        what = exc.filename or "a file of the run"
        where = "are in profile_export.jsonl" if self._store_lines else "are in every file of the run"
        kept = (f"the {len(self.records):,} request(s) stored before {where}; those that "
                "finish after are counted in the statistics only")
        fix = ("raise the file-size limit (ulimit -f)" if exc.errno == errno.EFBIG else
               "free space there or give --artifact-dir on a disk with more room"
               + (" (or --export-level summary: no line per request)" if self._store_lines else ""))
        return GuardStop(f"stopped early: could not write {what}: {exc.strerror or exc}; {fix}; {kept}")

    def _lines(self, records: list[RequestRecord], values: list[MeasuredValues]) -> bytes:
        """The batch's profile_export.jsonl lines, from the values just computed (a warmup record's
        are computed here: the accumulator leaves warmup out of the run's figures)."""
        accumulator = self.accumulator
        return encode_measured_lines(records, values, accumulator.tag_units, accumulator.metrics_of,
                                     self._scrub)

    def _scrub(self, text: str) -> str:
        return redact_text(text, self._secrets)

    def refresh_live_metrics(self) -> None:
        """Swap in a fresh snapshot when new records arrived since the last one.

        Live metrics describe the profiling phase only: until its first record (success, error or
        cancellation) has arrived they stay empty, so warmup never shows zero-valued counts."""
        if not self._live_dirty:
            return
        if not (self.accumulator.request_count or self.accumulator.error_count):
            return  # only warmup records so far; stay dirty so the first profiling batch is published
        self._live_dirty = False
        try:
            snapshot = self.accumulator.snapshot()
        except Exception as exc:  # noqa: BLE001 - a live view must never stop the run
            log.debug("live metrics snapshot failed: %s", exc)
            return
        self.state.live_metrics = snapshot
        self.state.live_metrics_updated_ns = time.time_ns()

    def refresh_workers(self) -> None:
        """CPU and memory of each live worker process, swapped in as new WorkerStats objects.

        CPU percent is over the interval since the previous measurement of the same process (at least
        ``_MIN_CPU_INTERVAL_SEC``; a sooner refresh keeps the previous figure). Workers that are gone keep
        their last sampled figures."""
        import psutil

        workers = {}
        now = time.monotonic()
        for worker_id, stats in self.state.workers.items():
            proc = self._procs.get(worker_id)
            if proc is None or stats.state in _GONE:
                workers[worker_id] = stats
                continue
            updated = dataclasses.replace(stats)
            try:
                with proc.oneshot():
                    cpu = proc.cpu_times()
                    if now - self._cpu_sampled_at.get(worker_id, 0.0) >= _MIN_CPU_INTERVAL_SEC:
                        updated.cpu_percent = proc.cpu_percent(None)
                        self._cpu_sampled_at[worker_id] = now
                    updated.cpu_user_sec = cpu.user
                    updated.cpu_system_sec = cpu.system
                    updated.memory_rss_bytes = proc.memory_info().rss
                    updated.num_threads = proc.num_threads()
            except psutil.Error:
                pass
            updated.last_update_ns = time.time_ns()
            workers[worker_id] = updated
        self.state.workers = workers
