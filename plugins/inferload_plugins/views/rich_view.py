"""``--ui rich``: a live bar per phase on stderr with its counts, and the live TTFT/ITL p50/p99, throughput
and errors (:mod:`.progress_text`) on a line under the bars. The catalogue's default view; when stderr is
not a terminal and no ``--ui`` is given, the run shows ``simple`` instead (``when_piped``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from inferload import hookimpl
from inferload.types import ViewSpec
from inferload_plugins.views.progress_text import live_figures, progress_line

if TYPE_CHECKING:
    from inferload.runstate import RunState


@hookimpl
def register_views() -> list[ViewSpec]:
    return [ViewSpec(name="rich", description="A live progress bar per phase with the live figures under it",
                     factory=RichView, interval=0.25, when_piped="simple")]


class RichView:
    """The bars (rich's ``Progress``, started at once), a task per phase, refreshed on :meth:`update`."""

    def __init__(self, state: RunState) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
        from rich.text import Text

        self.state = state
        self._task: Any = None
        self._task_phase: str | None = None
        self._figures = ""
        view = self

        class WithFigures(Progress):
            """The bars, then the live numbers on a line of their own (they fit any width)."""

            def get_renderables(self) -> Any:
                yield from super().get_renderables()
                if view._figures:
                    yield Text(view._figures, overflow="fold")

        self._progress = WithFigures(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._progress.start()

    def update(self) -> None:
        """A new bar when a phase began; the current one's percentage, counts and the live figures."""
        phase = self.state.current_phase
        if phase is None:
            return
        figures = live_figures(self.state)
        if self._task_phase != phase.phase:
            self._task = self._progress.add_task(phase.phase, total=100.0, info="")
            self._task_phase = phase.phase
        self._figures = f"  {figures}" if figures else ""
        self._progress.update(
            self._task, completed=phase.percent() or 0.0, info=progress_line(self.state, with_phase=False)
        )

    def close(self) -> None:
        """Stop the live display, leaving the last frame on the terminal."""
        self._progress.stop()
