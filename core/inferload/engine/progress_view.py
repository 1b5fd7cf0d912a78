"""The terminal progress view of a run: ``none``, ``simple`` (a line every few seconds on stderr) or
``rich`` (a live bar per phase, the default on a terminal), each with the live TTFT/ITL p50/p99, throughput
and errors of :mod:`inferload.live_figures`: after the counts on the simple line, on a line under the bars
in the rich view. It only reads RunState."""

from __future__ import annotations

import sys
import time
from typing import Any

from inferload.live_figures import live_figures
from inferload.runstate import RunState


def resolve_ui(ui: str | None) -> str:
    """``--ui`` as given, else rich on a terminal and simple in a pipe."""
    if ui:
        return ui
    return "rich" if sys.stderr.isatty() else "simple"


def _line(state: RunState, with_phase: bool = True) -> str:
    phase = state.current_phase
    if phase is None:
        return "starting"
    done = phase.requests_completed + phase.requests_cancelled
    total = f"/{phase.total_expected_requests}" if phase.total_expected_requests else ""
    pct = phase.percent()
    rate = phase.requests_per_second()
    parts = [f"[{phase.phase}] {done}{total} requests" if with_phase else f"{done}{total} requests"]
    if pct is not None:
        parts.append(f"{pct:.0f}%")
    parts.append(f"{phase.requests_sent} sent")
    if phase.request_errors:
        parts.append(f"{phase.request_errors} errors")
    if rate:
        parts.append(f"{rate:,.1f} req/s")
    return ", ".join(parts)


class ProgressView:
    """Call :meth:`update` as often as you like (it throttles itself) and :meth:`close` at the end."""

    def __init__(self, kind: str, state: RunState, interval: float | None = None) -> None:
        self.kind = kind
        self.state = state
        self.interval = interval if interval is not None else (0.25 if kind == "rich" else 5.0)
        self._last = 0.0
        self._progress: Any = None
        self._task: Any = None
        self._task_phase: str | None = None
        if kind == "rich":
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
            from rich.text import Text

            view = self

            class WithFigures(Progress):
                """The bars, then the live numbers on a line of their own (they fit any width)."""

                def get_renderables(self) -> Any:
                    yield from super().get_renderables()
                    if view._figures:
                        yield Text(view._figures, overflow="fold")

            self._figures = ""
            self._progress = WithFigures(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._progress.start()

    def update(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.kind == "none" or (not force and now - self._last < self.interval):
            return
        self._last = now
        figures = live_figures(self.state)
        if self.kind == "simple":
            sys.stderr.write(f"inferload: {_line(self.state)}{' | ' if figures else ''}{figures}\n")
            sys.stderr.flush()
            return
        phase = self.state.current_phase
        if phase is None:
            return
        if self._task_phase != phase.phase:
            self._task = self._progress.add_task(phase.phase, total=100.0, info="")
            self._task_phase = phase.phase
        self._figures = f"  {figures}" if figures else ""
        self._progress.update(
            self._task, completed=phase.percent() or 0.0, info=_line(self.state, with_phase=False)
        )

    def close(self) -> None:
        if self.kind != "none":
            self.update(force=True)
        if self._progress is not None:
            self._progress.stop()
