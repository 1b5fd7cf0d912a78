"""The engine's side of load that changes over time (docs/control.md): the plan's steps and the control
routes' commands turned into worker commands, and the run's load segments kept in
:class:`~inferload.load_control.LoadControl`.

The phase loop calls :meth:`LoadDriver.begin_phase` before it commands a phase, takes each worker's load
fields from :meth:`LoadDriver.command_fields`, calls :meth:`LoadDriver.poll` on every pass (it also waits
on :attr:`LoadDriver.waker`, so a control request is acted on at once, not at the next tick) and
:meth:`LoadDriver.end_phase` when the phase is over.

The plan's steps go to the workers with the phase command, each with its absolute instant, so a step
takes effect at the same instant on every worker however busy the parent is; a live change is sent to
every worker at once with an instant :data:`CHANGE_LEAD_NS` ahead, for the same reason.
"""

from __future__ import annotations

import contextlib
import logging
import time
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any

from inferload.engine.messages import LOAD, LoadCommand
from inferload.engine.schedule import split_concurrency
from inferload.load_control import STOP, LoadControl, LoadTarget
from inferload.load_plan import REQUEST_RATE, LoadStep, is_dynamic, planned_steps
from inferload.records import PROFILING

if TYPE_CHECKING:
    from inferload.config import ProfileConfig
    from inferload.engine.schedule import PhasePlan
    from inferload.engine.stop_signals import StopSignals
    from inferload.engine.workers import WorkerPool

log = logging.getLogger("inferload.profile")

CHANGE_LEAD_NS = 10_000_000
"""A live change takes effect this far ahead of the moment it is sent, so every worker has it by then."""


class LoadDriver:
    """Applies ``control``'s commands and ``config``'s plan to ``pool``'s workers; see the module docstring.

    ``base`` is the load the arrival schedule is drawn at (``--request-rate``); a rate target paces it at
    ``target / base``."""

    def __init__(self, config: ProfileConfig, control: LoadControl, pool: WorkerPool, signals: StopSignals
                 ) -> None:
        self.control = control
        self.pool = pool
        self.signals = signals
        self.base = control.target.value
        self.steps: list[LoadStep] = planned_steps(config)
        self.dynamic = is_dynamic(config)
        """Whether the load can change: only then are segments logged (a fixed load has one, unsaid)."""
        self._pending: list[tuple[int, LoadStep]] = []
        self._profiling = False
        self._t0_ns = 0
        self._fields: list[dict[str, Any]] = []

    @property
    def waker(self) -> Any:
        """Readable while control commands wait."""
        return self.control.waker

    def begin_phase(self, plan: PhasePlan, t0_ns: int, workers: int, shares: list[int | None]) -> None:
        """Phase ``plan`` starts at ``t0_ns`` (``perf_counter_ns``) on ``workers`` workers whose
        ``--concurrency`` cap shares are ``shares``; the profiling phase opens the first load segment (at the
        plan's first step when it starts at 0) and carries the plan's later steps."""
        control = self.control
        self._profiling = plan.phase == PROFILING
        self._t0_ns = t0_ns
        steps = self.steps if self._profiling else []
        source = "initial"
        if steps and steps[0].at_sec == 0:
            control.step_to(steps[0].value)
            source, steps = steps[0].source, steps[1:]
        self._pending = [(t0_ns + round(step.at_sec * 1e9), step) for step in steps]
        target = control.target
        self._fields = [
            {**self._load(target, i, workers, shares[i]), "paused": target.paused,
             "load_changes": tuple(LoadCommand(at_ns, **self._pace_or_slots(step.value, i, workers))
                                   for at_ns, step in self._pending)}
            for i in range(workers)
        ]
        if self._profiling:
            control.start_segment(t0_ns, target, source)
            if self.dynamic:
                log.info("load segment 0: %s (%s)", target.describe(), source)
        control.open()

    def command_fields(self, index: int) -> dict[str, Any]:
        """Worker ``index``'s load fields of its PhaseCommand: ``concurrency``, ``speed``, ``paused``,
        ``load_changes``."""
        return self._fields[index]

    def poll(self) -> None:
        """Record the plan's steps whose instant has passed, and apply the control routes' commands."""
        control = self.control
        if self.signals.count:
            control.mark_stopping()
        now = perf_counter_ns()
        while self._pending and self._pending[0][0] <= now:
            at_ns, step = self._pending.pop(0)
            self._segment(at_ns, control.step_to(step.value), step.source)
        for command, target in control.drain():
            if command == STOP:
                log.warning("stop requested over the control API (POST /api/control/stop)")
                self.signals.request_stop()
                continue
            assert target is not None
            at_ns = perf_counter_ns() + CHANGE_LEAD_NS
            handles = self.pool.handles
            for i, handle in enumerate(handles):
                fields = self._pace_or_slots(target.value, i, len(handles))
                with contextlib.suppress(OSError, ValueError):
                    handle.conn.send((LOAD, LoadCommand(at_ns, paused=target.paused, **fields)))
            self._segment(at_ns, target, "control")

    def end_phase(self, sent_end_ns: int) -> None:
        """The phase stopped sending at ``sent_end_ns`` (wall clock): no change is taken until the next one,
        and the profiling phase's last segment ends there."""
        self.control.close("the run is between phases" if not self._profiling else
                           "the profiling phase has stopped sending")
        if self._profiling:
            self.control.end_segments(perf_counter_ns() - (time.time_ns() - sent_end_ns))

    def close(self) -> None:
        """The run sends no more."""
        self.control.close("the run has stopped sending")

    def _segment(self, at_ns: int, target: LoadTarget, source: str) -> None:
        offset = (at_ns - self._t0_ns) / 1e9
        if self._profiling:
            segment = self.control.start_segment(at_ns, target, source)
            log.info("load segment %d from +%.2f s: %s (%s)", segment.index, offset, target.describe(),
                     source)
        else:
            log.info("load from +%.2f s of the warmup: %s (%s)", offset, target.describe(), source)

    def _pace_or_slots(self, value: float, index: int, workers: int) -> dict[str, Any]:
        """``{"speed": value / base}`` in rate mode, else worker ``index``'s share ``{"slots": n}``."""
        if self.control.target.kind == REQUEST_RATE:
            return {"speed": value / self.base}
        return {"slots": split_concurrency(int(value), workers)[index]}

    def _load(self, target: LoadTarget, index: int, workers: int, share: int | None) -> dict[str, Any]:
        """The PhaseCommand's ``speed`` and ``concurrency``: rate mode keeps the cap's ``share``."""
        fields = self._pace_or_slots(target.value, index, workers)
        if "speed" in fields:
            return {"speed": fields["speed"], "concurrency": share}
        return {"concurrency": fields["slots"]}

