"""Run guards: plugins that end a run early when going on would only add failures (public API for
``run_guard`` plugins, docs/plugins.md "Run guards").

Each :class:`~inferload.types.RunGuardSpec` makes one :class:`RunGuard` per run. The parent feeds it every
batch of finished records as the batch arrives (never per record or per chunk) and asks it, once before
the first request and then once per pass of the phase loop, whether the run must stop (a stop before the
first request sends nothing). The first :class:`GuardStop` wins: the phase loop stops
sending as a stop signal does, the requests in flight finish within the grace period, every record is
kept, and the run ends with the guard's one line as its error, ``is_complete`` false and the guard's exit
code. A guard may also have the final word on a phase that ended by itself (:class:`FinalWord`). A
guard that raises is reported (``registry.hooks.report``) and dropped; the run and the other guards
go on.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from inferload.config import ProfileConfig
    from inferload.records import RequestRecord
    from inferload.registry import PluginRegistry

__all__ = ["FinalWord", "GuardStop", "RunGuard", "RunGuards"]


@dataclass(frozen=True)
class GuardStop:
    """A guard's verdict: end the run now."""

    reason: str
    """The one line said to the user (``inferload: ERROR: …``), the run's ``error`` and the first of its
    ``client_health.warnings``: what was seen, since when, and the fix. The engine scrubs secrets from it."""
    exit_code: int = 1
    """The process's exit code (1: the run failed)."""


class RunGuard(Protocol):
    """One guard for one run. ``now`` is seconds since the run began sending (monotonic clock)."""

    def observe(self, records: Sequence[RequestRecord], now: float) -> None:
        """A batch of finished records (warmup and profiling; cancelled ones included)."""

    def verdict(self, now: float) -> GuardStop | None:
        """None to go on, or why the run must stop. Asked once before the first request (``now`` 0, no
        records yet) and then every pass of the phase loop (about every 50 ms), with or without new
        records, until a guard stops the run: keep it cheap."""


class FinalWord(Protocol):
    """What a guard may also have: ``at_end(now)``, asked once when a phase ended by itself (its count
    sent, its duration over) with every record in and no guard's stop: a GuardStop then fails the run
    (exit code, ``is_complete`` false) though nothing was left to stop, e.g. its server went away in its
    last seconds."""

    def at_end(self, now: float) -> GuardStop | None:
        """None, or why the run that just ended failed."""


class RunGuards:
    """The run's guards, made from the enabled ``run_guard`` plugins in name order."""

    def __init__(self, registry: PluginRegistry, config: ProfileConfig | None) -> None:
        self.registry = registry
        self.guards: list[tuple[str, RunGuard]] = []
        self._started = time.monotonic()
        if config is None:
            return
        for name, spec in sorted(registry.all("run_guard").items()):
            try:
                takes_registry = len(inspect.signature(spec.create).parameters) >= 2
                guard = spec.create(config, registry) if takes_registry else spec.create(config)
                self.guards.append((name, guard))
            except Exception as exc:  # noqa: BLE001 - one plugin's guard must not cost the run
                self._report(name, exc)

    def start(self) -> None:
        """The run starts sending: ``now`` counts from here."""
        self._started = time.monotonic()

    def observe(self, records: Sequence[RequestRecord]) -> None:
        """Hand a batch to every guard."""
        if not self.guards:
            return
        now = time.monotonic() - self._started
        for name, guard in list(self.guards):
            try:
                guard.observe(records, now)
            except Exception as exc:  # noqa: BLE001
                self._drop(name, exc)

    def verdict(self) -> GuardStop | None:
        """The first guard's (in name order) stop, or None."""
        return self._first("verdict")

    def at_end(self) -> GuardStop | None:
        """The first guard's (in name order) final word on a phase that ended by itself, or None."""
        return self._first("at_end")

    def _first(self, method: str) -> GuardStop | None:
        """Ask each guard that has ``method`` until one returns a stop; drop one that raises."""
        if not self.guards:
            return None
        now = time.monotonic() - self._started
        for name, guard in list(self.guards):
            ask = getattr(guard, method, None)
            if ask is None:
                continue
            try:
                stop = ask(now)
            except Exception as exc:  # noqa: BLE001
                self._drop(name, exc)
                continue
            if stop is not None:
                return stop
        return None

    def _drop(self, name: str, exc: Exception) -> None:
        self.guards = [(n, g) for n, g in self.guards if n != name]
        self._report(name, exc)

    def _report(self, name: str, exc: Exception) -> None:
        self.registry.hooks.report(self.registry.provider("run_guard", name), f"run guard {name!r}", exc,
                                   consequence="the run goes on without it")
