"""Ends a run whose server refuses its credentials: once the run's first :data:`FIRST_FINISHED` finished
requests (or, when fewer finished in its first :data:`FIRST_SECONDS` seconds, all of those) failed with
401 or 403 and none succeeded, every further request would fail the same way, so the run stops early
instead of going on for the whole ``--benchmark-duration`` (docs/profile.md, "When the server cannot be
used"). A status that can heal (429, 5xx), a connection error or any success first disarms the watch for
the rest of the run. Cancelled requests are not finished requests and do not count.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from inferload.hints import REFUSED_CREDENTIALS_FIX, quoted_answer
from inferload.records import ERROR_CANCELLED, ERROR_HTTP, ERROR_REQUEST_CANCELLED

if TYPE_CHECKING:
    from inferload.records import RequestRecord

AUTH_STATUSES = (401, 403)
"""Statuses that mean the credentials are refused: no retry or wait heals them."""
FIRST_FINISHED = 8
"""How many finished requests, all refused, end the run."""
FIRST_SECONDS = 5.0
"""After this long with fewer than :data:`FIRST_FINISHED` finished, all refused, the run ends too."""


class CredentialsWatch:
    """Watches the run's first finished requests (:meth:`observe`, per batch in the parent) and says when
    they show the credentials refused (:meth:`verdict`)."""

    def __init__(self, first_finished: int = FIRST_FINISHED, first_seconds: float = FIRST_SECONDS) -> None:
        self.first_finished = first_finished
        self.first_seconds = first_seconds
        self.armed = True
        """False once a finished request was not refused (or the verdict was given)."""
        self.refused = 0
        self.status: int | None = None
        self.message = ""
        self._started: float | None = None

    def start(self) -> None:
        """The run starts sending: the :data:`FIRST_SECONDS` clock starts."""
        self._started = time.monotonic()

    def observe(self, records: Iterable[RequestRecord]) -> None:
        """Look at a batch of finished (or cancelled) records until the watch is disarmed."""
        if not self.armed:
            return
        for record in records:
            error = record.error
            if error is not None and error.type in (ERROR_CANCELLED, ERROR_REQUEST_CANCELLED):
                continue
            if error is None or error.type != ERROR_HTTP or error.code not in AUTH_STATUSES:
                self.armed = False
                return
            if not self.refused:
                self.status, self.message = error.code, error.message
            self.refused += 1

    def verdict(self) -> str | None:
        """The one line that ends the run, once the watch has seen enough refusals; then None forever."""
        if not self.armed or not self.refused:
            return None
        elapsed = time.monotonic() - self._started if self._started is not None else 0.0
        if self.refused < self.first_finished and elapsed < self.first_seconds:
            return None
        self.armed = False
        message = quoted_answer(self.message)
        first = (f"the first {self.refused} finished requests" if self.refused >= self.first_finished else
                 f"all {self.refused} requests finished in the first {self.first_seconds:g} s")
        return (f"stopped early: {first} were refused with HTTP {self.status} ({message}): the server does "
                f"not accept the credentials; {REFUSED_CREDENTIALS_FIX}; every request sent is in the "
                "artifacts")
