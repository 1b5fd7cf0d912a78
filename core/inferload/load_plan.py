"""Load that changes over time, planned before t=0: ``--request-rate-ramp-duration``,
``--concurrency-ramp-duration`` and ``--load-schedule FILE`` (docs/control.md, "Load segments").

A plan is a list of :class:`LoadStep`: at ``at_sec`` after the profiling phase starts, the load target
becomes ``request_rate`` (rate mode) or ``concurrency`` (concurrency mode). Every step starts a load
segment; the live control routes add steps while the run goes on, through the same machinery
(:mod:`inferload.load_control`, :mod:`inferload.engine.load_driver`).

Ramps follow AIPerf's semantics in steps of :data:`RAMP_STEP_SEC` (so each step is a segment long enough to
measure): a rate ramp starts proportionally low (``target / (n + 1)``) and reaches the target exactly at the
ramp's end; a concurrency ramp starts at 1 and climbs by +1 at even intervals (grouped into one step per
:data:`RAMP_STEP_SEC` when there would be more) to the target at the ramp's end.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inferload.errors import UsageError
from inferload.textfiles import read_capped

if TYPE_CHECKING:
    from inferload.config import ProfileConfig

RAMP_STEP_SEC = 1.0
"""Shortest step of a ramp (s): AIPerf updates a rate every 0.1 s; a 1 s step keeps each segment's
figures meaningful."""

REQUEST_RATE, CONCURRENCY = "request_rate", "concurrency"
"""The two kinds of load target (the field names of a schedule entry and of ``PATCH /api/control/load``)."""

_ENTRY_FIELDS = ("duration", "start", REQUEST_RATE, CONCURRENCY)


@dataclass(frozen=True)
class LoadStep:
    """At ``at_sec`` s after the profiling phase starts the target becomes ``value`` (a rate in requests/s
    or a concurrency); ``source`` is ``schedule`` or ``ramp``."""

    at_sec: float
    value: float
    source: str


@dataclass(frozen=True)
class ScheduleEntry:
    """One entry of a ``--load-schedule`` file: ``duration`` s at ``value`` of ``kind``."""

    duration: float
    kind: str
    value: float
    line: int


def load_kind(config: ProfileConfig) -> str:
    """``request_rate`` when the run is driven by a clock (``--request-rate`` or a ``--fixed-schedule``
    replay, :attr:`~inferload.config.ProfileConfig.timed_schedule`), else ``concurrency``."""
    return REQUEST_RATE if config.timed_schedule else CONCURRENCY


def read_load_schedule(path: str | os.PathLike[str]) -> list[ScheduleEntry]:
    """The entries of a ``--load-schedule`` file: a JSON array of ``{"duration": s, "request_rate": r}`` or
    ``{"duration": s, "concurrency": c}`` objects, one kind in the whole file; an optional ``"start": s``
    must equal the end of the entries before it (a schedule has no gaps and no overlaps).

    Raises:
        UsageError: one line naming ``FILE:LINE`` (the line the bad entry starts on), the entry's index and
            the fix, for unreadable or non-JSON files, bad values, unknown fields, gaps and mixed kinds.
    """
    text = read_capped(Path(path), what="--load-schedule file")
    decoder = json.JSONDecoder()
    index = _skip_space(text, 0)
    if index >= len(text) or text[index] != "[":
        raise UsageError(f"{path}:{_line(text, index)}: --load-schedule must be a JSON array of "
                         '{"duration": s, "request_rate": r} or {"duration": s, "concurrency": c} objects')
    entries: list[ScheduleEntry] = []
    index = _skip_space(text, index + 1)
    end = 0.0
    while index < len(text) and text[index] != "]":
        line = _line(text, index)
        where = f"{path}:{line}: entry {len(entries) + 1}"
        try:
            raw, index = decoder.raw_decode(text, index)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}:{exc.lineno}: --load-schedule is not valid JSON: {exc.msg}") from None
        entry = _entry(raw, where, line, entries[0].kind if entries else None)
        start = raw.get("start")
        if start is not None and not math.isclose(_number(start, where, "start", minimum=0.0), end,
                                                  abs_tol=1e-9):
            gap = "a gap" if start > end else "an overlap"
            raise UsageError(f"{where} starts at {start:g} s but the entries before it end at {end:g} s "
                             f"({gap}); a schedule is contiguous: drop \"start\" or make it {end:g}")
        end += entry.duration
        entries.append(entry)
        index = _skip_space(text, index)
        if index < len(text) and text[index] == ",":
            index = _skip_space(text, index + 1)
        elif index < len(text) and text[index] != "]":
            raise UsageError(f"{path}:{_line(text, index)}: --load-schedule is not valid JSON: expected ',' "
                             "or ']' after an entry")
    if index >= len(text):
        raise UsageError(f"{path}:{_line(text, len(text))}: --load-schedule is not valid JSON: the array "
                         "never ends (']' missing)")
    rest = _skip_space(text, index + 1)
    if rest < len(text):
        raise UsageError(f"{path}:{_line(text, rest)}: --load-schedule holds more than one JSON array")
    if not entries:
        raise UsageError(f"{path}:1: --load-schedule is empty; give at least one "
                         '{"duration": s, "request_rate": r} entry')
    return entries


def _entry(raw: Any, where: str, line: int, kind: str | None) -> ScheduleEntry:
    if not isinstance(raw, dict):
        raise UsageError(f"{where} is not a JSON object; write {{\"duration\": s, \"request_rate\": r}}")
    unknown = sorted(set(raw) - set(_ENTRY_FIELDS))
    if unknown:
        raise UsageError(f"{where} has unknown field(s) {', '.join(map(repr, unknown))}; an entry takes "
                         "duration, request_rate or concurrency, and optionally start")
    if "duration" not in raw:
        raise UsageError(f"{where} has no \"duration\" (seconds the entry lasts)")
    duration = _number(raw["duration"], where, "duration")
    given = [name for name in (REQUEST_RATE, CONCURRENCY) if name in raw]
    if len(given) != 1:
        problem = "both request_rate and concurrency" if given else "neither request_rate nor concurrency"
        raise UsageError(f"{where} has {problem}; give exactly one of them")
    entry_kind = given[0]
    if kind is not None and entry_kind != kind:
        raise UsageError(f"{where} sets {entry_kind} but the entries before it set {kind}; a schedule "
                         "drives one kind of load: use one kind in the whole file")
    value = _number(raw[entry_kind], where, entry_kind)
    if entry_kind == CONCURRENCY and value != int(value):
        raise UsageError(f"{where}: concurrency {value:g} is not a whole number of requests")
    return ScheduleEntry(duration, entry_kind, value, line)


def _number(value: Any, where: str, field: str, minimum: float | None = None) -> float:
    """A finite number > 0 (or >= ``minimum``), else a UsageError naming the field."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and (value >= minimum if minimum is not None else value > 0):
        return float(value)
    bound = f">= {minimum:g}" if minimum is not None else "> 0"
    raise UsageError(f"{where}: {field} {json.dumps(value)} is not a number {bound}")


def _skip_space(text: str, index: int) -> int:
    while index < len(text) and text[index] in " \t\r\n\ufeff":
        index += 1
    return index


def _line(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def schedule_steps(entries: list[ScheduleEntry]) -> list[LoadStep]:
    """One step per entry, at the sum of the durations before it; equal neighbours stay separate segments
    (the file said so)."""
    steps, at = [], 0.0
    for entry in entries:
        steps.append(LoadStep(at, entry.value, "schedule"))
        at += entry.duration
    return steps


def rate_ramp_steps(target: float, duration: float) -> list[LoadStep]:
    """A linear rate ramp to ``target`` over ``duration`` s: ``n + 1`` steps of ``target * (k + 1)/(n + 1)``
    at ``k * duration / n`` (n = whole :data:`RAMP_STEP_SEC` steps in the ramp), the last, at the target,
    exactly at ``duration``."""
    n = max(1, math.floor(duration / RAMP_STEP_SEC))
    return [LoadStep(k * duration / n, target * (k + 1) / (n + 1), "ramp") for k in range(n + 1)]


def concurrency_ramp_steps(target: int, duration: float) -> list[LoadStep]:
    """A concurrency ramp from 1 to ``target`` over ``duration`` s: +1 at even intervals, grouped so no
    step is shorter than :data:`RAMP_STEP_SEC`; the target exactly at ``duration``."""
    if target <= 1:
        return [LoadStep(0.0, float(max(1, target)), "ramp")]
    n = min(target - 1, max(1, math.floor(duration / RAMP_STEP_SEC)))
    steps: list[LoadStep] = []
    for k in range(n + 1):
        value = float(1 + round((target - 1) * k / n))
        if not steps or steps[-1].value != value:
            steps.append(LoadStep(k * duration / n, value, "ramp"))
    return steps


def planned_steps(config: ProfileConfig) -> list[LoadStep]:
    """The profiling phase's planned steps: from ``--load-schedule``, a ramp flag, or none (empty)."""
    if config.load_schedule is not None:
        return schedule_steps(read_load_schedule(config.load_schedule))
    if config.request_rate_ramp_duration is not None and config.request_rate is not None:
        return rate_ramp_steps(config.request_rate, config.request_rate_ramp_duration)
    if config.concurrency_ramp_duration is not None:
        return concurrency_ramp_steps(config.effective_concurrency or 1, config.concurrency_ramp_duration)
    return []


def is_dynamic(config: ProfileConfig) -> bool:
    """Whether the run's load may change while it runs: a plan, or live control (``--api-token``)."""
    return (
        config.api_token is not None
        or config.load_schedule is not None
        or config.request_rate_ramp_duration is not None
        or config.concurrency_ramp_duration is not None
    )


def connection_cap(config: ProfileConfig) -> int | None:
    """The most requests this run may ever have in flight (None: no limit), which sizes the workers'
    connection pools: the concurrency cap for a fixed load; in a concurrency-driven run whose load can
    change, ``--max-concurrency`` when given, else the plan's peak, else (live control) no limit."""
    cap = config.effective_concurrency
    if config.timed_schedule or not is_dynamic(config):
        return cap
    if config.max_concurrency is not None:
        return config.max_concurrency
    if config.api_token is not None:
        return None
    peak = max((step.value for step in planned_steps(config)), default=float(cap or 1))
    return max(int(peak), cap or 1)
