"""Run guard ``credentials``: ends a run whose server refuses its credentials. Once the run's first
:data:`FIRST_FINISHED` finished requests (or, when fewer finished in its first :data:`FIRST_SECONDS`
seconds, all of those) failed with 401 or 403 and none succeeded, every further request would fail the
same way, so the run stops early instead of going on for the whole ``--benchmark-duration``
(docs/profile.md, "When the server cannot be used"). A status that can heal (429, 5xx), a connection error
or any success first disarms the watch for the rest of the run. Cancelled requests are not finished
requests and do not count.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from inferload import hookimpl
from inferload.engine.guards import GuardStop
from inferload.hints import REFUSED_CREDENTIALS_FIX, quoted_answer
from inferload.records import ERROR_CANCELLED, ERROR_HTTP, ERROR_REQUEST_CANCELLED
from inferload.types import RunGuardSpec

if TYPE_CHECKING:
    from inferload.config import ProfileConfig
    from inferload.records import RequestRecord

AUTH_STATUSES = (401, 403)
"""Statuses that mean the credentials are refused: no retry or wait heals them."""
FIRST_FINISHED = 8
"""How many finished requests, all refused, end the run."""
FIRST_SECONDS = 5.0
"""After this long with fewer than :data:`FIRST_FINISHED` finished, all refused, the run ends too."""


@hookimpl
def register_run_guards() -> list[RunGuardSpec]:
    return [RunGuardSpec(name="credentials", description="Stop a run whose first finished requests were "
                         "all refused with 401/403", create=make_watch)]


def make_watch(config: ProfileConfig) -> CredentialsWatch:
    """One watch per run."""
    return CredentialsWatch()


class CredentialsWatch:
    """Watches the run's first finished requests (:meth:`observe`, per batch in the parent) and says when
    they show the credentials refused (:meth:`verdict`): a :class:`~inferload.engine.guards.RunGuard`."""

    def __init__(self, first_finished: int = FIRST_FINISHED, first_seconds: float = FIRST_SECONDS) -> None:
        self.first_finished = first_finished
        self.first_seconds = first_seconds
        self.armed = True
        """False once a finished request was not refused (or the verdict was given)."""
        self.refused = 0
        self.status: int | None = None
        self.message = ""

    def observe(self, records: Iterable[RequestRecord], now: float = 0.0) -> None:
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

    def verdict(self, now: float) -> GuardStop | None:
        """The stop that ends the run (``now``: seconds since it began sending), once the watch has seen
        enough refusals; then None forever."""
        if not self.armed or not self.refused:
            return None
        if self.refused < self.first_finished and now < self.first_seconds:
            return None
        self.armed = False
        message = quoted_answer(self.message)
        first = (f"the first {self.refused} finished requests" if self.refused >= self.first_finished else
                 f"all {self.refused} requests finished in the first {self.first_seconds:g} s")
        return GuardStop(f"stopped early: {first} were refused with HTTP {self.status} ({message}): the "
                         f"server does not accept the credentials; {REFUSED_CREDENTIALS_FIX}; every request "
                         "sent is in the artifacts")
