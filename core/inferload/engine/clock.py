"""The hot path's clocks: precise sleeping until an absolute ``perf_counter_ns`` time without busy-waiting,
and the offset that turns wall-clock (``CLOCK_REALTIME``) times into ``perf_counter_ns`` ones and back.

Event-loop timers have millisecond granularity (uvloop can even fire ~1 ms early, and p99 lateness is
~2 ms on this kind of machine), which alone would blow a 1 ms schedule-lag budget. On Linux a
``timerfd`` armed with an absolute ``CLOCK_MONOTONIC`` deadline (the clock ``perf_counter_ns`` reads) wakes
the loop within ~0.1 ms; elsewhere we fall back to the loop's timers.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import sys
import time
from time import perf_counter_ns, time_ns

_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = 0o4000
_TFD_CLOEXEC = 0o2000000
_TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


class AbsoluteSleeper:
    """One per event loop. ``await sleeper.sleep_until(ns)``; :meth:`wake` ends a sleep early."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waiter: asyncio.Future[None] | None = None
        self._fd = -1
        self._libc = None
        if (
            sys.platform.startswith("linux")
            and time.get_clock_info("perf_counter").implementation == "clock_gettime(CLOCK_MONOTONIC)"
        ):
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
                fd = libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
                if fd >= 0:
                    self._fd, self._libc = fd, libc
                    loop.add_reader(fd, self._fired)
            except (OSError, AttributeError):
                self._fd = -1

    async def sleep_until(self, deadline_ns: int) -> None:
        """Return at (or just after) ``deadline_ns``, or earlier if :meth:`wake` is called."""
        delay = deadline_ns - time.perf_counter_ns()
        if delay <= 0:
            return
        waiter = self._waiter = self._loop.create_future()
        if self._fd >= 0:
            spec = _Itimerspec(
                _Timespec(0, 0), _Timespec(deadline_ns // 1_000_000_000, deadline_ns % 1_000_000_000)
            )
            self._libc.timerfd_settime(self._fd, _TFD_TIMER_ABSTIME, ctypes.byref(spec), None)  # type: ignore
            handle = None
        else:
            handle = self._loop.call_later(delay / 1e9, self._fired)
        try:
            await waiter
        finally:
            self._waiter = None
            if handle is not None:
                handle.cancel()

    def _fired(self) -> None:
        if self._fd >= 0:
            try:
                os.read(self._fd, 8)
            except BlockingIOError:
                return
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def close(self) -> None:
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1


def realtime_offset_ns(samples: int = 7) -> int:
    """``CLOCK_REALTIME`` (``time.time_ns()``) minus ``perf_counter_ns()`` now, in ns: add it to a
    ``perf_counter_ns`` time for wall-clock ns, subtract it from a wall-clock time (a kernel receive
    timestamp) for the ``perf_counter_ns`` timebase.

    Each sample reads the wall clock between two ``perf_counter_ns`` reads and takes their midpoint; the
    narrowest of ``samples`` brackets wins, so a preemption between two reads (common on a loaded machine)
    does not skew the offset. The error is at most half that bracket (tens of ns). The two clocks drift
    apart under NTP slewing and jump on a clock step: a long-lived user re-measures it (the protocol
    transport does every :data:`OFFSET_REFRESH_NS`)."""
    best_width = best_offset = 0
    for index in range(max(1, samples)):
        before = perf_counter_ns()
        wall = time_ns()
        after = perf_counter_ns()
        if index == 0 or after - before < best_width:
            best_width, best_offset = after - before, wall - (before + after) // 2
    return best_offset


OFFSET_REFRESH_NS = 1_000_000_000
"""How often a long-lived converter of wall-clock stamps re-measures :func:`realtime_offset_ns` (1 s)."""
