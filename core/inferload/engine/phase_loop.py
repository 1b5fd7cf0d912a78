"""The phase loop: each phase (warmup, profiling) commanded to the workers, their record batches fed to
the aggregator as they arrive, stop signals turned into a graceful stop, then a cancel
(docs/architecture.md, "Data flow": schedule → executor/workers → records).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any

from inferload.engine.messages import CANCEL, FAILED, PHASE, PHASE_DONE, RECORDS, STATS, STOP, PhaseCommand
from inferload.records import PROFILING
from inferload.runstate import PhaseProgress

if TYPE_CHECKING:
    from inferload.engine.aggregator import RecordAggregator
    from inferload.engine.guards import GuardStop
    from inferload.engine.load_driver import LoadDriver
    from inferload.engine.schedule import PhasePlan
    from inferload.engine.stop_signals import StopSignals
    from inferload.engine.workers import WorkerPool
    from inferload.registry import PluginRegistry
    from inferload.runstate import RunState
    from inferload.view import ShownView

log = logging.getLogger("inferload.profile")

TICK_SEC = 0.25
"""Longest wait for a worker message before signals, deadlines and the view are looked at again."""
START_LEAD_NS = 10_000_000
"""Phase start is set this far ahead so every worker has the command before t0."""
REFRESH_SEC = 0.5
"""How often the live metrics and worker CPU/memory figures are refreshed during a phase."""


class PhaseLoop:
    """Runs the phases of one run over ``pool``'s workers, keeping ``state`` current through
    ``aggregator`` and ``view``; ``grace_sec`` is the grace period a stop signal grants in-flight requests."""

    def __init__(
        self,
        state: RunState,
        registry: PluginRegistry,
        pool: WorkerPool,
        aggregator: RecordAggregator,
        view: ShownView,
        signals: StopSignals,
        grace_sec: float,
        scrub: Callable[[str], str],
        load: LoadDriver,
    ) -> None:
        self.state = state
        self.registry = registry
        self.pool = pool
        self.aggregator = aggregator
        self.view = view
        self.signals = signals
        self.grace_sec = grace_sec
        self.scrub = scrub
        self.load = load
        self._stopping_sent = False
        self.stopped_for: str | None = None
        """The line that ended the run early, when a run guard stopped it (:mod:`inferload.engine.guards`:
        the credentials refused, the server gone); None otherwise."""
        self.stop_exit_code = 1
        """The exit code of the guard that stopped the run."""

    def run(self, phases: Sequence[PhasePlan]) -> int | None:
        """Run ``phases`` in order until one is interrupted or a worker fails; returns the wall-clock
        start (ns) of the first profiling phase, None if none began. The view is closed at the end."""
        profiling_start: int | None = None
        self.aggregator.guards.start()
        # asked once before anything is sent: a guard may see the run cannot go on (the disk already full)
        self._stopped_by(self.aggregator.guards.verdict())
        try:
            for index, plan in enumerate(phases):
                if self.signals.count or self.pool.failure or self.stopped_for:
                    break
                if plan.phase == PROFILING:
                    profiling_start = time.time_ns()
                self.run_phase(index, plan)
        finally:
            self.load.close()
            self.view.close()
        return profiling_start

    def run_phase(self, index: int, plan: PhasePlan) -> None:
        """Command phase ``index`` to every worker and collect its records until each reports it done
        (or is lost); the phase's PhaseProgress then holds its end times and how it ended."""
        pool, aggregator, signals = self.pool, self.aggregator, self.signals
        progress = PhaseProgress(
            phase=plan.phase,
            phase_index=index,
            total_expected_requests=plan.expected_requests or (
                len(plan.offsets_ns) if plan.offsets_ns is not None else plan.count
            ),
            expected_duration_sec=plan.duration_sec,
            expected_grace_period_sec=plan.grace_sec,
        )
        aggregator.begin_phase(progress)
        self.registry.hooks.phase_changed(state=self.state, phase=plan.phase)
        pool.counter.value = plan.first_id
        # an executor whose commands take longer to arrive (over a network) asks for a longer lead
        t0 = perf_counter_ns() + max(START_LEAD_NS, getattr(pool.executor_instance, "start_lead_ns", 0))
        stop_ns = t0 + int(plan.duration_sec * 1e9) if plan.duration_sec is not None else None
        grace_ns = stop_ns + int((plan.grace_sec or 0.0) * 1e9) if stop_ns is not None else None
        end_id = plan.first_id + plan.count if plan.count is not None else None
        running: dict[Any, Any] = {}
        self.load.begin_phase(plan, t0, len(pool.handles), pool.shares)
        for i, handle in enumerate(pool.handles):
            command = PhaseCommand(
                phase=plan.phase,
                t0_ns=t0,
                end_id=end_id,
                schedule=plan.worker_schedule(i, len(pool.handles)),
                stop_ns=stop_ns,
                grace_ns=grace_ns,
                **self.load.command_fields(i),
            )
            handle.conn.send((PHASE, command))
            running[handle.conn] = handle
        self._stopping_sent = False
        last_refresh = 0.0
        while running:
            self.load.poll()  # the plan's steps and the control routes' commands (may request a stop)
            if self.stopped_for is None:  # a spool the disk could not take: always ends the run
                self._stopped_by(aggregator.write_stop())
            if self.stopped_for is None and not signals.count and not self._all_sent(progress):
                self._stopped_by(aggregator.guards.verdict())
            if (signals.count or self.stopped_for) and not self._stopping_sent:
                self._send_stop(progress)
            if signals.count > 1:
                pool.broadcast((CANCEL, None))
            for conn in wait([*running, self.load.waker], timeout=TICK_SEC):
                handle = running.get(conn)
                if handle is None:  # the control inbox: polled at the top of the next pass
                    continue
                try:
                    message = conn.recv()  # type: ignore[union-attr]
                except (EOFError, OSError):
                    pool.lost(handle, aggregator)
                    del running[conn]
                    continue
                kind = message[0]
                if kind == RECORDS:
                    aggregator.on_records(handle.worker_id, progress, message[1], message[2])
                elif kind == PHASE_DONE:
                    aggregator.on_records(handle.worker_id, progress, [], message[2])
                    del running[conn]
                elif kind == STATS:
                    aggregator.update_worker(handle.worker_id, message[1])
                elif kind == FAILED:
                    pool.failed(handle, self.scrub(f"{handle.worker_id} failed: {message[1]}"), aggregator)
                    log.error("%s", pool.failure)
                    del running[conn]
            now = time.monotonic()
            if now - last_refresh >= REFRESH_SEC:
                last_refresh = now
                aggregator.refresh_live_metrics()
                aggregator.refresh_workers()
            if stop_ns is not None and progress.sent_end_ns is None and perf_counter_ns() >= stop_ns:
                progress.sent_end_ns = time.time_ns()
            if grace_ns is not None and perf_counter_ns() >= grace_ns:
                progress.grace_period_timeout_triggered = True
            self.view.update()
        if progress.sent_end_ns is None:
            progress.sent_end_ns = time.time_ns()
        self.load.end_phase(progress.sent_end_ns)
        progress.requests_end_ns = time.time_ns()
        if stop_ns is not None and perf_counter_ns() >= stop_ns:
            progress.timeout_triggered = True  # ended by --benchmark-duration, not by its request count
        if self.stopped_for is None:
            self._stopped_by(aggregator.write_stop())  # in the phase's last records
        if signals.count:
            progress.was_cancelled = True
        elif self.stopped_for is None and not pool.failure:
            self._stopped_by(aggregator.guards.at_end())  # a guard's final word on a phase that ended
        aggregator.refresh_live_metrics()
        aggregator.refresh_workers()
        self.view.update(force=True)

    def _stopped_by(self, stop: GuardStop | None) -> None:
        """A run guard's stop, if any: its line (secrets scrubbed) logged once and kept as the run's end."""
        if stop is not None:
            self.stopped_for, self.stop_exit_code = self.scrub(stop.reason), stop.exit_code
            log.error("%s", self.stopped_for)

    @staticmethod
    def _all_sent(progress: PhaseProgress) -> bool:
        """Whether the phase has sent every request it plans (a stop would end nothing early)."""
        expected = progress.total_expected_requests
        return expected is not None and progress.requests_sent >= expected

    def _send_stop(self, progress: PhaseProgress) -> None:
        """The first stop signal, or a run guard's stop: no new requests; in-flight ones get the grace
        period."""
        deadline = perf_counter_ns() + int(self.grace_sec * 1e9)
        self.pool.broadcast((STOP, deadline))
        self._stopping_sent = True
        progress.sent_end_ns = time.time_ns()
        if not self.signals.count:
            return  # stopped by a run guard: said in its own line; the phase was not cancelled
        progress.was_cancelled = True
        stopped_by, second = self.signals.first_stop()
        log.warning(
            "interrupted by %s: no new requests; waiting up to %g s for %d in flight (%s)",
            stopped_by,
            self.grace_sec,
            max(0, progress.requests_sent - progress.requests_completed - progress.requests_cancelled),
            second,
        )
