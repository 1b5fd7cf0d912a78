"""The signals that end a run: SIGINT (Ctrl+C), SIGTERM (a supervisor, ``timeout``, Kubernetes) and SIGHUP
(the terminal went away) all act as Ctrl+C.

The first stops sending and lets in-flight requests finish within the grace period; the second cancels
what is still in flight at once; a third raises :class:`KeyboardInterrupt` in the parent. While the run still
prepares (``preparing``: dataset, payloads, target; no worker yet) there is nothing to drain, so the first
signal raises :class:`~inferload.errors.Interrupted` at once (exit 128 + its number): a dataset file that
never ends a line, or a long dataset build, stops on Ctrl+C or SIGTERM. Workers ignore
all three (a signal to the process group reaches them too) and wait for the parent's word
(docs/architecture.md, "Data flow").

A signal the process was started ignoring stays ignored, as the shell meant it: ``nohup`` ignores SIGHUP
(a soak started with it outlives the terminal), and a shell without job control starts a background
command (``cmd &`` in a script) ignoring SIGINT and SIGQUIT.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from inferload.errors import Interrupted

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopSignals:
    """Counts the stop signals received between :meth:`install` and :meth:`restore`.

    ``count`` is how many arrived, ``last`` the latest one (SIGINT until one arrives). Off the main thread
    (where Python cannot install handlers) both are no-ops and ``count`` stays 0."""

    def __init__(self) -> None:
        self.count = 0
        self.last: int = signal.SIGINT
        self.preparing = True
        """True until the runner starts its workers (it sets this False just before)."""
        self._previous: dict[int, Any] = {}
        self.by_api = False
        """The first stop came from ``POST /api/control/stop`` (:meth:`request_stop`), not a signal."""

    def install(self) -> None:
        """Handle the stop signals from now on, remembering the handlers they had; one that is ignored
        (``SIG_IGN``) stays ignored."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in STOP_SIGNALS:
            previous = signal.getsignal(signum)
            if previous == signal.SIG_IGN:  # ignored when we started (nohup, a background job): keep it so
                continue
            self._previous[signum] = previous
            signal.signal(signum, self._on_signal)

    def restore(self) -> None:
        """Give each stop signal back the handler it had before :meth:`install`."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    @property
    def exit_code(self) -> int:
        """128 + the latest signal's number: 130 SIGINT, 143 SIGTERM, 129 SIGHUP."""
        return 128 + int(self.last)

    def request_stop(self) -> None:
        """A stop asked for by other means than a signal (``POST /api/control/stop``): counts as one
        SIGINT, so the run drains as after Ctrl+C."""
        if not self.count:
            self.by_api = True
        self.count += 1

    def first_stop(self) -> tuple[str, str]:
        """What stopped the run, as the console names it (``"SIGTERM"``, ``"Ctrl+C (SIGINT)"``, ``"POST
        /api/control/stop"``), and what a second one does: the drain line says both, so a run that
        ``timeout`` or a supervisor stopped does not tell the user to press Ctrl+C."""
        if self.by_api:
            return "POST /api/control/stop", "Ctrl+C or SIGTERM cancels them now"  # a second POST is a 409
        if self.last == signal.SIGINT:
            return "Ctrl+C (SIGINT)", "Ctrl+C again cancels them now"
        name = signal.Signals(self.last).name
        return name, f"a second {name} (or Ctrl+C) cancels them now"

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.count += 1
        self.last = signum
        if self.count > 2 or self.preparing:
            raise Interrupted(signum)
