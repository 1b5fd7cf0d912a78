"""The driver's end of one Ray worker: a connection the engine reads like a local worker's pipe, fed by a
thread that long-polls the actor.

:class:`ActorConnection` is what the engine's phase loop waits on (``fileno()``), reads (``recv()``) and
writes (``send()``); the messages it yields are the worker's own (records, phase done, failures), with
every record moved onto the driver's clocks (:mod:`inferload_plugins.executors.ray_clock`) and, after
``READY``, ``STATS`` messages carrying the actor's node, pid, CPU, memory and clock offset.

When the actor's node is lost mid-phase, :class:`WorkerLink` turns what the worker last reported in
flight into failed records (error type :data:`ERROR_WORKER_LOST`), then reports the loss as the worker's
failure, naming what happened to its share of the load.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import os
import threading
import time
from time import perf_counter_ns
from typing import Any

from inferload.engine.messages import (
    EXIT,
    FAILED,
    PHASE,
    PHASE_DONE,
    READY,
    RECORDS,
    STATS,
    STOP,
    PhaseCommand,
    WorkerReady,
    decode_batch,
)
from inferload.records import RequestError, RequestRecord
from inferload_plugins.executors.ray_clock import SAME_HOST, ClockEstimate, host_clock_id, measure

log = logging.getLogger("inferload.profile")

ERROR_WORKER_LOST = "worker_lost"
"""Error type of a request that was in flight on a worker whose node (or actor) was lost."""
POLL_WAIT_SEC = 0.1
"""How long one poll waits on the actor for a first message."""
LOST_AFTER_SEC = 10.0
"""A worker whose actor has not answered a poll for this long is lost."""
PLACE_TIMEOUT_SEC = 50.0
"""How long a worker actor may wait for the cluster to place it (less than the engine's ready timeout)."""
CLOCK_SAMPLES = 5
"""Round trips per clock measurement; the fastest one is kept."""
CLOCK_INTERVAL_SEC = 5.0
"""How often a worker's clock offset is measured again during the run."""
CLOCK_ENV = "INFERLOAD_RAY_CLOCK"
"""``estimate``: apply the measured offsets even to workers on the driver's own host (which otherwise get
the exact zero offsets of a shared clock); the cross-machine path, tried on one machine."""


class ActorConnection:
    """A one-way queue of worker messages with a ``fileno()`` for ``multiprocessing.connection.wait``
    (one byte per message in an OS pipe), and ``send()`` to the worker through its link."""

    def __init__(self, link: WorkerLink) -> None:
        self._link = link
        self._messages: collections.deque[tuple[Any, ...]] = collections.deque()
        self._read_fd, self._write_fd = os.pipe()
        self._ended = False
        self._closed = False
        self._write_lock = threading.Lock()
        """Held to write or close the write end: the engine's thread may close while the link delivers."""

    def fileno(self) -> int:
        return self._read_fd

    def send(self, message: tuple[str, Any]) -> None:
        """Pass a command to the worker; OSError once the link has ended."""
        if self._ended:
            raise OSError(f"{self._link.worker_id}'s actor is gone")
        self._link.push(message)

    def recv(self) -> tuple[Any, ...]:
        """The next message (blocking); EOFError once the link has ended and every message was read."""
        if not os.read(self._read_fd, 1):
            raise EOFError
        return self._messages.popleft()

    def poll(self, timeout: float = 0.0) -> bool:
        from multiprocessing.connection import wait

        return bool(wait([self], timeout))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.end()
        with contextlib.suppress(OSError):
            os.close(self._read_fd)

    def deliver(self, message: tuple[Any, ...]) -> None:
        with self._write_lock:
            if self._ended:
                return
            self._messages.append(message)
            with contextlib.suppress(OSError):
                os.write(self._write_fd, b"\0")

    def end(self) -> None:
        """No more messages: the reader gets EOFError after the queued ones."""
        with self._write_lock:
            if self._ended:
                return
            self._ended = True
            with contextlib.suppress(OSError):
                os.close(self._write_fd)


class WorkerLink:
    """Places one worker actor, measures its clocks, starts its worker and relays its messages until it
    ends (see the module docstring). ``exitcode`` is None while it runs, 0 after a clean exit, 1 after a
    loss or failure."""

    def __init__(self, worker_id: str, actor: Any, init: Any) -> None:
        self.worker_id = worker_id
        self.actor = actor
        self.init = init
        self.conn = ActorConnection(self)
        self.pid: int | None = None
        self.node: str | None = None
        self.clock: ClockEstimate = SAME_HOST
        """The offsets applied to this worker's times: exact zeros on the driver's host, else ``measured``."""
        self.measured: ClockEstimate | None = None
        """The latest NTP-style estimate (taken on the driver's host too: there its distance from 0 is the
        method's own error)."""
        self.trust_host = os.environ.get(CLOCK_ENV, "").strip().lower() != "estimate"
        self.clock_samples = 0
        self.exitcode: int | None = None
        self.same_host = False
        self._seq = 0
        self._push_lock = threading.Lock()
        self._exit_sent = False
        self._stop = threading.Event()
        self._ready_sent = False
        self._phase: PhaseCommand | None = None
        self._sent = 0
        self._known: dict[int, tuple[Any, ...]] = {}
        self._highest_seen = -1
        """The highest request id this phase reported sent or in flight (ids are taken in order)."""
        self.thread = threading.Thread(target=self._run, name=f"inferload-link-{worker_id}", daemon=True)

    # -- the engine's side -----------------------------------------------------------------------

    def push(self, message: tuple[str, Any]) -> None:
        """Send a command to the actor, its times moved onto the worker's monotonic clock."""
        kind, payload = message
        offset = self.clock.mono_offset_ns
        if kind == PHASE:
            self._phase, self._sent, self._highest_seen = payload, 0, -1
            payload = dataclasses.replace(
                payload,
                t0_ns=payload.t0_ns + offset,
                stop_ns=None if payload.stop_ns is None else payload.stop_ns + offset,
                grace_ns=None if payload.grace_ns is None else payload.grace_ns + offset,
            )
        elif kind == STOP and payload is not None:
            payload += offset
        elif kind == EXIT:
            self._exit_sent = True
        with self._push_lock:
            seq, self._seq = self._seq, self._seq + 1
            self.actor.push.remote(seq, (kind, payload))

    def kill(self) -> None:
        """End the actor now (its link thread then ends)."""
        self._stop.set()
        _kill_actor(self.actor)

    # -- the link thread -------------------------------------------------------------------------

    def _run(self) -> None:
        import ray
        from ray.exceptions import GetTimeoutError, RayError

        try:
            where = ray.get(self.actor.where.remote(), timeout=PLACE_TIMEOUT_SEC)
        except GetTimeoutError:
            self._fail(f"{self.worker_id} could not be placed on the Ray cluster within "
                       f"{PLACE_TIMEOUT_SEC:g} s (each asks for --ray-worker-resources, default CPU=1): "
                       "lower --ray-workers or the resources, or add nodes")
            return
        except RayError as exc:
            self._fail(f"{self.worker_id}'s actor failed to start: {_ray_reason(exc)}")
            return
        self.pid, self.node = where["pid"], f"{where['node']} ({where['node_id'][:12]})"
        clock_id = where["clock_id"]
        self.same_host = self.trust_host and clock_id is not None and clock_id == host_clock_id()
        try:
            self._measure_clock()
            ray.get(self.actor.start.remote(self.init), timeout=PLACE_TIMEOUT_SEC)
        except RayError as exc:
            self._fail(f"{self.worker_id} on {self.node} failed to start: {_ray_reason(exc)}")
            return
        self._relay()

    def _relay(self) -> None:
        import ray
        from ray.exceptions import RayError

        last_answer = time.monotonic()
        last_clock = time.monotonic()
        while not self._stop.is_set():
            try:
                reply = ray.get(self.actor.pull.remote(POLL_WAIT_SEC), timeout=LOST_AFTER_SEC)
            except RayError as exc:
                if _unavailable(exc) and time.monotonic() - last_answer < LOST_AFTER_SEC:
                    time.sleep(POLL_WAIT_SEC)
                    continue
                self._lost(_ray_reason(exc))
                return
            last_answer = time.monotonic()
            self._take(reply)
            if not reply["alive"] and not reply["messages"] and self._ready_sent:
                self.exitcode = 0 if self._exit_sent else 1
                break
            due = last_answer - last_clock >= CLOCK_INTERVAL_SEC
            if self._ready_sent and due:
                last_clock = last_answer
                with contextlib.suppress(RayError):
                    self._measure_clock()
                    self._stats({})
        _kill_actor(self.actor)
        self.conn.end()

    def _take(self, reply: dict[str, Any]) -> None:
        """One poll's answer: remember what is in flight, pass the messages on, then the figures."""
        self._known = {entry[0]: entry for entry in reply["inflight"]}
        if self._phase is not None and self._known:
            self._highest_seen = max(self._highest_seen, *self._known)
        self._sent = max(self._sent, reply["sent"]) if self._phase is not None else self._sent
        for message in reply["messages"]:
            kind = message[0]
            if kind == READY:
                ready: WorkerReady = message[1]
                # pid None: the engine must not sample a pid of another machine; STATS carries it
                wall_ns = ready.ready_wall_ns - self.clock.wall_offset_ns
                self.conn.deliver((READY, WorkerReady(None, wall_ns, ready.setup_ns)))  # type: ignore[arg-type]
                self._ready_sent = True
                self._stats({})
            elif kind == RECORDS:
                records, _ = decode_batch(message[1])  # rewritten below: delivered as records
                for record in records:
                    self._known.pop(record.request_id, None)
                    self._highest_seen = max(self._highest_seen, record.request_id)
                    _to_driver_clock(record, self.clock)
                self._sent = max(self._sent, message[2])
                self.conn.deliver((RECORDS, records, message[2]))
            elif kind == PHASE_DONE:
                self._phase = None
                self.conn.deliver(message)
            else:
                self.conn.deliver(message)
        if reply["stats"] is not None and self._ready_sent:
            self._stats(reply["stats"])

    def _stats(self, figures: dict[str, Any]) -> None:
        clock = self.clock
        self.conn.deliver((STATS, {
            **figures,
            "pid": self.pid,
            "node": self.node,
            "clock_offset_ns": clock.wall_offset_ns,
            "clock_uncertainty_ns": clock.uncertainty_ns,
            "clock_measured_offset_ns": None if self.measured is None else self.measured.wall_offset_ns,
            "clock_samples": self.clock_samples,
        }))

    def _hand_back_ids(self) -> int:
        """Return the lost worker's unsent ids to the id actor for the survivors; how many (0 on error)."""
        import ray
        from ray.exceptions import RayError

        try:
            return int(ray.get(self.init.counter.actor.release.remote(self.worker_id, self._highest_seen),
                               timeout=LOST_AFTER_SEC))
        except RayError:
            return 0

    def _measure_clock(self) -> None:
        import ray

        ask = lambda: ray.get(self.actor.clocks.remote(), timeout=LOST_AFTER_SEC)  # noqa: E731
        self.measured = measure(ask, CLOCK_SAMPLES)
        self.clock_samples += CLOCK_SAMPLES
        if not self.same_host:
            self.clock = self.measured

    # -- endings ---------------------------------------------------------------------------------

    def _fail(self, message: str) -> None:
        self.exitcode = 1
        self.conn.deliver((FAILED, message))
        _kill_actor(self.actor)
        self.conn.end()

    def _lost(self, reason: str) -> None:
        """The actor stopped answering: record what it had in flight as failed, then report the loss."""
        if self._exit_sent and self._phase is None:
            self.exitcode = 0 if self._ready_sent else 1  # it was ending anyway
            _kill_actor(self.actor)
            self.conn.end()
            return
        where = f"{self.worker_id} on node {self.node}"
        phase = self._phase
        if phase is None:
            self._fail(f"{where} was lost ({reason})")
            return
        now = perf_counter_ns()
        error = RequestError(ERROR_WORKER_LOST, f"{where} was lost with this request in flight ({reason}); "
                                                "no response was recorded")
        records = [_lost_record(entry, self.worker_id, now, error, self.clock)
                   for entry in self._known.values()]
        self.conn.deliver((RECORDS, records, self._sent))
        if phase.schedule is not None:
            shortfall = max(0, len(phase.schedule.offsets_ns) - self._sent)
            share = (f"{shortfall} request(s) of its share of the schedule were not sent (shortfall)"
                     if shortfall else "it had sent its whole share of the schedule")
        elif phase.end_id is not None:
            handed_back = self._hand_back_ids()
            share = "the surviving workers send the rest of the request count"
            if handed_back:
                share += f", {handed_back} id(s) it had taken but not sent included"
        else:
            share = "the surviving workers kept the load until the duration ended, without its share"
        message = (f"{where} was lost mid-run ({reason}): {len(records)} request(s) in flight recorded as "
                   f"failed ({ERROR_WORKER_LOST}); {share}")
        log.error("%s", message)
        self._fail(message)


def _to_driver_clock(record: RequestRecord, clock: ClockEstimate) -> None:
    """Shift every time of ``record`` onto the driver's clocks (durations are unchanged)."""
    if clock.same_host:
        return
    shift = clock.mono_offset_ns
    record.scheduled_ns -= shift
    record.start_ns -= shift
    record.end_ns -= shift
    if record.ack_ns is not None:
        record.ack_ns -= shift
    if record.first_answer_ns is not None:
        record.first_answer_ns -= shift
    record.chunk_ns = [t - shift for t in record.chunk_ns]
    record.start_wall_ns -= clock.wall_offset_ns


def _lost_record(entry: tuple[Any, ...], worker_id: str, now_ns: int, error: RequestError,
                 clock: ClockEstimate) -> RequestRecord:
    """A failed record for a request the worker reported in flight (``entry``: see ``WorkerActor.pull``);
    it ends ``now_ns`` (driver clock), when the loss was noticed."""
    request_id, phase, scheduled_ns, start_ns, start_wall_ns, conversation_id, x_request_id, isl, osl = entry
    start_ns = start_ns or scheduled_ns  # taken before the worker stamped its start
    record = RequestRecord(request_id, phase, worker_id, conversation_id, x_request_id, scheduled_ns,
                           start_ns, start_ns, start_wall_ns or 0, isl, osl, error=error)
    _to_driver_clock(record, clock)
    record.end_ns = max(now_ns, record.start_ns)
    return record


def _unavailable(exc: BaseException) -> bool:
    """A Ray error that may pass (the actor is restarting or its node is briefly unreachable)."""
    from ray.exceptions import ActorUnavailableError

    return isinstance(exc, ActorUnavailableError)


def _ray_reason(exc: BaseException) -> str:
    """The first line of a Ray error, which is otherwise a page long."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _kill_actor(actor: Any) -> None:
    import ray

    with contextlib.suppress(Exception):
        ray.kill(actor, no_restart=True)
