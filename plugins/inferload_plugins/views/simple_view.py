"""``--ui simple``: a line on stderr every 5 seconds, ``inferload: [profiling] 14/20 requests, 70%, 16 sent,
5.1 req/s | TTFT p50 …`` (counts, then the live figures of :mod:`.progress_text`), fit for logs and
pipes; the run's view without ``--ui`` when stderr is not a terminal."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from inferload import hookimpl
from inferload.types import ViewSpec
from inferload_plugins.views.progress_text import live_figures, progress_line

if TYPE_CHECKING:
    from inferload.runstate import RunState


@hookimpl
def register_views() -> list[ViewSpec]:
    return [ViewSpec(name="simple", description="A progress line on stderr every 5 s, for logs and pipes",
                     factory=SimpleView, interval=5.0)]


class SimpleView:
    """Writes one line per :meth:`update`; nothing to tear down."""

    def __init__(self, state: RunState) -> None:
        self.state = state

    def update(self) -> None:
        figures = live_figures(self.state)
        sys.stderr.write(f"inferload: {progress_line(self.state)}{' | ' if figures else ''}{figures}\n")
        sys.stderr.flush()

    def close(self) -> None:
        """Nothing: every line is already written."""
