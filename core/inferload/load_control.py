"""The run's live load: its current target, its load segments, and the inbox the control routes write to
(docs/control.md).

A **load segment** is a stretch of the profiling phase with one load target: it starts when the run starts
profiling and again at every change — a step of the plan (:mod:`inferload.load_plan`), or a change made
over the control routes (``PATCH /api/control/load``, ``pause``, ``resume``). :class:`LoadControl` is the
one object of a run that a router may call: it validates a change at once (so a bad one is refused with
nothing changed) and queues it; the engine's :class:`~inferload.engine.load_driver.LoadDriver` applies
it to every worker within one tick of its loop and records the segment. Thread-safe: the API runs in its
own thread.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from multiprocessing import Pipe
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from inferload.load_plan import CONCURRENCY, REQUEST_RATE, load_kind

if TYPE_CHECKING:
    from inferload.config import ProfileConfig

PAUSE, RESUME, LOAD, STOP = "pause", "resume", "load", "stop"
"""The commands of the control routes, in :meth:`LoadControl.drain` order."""


class ControlRefused(Exception):
    """A control request that changes nothing: ``status`` 422 (bad value) or 409 (the run cannot take it
    now); the message says why and what to do."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class LoadTarget:
    """What the run aims for: ``value`` of ``kind`` (requests/s for ``request_rate``, requests in flight
    for ``concurrency``), and whether sending is ``paused``."""

    kind: str
    value: float
    paused: bool = False

    def as_dict(self) -> dict[str, Any]:
        """``{"request_rate": r}`` or ``{"concurrency": c}``, plus ``paused``."""
        value: float | int = int(self.value) if self.kind == CONCURRENCY else self.value
        return {self.kind: value, "paused": self.paused}

    def describe(self) -> str:
        """``request_rate 5 req/s``, ``concurrency 8`` (``, paused``)."""
        unit = " req/s" if self.kind == REQUEST_RATE else ""
        return f"{self.kind} {self.value:g}{unit}" + (", paused" if self.paused else "")


@dataclass(frozen=True)
class LoadSegment:
    """One segment of the profiling phase, from ``start_mono_ns`` to ``end_mono_ns`` (``perf_counter_ns``,
    the clock every process stamps requests with; None while it lasts); ``start_ns``/``end_ns`` are the
    same instants on the wall clock."""

    index: int
    start_mono_ns: int
    target: LoadTarget
    source: str
    """What started it: ``initial``, ``schedule``, ``ramp`` or ``control``."""
    end_mono_ns: int | None = None

    @property
    def start_ns(self) -> int:
        return wall_ns(self.start_mono_ns)

    @property
    def end_ns(self) -> int | None:
        return None if self.end_mono_ns is None else wall_ns(self.end_mono_ns)

    def as_dict(self) -> dict[str, Any]:
        """The wire fields (:class:`LoadSegmentModel`)."""
        return {"index": self.index, "start_ns": self.start_ns, "end_ns": self.end_ns,
                **self.target.as_dict(), "source": self.source}


_WALL_OFFSET_NS = time.time_ns() - time.perf_counter_ns()
"""The process's one wall-clock anchor (as the workers have theirs): every instant converts alike."""


def wall_ns(mono_ns: int) -> int:
    """A ``perf_counter_ns`` instant on the wall clock (ns since the epoch)."""
    return _WALL_OFFSET_NS + mono_ns


class LoadSegmentModel(BaseModel):
    """One load segment on the wire (``/api/progress``, the control routes, ``load_segments`` in
    profile_export.json). Times are wall-clock ns since the epoch."""

    index: int = Field(description="0 for the first segment of the profiling phase")
    start_ns: int
    end_ns: int | None = Field(None, description="None while the segment lasts")
    request_rate: float | None = Field(None, description="Target requests/s (rate-driven runs)")
    concurrency: int | None = Field(None, description="Target requests in flight (concurrency-driven runs)")
    paused: bool = False
    source: str = Field(description="What started it: initial, schedule, ramp or control")


class LoadStatus(BaseModel):
    """The run's load right now: its target, whether sending is paused, and its segments so far."""

    request_rate: float | None = Field(None, description="Target requests/s (rate-driven runs)")
    concurrency: int | None = Field(None, description="Target requests in flight (concurrency-driven runs)")
    paused: bool = False
    state: str = Field(description="running, paused, stopping, or closed (not sending now)")
    control_enabled: bool = Field(description="Whether the control routes exist (--api-token given)")
    max_concurrency: int | None = Field(None, description="Highest concurrency a change may set")
    segments: list[LoadSegmentModel] = Field(default_factory=list)


class LoadControl:
    """The control routes' side of a run; see the module docstring.

    ``target`` is the load in force (the engine updates it; a change is visible here at once),
    ``segments`` the profiling phase's segments so far (a tuple swapped whole), ``max_concurrency`` the
    highest concurrency a change may set (None: no limit)."""

    def __init__(self, target: LoadTarget, *, max_concurrency: int | None = None, enabled: bool = False
                 ) -> None:
        self.target = target
        self.max_concurrency = max_concurrency
        self.enabled = enabled
        """Whether the control routes may change the run (``--api-token`` given)."""
        self.segments: tuple[LoadSegment, ...] = ()
        self._lock = threading.Lock()
        self._queue: deque[tuple[str, LoadTarget | None]] = deque()
        self._accepting = False
        self._closed_reason = "the run has not started sending yet"
        self._stopping = False
        self._waker_reader, self._waker_writer = Pipe(duplex=False)

    @classmethod
    def for_config(cls, config: ProfileConfig) -> LoadControl:
        """The control of a run of ``config``: its load at the start, ``--max-concurrency``, and enabled
        when ``--api-token`` is set."""
        kind = load_kind(config)
        value = config.request_rate if kind == REQUEST_RATE else config.effective_concurrency
        return cls(LoadTarget(kind, float(value or 1)), max_concurrency=config.max_concurrency,
                   enabled=config.api_token is not None)

    # -- the control routes' side (any thread) -----------------------------------------------------

    def change_load(self, request_rate: Any = None, concurrency: Any = None) -> LoadTarget:
        """Queue a new target; return it. ControlRefused(422) for a bad value, the other kind of load or
        both fields, ControlRefused(409) when the run is not sending."""
        given = {name: value for name, value in ((REQUEST_RATE, request_rate), (CONCURRENCY, concurrency))
                 if value is not None}
        if len(given) != 1:
            raise ControlRefused(422, "give one of request_rate and concurrency, not both" if given else
                                 'the body needs one field: {"request_rate": r} or {"concurrency": c}')
        (kind, value), = given.items()
        value = _check_value(kind, value, self.max_concurrency)
        with self._lock:
            self._check_open()
            if kind != self.target.kind:
                other = "--request-rate" if self.target.kind == REQUEST_RATE else "--concurrency"
                raise ControlRefused(422, f"this run is driven by {other}: change {self.target.kind}, "
                                          f"not {kind}")
            return self._queue_target(LOAD, replace(self.target, value=value))

    def pause(self) -> LoadTarget:
        """Stop sending (in-flight requests finish); idempotent. ControlRefused(409) when not sending."""
        with self._lock:
            self._check_open()
            return self._queue_target(PAUSE, replace(self.target, paused=True))

    def resume(self) -> LoadTarget:
        """Send again at the target; idempotent. ControlRefused(409) when not sending."""
        with self._lock:
            self._check_open()
            return self._queue_target(RESUME, replace(self.target, paused=False))

    def stop(self) -> None:
        """End the run as SIGINT does (drain, artifacts, ``was_cancelled``). ControlRefused(409) once it
        is stopping or no longer sending."""
        with self._lock:
            self._check_open()
            self._stopping = True
            self._queue.append((STOP, None))
        self._wake()

    def status(self) -> LoadStatus:
        """The load right now, for the routes (a consistent snapshot)."""
        with self._lock:
            target, segments, state = self.target, self.segments, self.state
        return LoadStatus(**target.as_dict(), state=state, control_enabled=self.enabled,
                          max_concurrency=self.max_concurrency,
                          segments=[LoadSegmentModel(**segment.as_dict()) for segment in segments])

    @property
    def state(self) -> str:
        """``running``, ``paused``, ``stopping`` or ``closed`` (not sending: before, between or after)."""
        if self._stopping:
            return "stopping"
        if not self._accepting:
            return "closed"
        return "paused" if self.target.paused else "running"

    # -- the engine's side (the main thread) ---------------------------------------------------------

    @property
    def waker(self) -> Any:
        """A connection that is readable while commands wait: the engine's loop waits on it too."""
        return self._waker_reader

    def drain(self) -> list[tuple[str, LoadTarget | None]]:
        """The queued commands, oldest first, and an empty queue."""
        with self._lock:
            commands = list(self._queue)
            self._queue.clear()
        while self._waker_reader.poll():
            self._waker_reader.recv_bytes()
        return commands

    def open(self) -> None:
        """The run sends from now on: changes are taken."""
        with self._lock:
            self._accepting = True

    def close(self, reason: str) -> None:
        """The run no longer sends (``reason`` is said in each 409 from now on); queued commands stay for
        :meth:`drain`."""
        with self._lock:
            self._accepting = False
            self._closed_reason = reason

    def mark_stopping(self) -> None:
        """A stop signal arrived (SIGINT …): every further change is refused with 409."""
        with self._lock:
            self._stopping = True

    def step_to(self, value: float) -> LoadTarget:
        """A plan step is in force: the target's value becomes ``value`` (paused or not as before)."""
        with self._lock:
            self.target = replace(self.target, value=value)
            return self.target

    def start_segment(self, start_mono_ns: int, target: LoadTarget, source: str) -> LoadSegment:
        """Close the current segment at ``start_mono_ns`` (``perf_counter_ns``) and open one at ``target``;
        returns it."""
        segments = list(self.segments)
        if segments:
            segments[-1] = replace(segments[-1], end_mono_ns=start_mono_ns)
        segment = LoadSegment(len(segments), start_mono_ns, target, source)
        self.segments = (*segments, segment)
        return segment

    def end_segments(self, end_mono_ns: int) -> None:
        """Close the last segment at ``end_mono_ns`` (the profiling phase stopped sending)."""
        if self.segments and self.segments[-1].end_mono_ns is None:
            self.segments = (*self.segments[:-1], replace(self.segments[-1], end_mono_ns=end_mono_ns))

    def close_waker(self) -> None:
        for conn in (self._waker_reader, self._waker_writer):
            conn.close()

    # -- internals -----------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._stopping:
            raise ControlRefused(409, "the run is stopping: nothing more can be changed")
        if not self._accepting:
            raise ControlRefused(409, f"{self._closed_reason}: nothing can be changed now")

    def _queue_target(self, command: str, target: LoadTarget) -> LoadTarget:
        if target == self.target:  # no change (a second pause, the same rate): no new segment either
            return target
        self.target = target
        self._queue.append((command, target))
        self._wake()
        return target

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # closed at the run's end: nobody waits any more
            self._waker_writer.send_bytes(b"!")


def _check_value(kind: str, value: Any, max_concurrency: int | None) -> float:
    """``value`` as a valid target of ``kind``, else ControlRefused(422) saying what is allowed."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ControlRefused(422, f"{kind} must be a number, not {value!r}")
    if value <= 0:
        raise ControlRefused(422, f"{kind} must be > 0, not {value:g}")
    if kind == CONCURRENCY:
        if value != int(value):
            raise ControlRefused(422, f"concurrency must be a whole number of requests, not {value:g}")
        if max_concurrency is not None and value > max_concurrency:
            raise ControlRefused(422, f"concurrency {value:g} is above --max-concurrency {max_concurrency}")
    return float(value)
