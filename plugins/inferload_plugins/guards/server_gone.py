"""Run guard ``server-gone``: ends a run whose server stopped accepting connections (killed, crashed, its
port closed). Once every request that finished over the last :data:`WINDOW_SECONDS` seconds, and at least
:data:`MIN_FAILURES` of them in a row, failed with a connection error (refused, reset, closed before the
response was complete) and none succeeded, the run stops sending and ends with one line: when the failures
began, the latest one's error, how many requests had succeeded before. Exit code 1, ``is_complete`` false,
every request sent kept (docs/profile.md, "When the server cannot be used").

Any other outcome, a success or a failure that shows the server is there (an HTTP status, 429 and 5xx
included, a timeout, a malformed or empty answer), ends the streak: those can heal and never stop a run.
Cancelled requests do not count either way.

A closed-loop run (``--concurrency``) does not back off on a refused connection: the refusal comes back at
once, so for :data:`WINDOW_SECONDS` the workers send as fast as the loop turns (thousands of requests a
second on loopback) and every one of them is a record. Backing off would change the load the run offers
and hide that it was failing; a short window bounds the flood instead.
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


@hookimpl
def register_run_guards() -> list[RunGuardSpec]:
    return [RunGuardSpec(name="server-gone", description="Stop a run whose server stopped accepting "
                         "connections (only connection errors for 2 s)", create=make_guard)]


def make_guard(config: ProfileConfig) -> ServerGone:
    """One guard per run."""
    return ServerGone()


class ServerGone:
    """Counts the connection errors in a row among finished requests (a
    :class:`~inferload.engine.guards.RunGuard`)."""

    def __init__(self, window_seconds: float = WINDOW_SECONDS, min_failures: int = MIN_FAILURES) -> None:
        self.window_seconds = window_seconds
        self.min_failures = min_failures
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
            elif error.type == ERROR_CONNECTION:
                if not self.failures:
                    self.since = now
                self.failures += 1
                self.message = error.message  # the latest: the first may be a stream cut as the server died
            elif error.type not in (ERROR_CANCELLED, ERROR_REQUEST_CANCELLED):
                self.failures = 0

    def verdict(self, now: float) -> GuardStop | None:
        """The stop once the streak is long enough in count and in time."""
        if self.failures < self.min_failures or now - self.since < self.window_seconds:
            return None
        before = (f"{self.succeeded:,} request(s) had succeeded before" if self.succeeded else
                  "none had succeeded before")
        return GuardStop(
            f"stopped early: the server stopped accepting connections {self.since:.1f} s into the run: all "
            f"{self.failures:,} requests that finished in the {now - self.since:.1f} s since failed "
            f"with a connection error ({quoted_answer(self.message)}), {before}; check that the server is "
            "up and rerun; every request sent is in the artifacts")
