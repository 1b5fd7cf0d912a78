"""Run guard ``server-gone``: ends a run whose server stopped accepting connections (killed, crashed, its
port closed). Once the requests that finished last all failed with a connection error before any HTTP
status came back (refused, reset, closed before the response began), none succeeding in between, for
:data:`WINDOW_SECONDS` seconds (and at least :data:`MIN_FAILURES` of them) or :data:`BURST_FAILURES` in a
row (four per request the run keeps in flight, if more), the run stops sending and ends with one line:
when the failures began, the latest one's error, how many requests had succeeded before. Exit code 1,
``is_complete`` false, every request sent kept (docs/profile.md, "When the server cannot be used").

Any other outcome, a success or a failure that shows the server is there (an HTTP status, 429 and 5xx
included, a timeout, a malformed or empty answer), ends the streak: those can heal and never stop a run.
Cancelled requests do not count either way, nor do responses cut after their status (the server was
there when it answered; one that always drops its streams mid-response ends as a run whose requests all
failed, not as a server gone).

A closed-loop run (``--concurrency``) does not back off on a refused connection: the refusal comes back at
once, so the workers send as fast as the loop turns (thousands of requests a second on loopback) until
the guard stops them, every one of them a record. Backing off would change the load the run offers and
hide that it was failing; :data:`BURST_FAILURES` bounds the flood instead (a few hundred records, tens of
milliseconds), and stops such a run within the time an 8-second run has left when its server dies 6 s
in. An open-loop run (``--request-rate``) sends at its rate whatever comes back, so the window decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from inferload import hookimpl
from inferload.engine.guards import GuardStop
from inferload.hints import quoted_answer
from inferload.records import ERROR_CANCELLED, ERROR_CONNECTION, ERROR_REQUEST_CANCELLED
from inferload.types import RunGuardSpec

if TYPE_CHECKING:
    from inferload.config import ProfileConfig
    from inferload.records import RequestRecord

WINDOW_SECONDS = 2.0
"""How long only connection errors must come back before the run stops."""
MIN_FAILURES = 4
"""How many connection errors in a row (at the least) before the run stops: a slow open-loop rate takes
longer than :data:`WINDOW_SECONDS` to show it."""
BURST_FAILURES = 100
"""So many connection errors in a row stop the run before :data:`WINDOW_SECONDS` (a closed loop spinning on
a refused port); at least four per request in flight (``--concurrency``), so that one wave of resets of a
loaded server's open connections is not taken for its end."""


@hookimpl
def register_run_guards() -> list[RunGuardSpec]:
    return [RunGuardSpec(name="server-gone", description="Stop a run whose server stopped accepting "
                         "connections (only connection errors for 2 s)", create=make_guard)]


def make_guard(config: ProfileConfig) -> ServerGone:
    """One guard per run; its burst scaled to the requests the run keeps in flight."""
    return ServerGone(burst_failures=max(BURST_FAILURES, 4 * (config.concurrency or 0)))


class ServerGone:
    """Counts the connection errors in a row among finished requests (a
    :class:`~inferload.engine.guards.RunGuard`)."""

    def __init__(self, window_seconds: float = WINDOW_SECONDS, min_failures: int = MIN_FAILURES,
                 burst_failures: int = BURST_FAILURES) -> None:
        self.window_seconds = window_seconds
        self.min_failures = min_failures
        self.burst_failures = burst_failures
        self.succeeded = 0
        """Requests that succeeded so far in the run."""
        self.failures = 0
        """Connection errors in a row, since the last request that reached the server."""
        self.since: float = 0.0
        """When (seconds into the run) the first of those was seen."""
        self.message = ""

    def observe(self, records: Sequence[RequestRecord], now: float) -> None:
        """Extend or end the streak of connection errors with a batch of finished records."""
        for record in records:
            error = record.error
            if error is None:
                self.succeeded += 1
                self.failures = 0
            elif error.type == ERROR_CONNECTION and error.code is not None:
                continue  # cut after its HTTP status: the server was there; neither sign either way
            elif error.type == ERROR_CONNECTION:
                if not self.failures:
                    self.since = now
                self.failures += 1
                self.message = error.message  # the latest: the first may be a stream cut as the server died
            elif error.type not in (ERROR_CANCELLED, ERROR_REQUEST_CANCELLED):
                self.failures = 0

    def verdict(self, now: float) -> GuardStop | None:
        """The stop once the streak is long enough in count and in time."""
        if self.failures < self.min_failures or (
                now - self.since < self.window_seconds and self.failures < self.burst_failures):
            return None
        lasted = now - self.since
        spell = f"{lasted:.1f} s" if lasted >= 0.1 else f"{lasted * 1e3:.0f} ms"
        return self._stop("stopped early", f"in the {spell} since")

    def at_end(self, now: float) -> GuardStop | None:
        """A phase ended by itself (its duration over, its count sent) while the streak was on: the server
        went away in its last seconds, too late for :meth:`verdict`; the run failed all the same."""
        if self.failures < self.min_failures:
            return None
        return self._stop("the run failed", "from then to its end")

    def _stop(self, outcome: str, since: str) -> GuardStop:
        before = (f"{self.succeeded:,} request(s) had succeeded before" if self.succeeded else
                  "none had succeeded before")
        return GuardStop(
            f"{outcome}: the server stopped accepting connections {self.since:.1f} s into the run: all "
            f"{self.failures:,} requests that finished {since} failed with a connection error "
            f"({quoted_answer(self.message)}), {before}; check that the server is up and rerun; every "
            "request sent is in the artifacts")
