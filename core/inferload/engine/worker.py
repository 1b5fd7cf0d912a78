"""A worker process: one asyncio (uvloop) loop, one transport with its keep-alive pool, many requests.

The worker receives its prepared payloads once, then runs phases on command. In concurrency mode each of
its slots sends back-to-back requests (ids from a counter shared by all workers, so a request count is
exact); in rate mode it sleeps until each scheduled start on an absolute clock (no drift) and, with a cap,
waits for a free slot (recorded as the request's slot wait, apart from the client's own schedule lag).
Every request that is sent ends as exactly one :class:`~inferload.records.RequestRecord` — success, error,
timeout or cancellation — and records go back to the parent in batches a few times per second.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator
from functools import partial
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from inferload.dialects import StopResponse, set_recognisers
from inferload.endpoint import error_from_body
from inferload.engine.clock import AbsoluteSleeper, realtime_offset_ns
from inferload.engine.flow import request_watchers, start_flows
from inferload.engine.load_pacing import Pace
from inferload.engine.messages import (
    CANCEL,
    EXIT,
    FAILED,
    LOAD,
    PHASE,
    PHASE_DONE,
    READY,
    RECORDS,
    STOP,
    LoadCommand,
    PhaseCommand,
    WorkerInit,
    WorkerReady,
    encode_batch,
)
from inferload.engine.parent_pipe import ParentPipe
from inferload.engine.transport import REQUEST_ID_HEADER, TransportError
from inferload.records import (
    ERROR_CANCELLED,
    ERROR_CLIENT,
    ERROR_REQUEST_CANCELLED,
    ERROR_TIMEOUT,
    RequestError,
    RequestRecord,
    timeout_message,
)

if TYPE_CHECKING:
    from inferload.engine.flow import FlowRequest

log = logging.getLogger(__name__)

_ERROR_BODY_LIMIT = 4096
"""Bytes of a non-2xx response body kept for the error message."""
STOPPED = "stopped"
"""The abort kind of a request its parser ended (:class:`~inferload.dialects.StopResponse`)."""
_MAX_WARM_CONNECTIONS = 1024
"""Connections a worker opens before t=0 at most (its share of --concurrency, if smaller)."""
_WARM_TIMEOUT_SEC = 5.0
"""How long opening those connections may delay the worker's start."""
_SEND_SLICE = 64
"""Records pickled per pipe message at most (a batch is sent once it holds this many, or
``WorkerInit.batch_size`` if fewer): pickling holds the event loop, and so its chunk timestamps; a
512-record batch took ~1 ms, 64 records take ~0.1 ms."""


def _client_error(exc: Exception, status: int | None = None) -> RequestError:
    """An exception raised inside inferload while handling a response: ``client_error``, never a
    connection error (the exchange itself went fine)."""
    return RequestError(
        ERROR_CLIENT, f"client-side {type(exc).__name__} reading the response: {exc}", code=status
    )


TERMINAL_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
"""Signals a shell, ``timeout`` or a container runtime sends to the whole process group. They are the
parent's to handle (it drains the run and tells the workers over the pipe), so a worker ignores them: a
worker that died of one would take its in-flight requests with it."""


def worker_main(conn: Any, init: WorkerInit) -> None:
    """Process entry point. Terminal signals are the parent's to handle; it tells us to stop over the pipe.

    The parent starts workers with :data:`TERMINAL_SIGNALS` blocked (:func:`terminal_signals_blocked`),
    so one sent to the group while this process starts stays pending until it is ignored here."""
    for signum in TERMINAL_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, TERMINAL_SIGNALS)
    _die_with_parent()
    # A forked worker inherits the parent's whole heap; without this, every full collection would walk
    # it and stall the loop for tens of milliseconds, delaying chunk timestamps.
    gc.freeze()
    run_worker(conn, init)


def run_worker(conn: Any, init: WorkerInit, on_start: Callable[[Worker], None] | None = None) -> None:
    """Serve the parent over ``conn`` on a fresh event loop in the calling thread until told to exit; a
    failure is reported to the parent as ``FAILED``. :func:`worker_main` calls it in a worker process; an
    executor that hosts workers in processes it does not own (a Ray actor) calls it from a thread, with
    ``on_start`` to get hold of the :class:`Worker` (to report what it has in flight)."""
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    worker = Worker(conn, init, loop)
    if on_start is not None:
        on_start(worker)
    try:
        loop.run_until_complete(worker.serve())
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the run with it
        with contextlib.suppress(OSError):
            conn.send((FAILED, f"{type(exc).__name__}: {exc}"))
    finally:
        loop.close()


@contextlib.contextmanager
def terminal_signals_blocked() -> Iterator[None]:
    """Block :data:`TERMINAL_SIGNALS` in the calling thread while worker processes start: a child inherits
    the mask, so a group signal that arrives before :func:`worker_main` ignores it cannot kill the child.
    The parent's own pending signals are delivered (to its handlers) when the block ends."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, TERMINAL_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this worker when the parent dies, so a killed run (even ``kill -9``) leaves no
    orphan sending load; SIGKILL because the terminal signals are ignored here. Elsewhere the closed pipe
    ends the worker at its next read."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    import multiprocessing

    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:  # gone before prctl took effect
        os._exit(1)


class _Exchange:
    """One request in flight: the sink the transport reports to, and the record it fills.

    Body reads are parsed as they arrive (with the arrival time the transport took before any parsing).
    Deferring the parse to the end of the response was measured: no better TTFT skew at concurrency 256,
    ~10% more CPU per request.
    """

    __slots__ = (
        "abort", "cancel_error", "client_error", "deadline_ns", "ended", "error_body", "last_ns", "parser",
        "record", "stop", "wall_offset",
    )

    def __init__(self, record: RequestRecord, parser: Any, wall_offset: int) -> None:
        self.record = record
        self.parser = parser
        self.error_body: bytearray | None = None
        self.last_ns = 0
        self.abort: str | None = None
        self.client_error: RequestError | None = None
        """An exception the parser raised on a body read: the request's error, never the transport's."""
        self.deadline_ns = 0
        self.wall_offset = wall_offset
        self.stop: Any = None
        """Called with this exchange when the parser raises StopResponse: the worker ends the request."""
        self.ended = False
        """True once the parser raised StopResponse: a transport reading in the task stops (ResponseSink)."""
        self.cancel_error: RequestError | None = None
        """The error a request flow cancelled this request with (its ``on_request``'s ``cancel``)."""

    def reply_text(self) -> str:
        """The reply's text as the endpoint adapter's parser read it (a session's next turn carries it)."""
        return self.parser.answer_text()

    def on_sent(self, ts_ns: int) -> None:
        """The transport's stamp, immediately before the first byte is written: the request's start."""
        self.record.start_ns = ts_ns
        self.record.start_wall_ns = ts_ns + self.wall_offset

    def on_headers(self, status: int, ts_ns: int) -> None:
        self.record.status = status
        self.record.ack_ns = ts_ns
        if not 200 <= status < 300:
            self.error_body = bytearray()

    def on_body(self, data: bytes, ts_ns: int, read_ns: int = 0) -> None:
        """A body read that arrived at ``ts_ns``. A transport that stamps reads with the kernel's receive
        time gives the user-space read time too (``read_ns``; 0: none): the record keeps the longest wait."""
        self.last_ns = ts_ns
        if read_ns:
            record = self.record
            delay = read_ns - ts_ns
            if record.read_delay_ns is None or delay > record.read_delay_ns:
                record.read_delay_ns = delay
        if self.error_body is None:
            if self.client_error is None:
                try:
                    self.parser.feed(data, ts_ns)
                except StopResponse as stop:  # e.g. the first event is of another dialect: end it now
                    self.client_error = stop.error
                    self.ended = True
                    if self.stop is not None:
                        self.stop(self)
                except Exception as exc:  # noqa: BLE001 - a parser bug fails this request, not the exchange
                    self.client_error = _client_error(exc)
        elif len(self.error_body) < _ERROR_BODY_LIMIT:
            self.error_body += data

    on_body_read = on_body
    """The transport's optional call with the user-space read time too (one method: one call per read)."""


class Worker:
    """Runs phases for the parent; see the module docstring."""

    def __init__(self, conn: Any, init: WorkerInit, loop: asyncio.AbstractEventLoop) -> None:
        self.conn = conn
        self.init = init
        set_recognisers(init.dialects)
        self.loop = loop
        self.transport: Any = None
        self.adapter: Any = None
        self.sleeper: AbsoluteSleeper | None = None
        self.inflight: dict[_Exchange, asyncio.Task[Any]] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self.batch: list[RequestRecord] = []
        self.phase = ""
        self.sent = 0
        self.reported_sent = 0
        self.stopping = False
        self.driver: asyncio.Task[Any] | None = None
        self.done = loop.create_future()
        self.pipe: ParentPipe | None = None
        """Messages to the parent once serving (READY goes before, directly)."""
        self.batch_limit = max(1, min(init.batch_size, _SEND_SLICE))
        self.timers: list[asyncio.Handle] = []
        self.tick: asyncio.Handle | None = None
        self.perf_anchor = perf_counter_ns()
        self.wall_offset = realtime_offset_ns()
        self.wall_anchor = self.perf_anchor + self.wall_offset
        """Add to a perf_counter_ns() time for wall-clock ns (one anchor per process)."""
        self.timeout_ns = int(init.request_timeout * 1e9)
        self.ids_lock = init.counter.get_lock()
        self.ids_acquire, self.ids_release = self.ids_lock.acquire, self.ids_lock.release
        self.stop_exchange = self._stop_exchange
        """:meth:`_stop_exchange` bound once, for every request's exchange (no bound method per request)."""
        raw = getattr(init.counter, "get_obj", None)
        self.ids: Any = init.counter if raw is None else raw()
        """The shared counter's value, read and set under :attr:`ids_lock` (:meth:`next_id`): for a
        ``multiprocessing.Value``, the raw shared integer, whose ``value`` does not take the lock again on
        every access as the synchronized wrapper's does (two lock round trips fewer per request)."""
        self.user_request_id = next(
            (value for name, value in init.headers.items() if name.lower() == REQUEST_ID_HEADER.lower()), None
        )
        """The user's own ``-H X-Request-Id`` value: it replaces the per-request UUID (and is recorded)."""
        self.uuid_prefix = str(uuid4())[:24]
        """A random version-4 UUID without its last 48 bits, which each request fills with its run-unique
        id: a valid UUID per request (~70 random bits tell workers and runs apart) for ~0.2 µs instead of
        the ~2.6 µs of ``str(uuid4())`` on the hot path."""
        self.timeout_message = timeout_message(init.request_timeout, init.output_limited)
        self.timeout_timer: asyncio.TimerHandle | None = None
        self.flows: list[tuple[str, Any]] = []
        """The run's request flows as started in this worker (:mod:`inferload.engine.flow`), by name."""
        self.driving: tuple[str, Any] | None = None
        """The flow that sends the phases instead of the single-prompt loops, if one does."""
        self.watchers: tuple[tuple[str, Callable[..., Any]], ...] = ()
        """``(name, on_request)`` of the flows that watch every request sent (none: no per-request cost)."""
        # the load in force (docs/control.md): a rate schedule's pace, concurrency mode's slots, a pause
        self.pace = Pace(0)
        self.slot_target = 0
        self.slots = 0
        self.unpaused = asyncio.Event()
        self.phase_cmd: PhaseCommand | None = None
        self.load_queue: list[LoadCommand] = []
        """Load changes not yet in force, by instant: applied by their timers, and before any send decision
        after their instant (a timer late on a busy loop must not let a request through the change)."""

    async def serve(self) -> None:
        init = self.init
        self.transport = init.transport_factory(
            url=init.url,
            headers=init.headers,
            max_connections=init.max_connections,
            connect_timeout=init.request_timeout,
        )
        self.adapter = init.endpoint_factory()
        self.sleeper = AbsoluteSleeper(self.loop)
        names = [name for name, _ in init.flows]
        self.flows = list(zip(names, start_flows([part for _, part in init.flows], self), strict=True))
        self.driving = next(((n, f) for n, f in self.flows if callable(getattr(f, "drive", None))), None)
        self.watchers = request_watchers(self.flows)
        self.loop.add_reader(self.conn.fileno(), self._on_command)
        # uvloop makes a watched fd non-blocking; a command must be read whole, so undo that (the messages
        # to the parent never wait on it: ParentPipe writes them without blocking).
        os.set_blocking(self.conn.fileno(), True)
        setup_start = perf_counter_ns()
        prepare = getattr(self.transport, "prepare", None)
        if prepare is not None:
            # imports, client sessions, pools: every set-up a transport would otherwise do lazily inside the
            # first request's timed window
            await prepare()
        warm = getattr(self.transport, "warm", None)
        warm_count = init.max_connections if init.warm_connections is None else init.warm_connections
        if warm is not None and warm_count:
            # bounded: an unreachable server must show up as request errors, not as a worker that never starts
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(
                    warm(min(warm_count, _MAX_WARM_CONNECTIONS)),
                    min(_WARM_TIMEOUT_SEC, init.request_timeout),
                )
        ready = perf_counter_ns()
        self.pipe = ParentPipe(self.conn, self.loop, self._parent_gone)
        self.pipe.send((READY, WorkerReady(os.getpid(), ready + self.wall_offset, ready - setup_start)))
        try:
            await self.done
        finally:
            self.pipe.close()
            self.loop.remove_reader(self.conn.fileno())
            self.sleeper.close()
            await self.transport.close()

    # -- commands from the parent ----------------------------------------------------------------

    def _on_command(self) -> None:
        try:
            kind, payload = self.conn.recv()
        except (EOFError, OSError):  # the parent is gone: stop at once
            self._parent_gone()
            return
        if kind == PHASE:
            task = self.loop.create_task(self._run_phase(payload))
            task.add_done_callback(self._phase_task_done)
        elif kind == STOP:
            self._stop_sending()
            if payload is not None:
                self._at(payload, self._cancel_inflight)
        elif kind == CANCEL:
            self._stop_sending()
            self._cancel_inflight()
        elif kind == LOAD:
            self._queue_load(payload)
        elif kind == EXIT and not self.done.done():
            self.done.set_result(None)

    def _phase_task_done(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None and not self.done.done():
            self.done.set_exception(task.exception())  # type: ignore[arg-type]

    # -- phases ----------------------------------------------------------------------------------

    async def _run_phase(self, cmd: PhaseCommand) -> None:
        self.phase, self.sent, self.reported_sent, self.stopping = cmd.phase, 0, 0, False
        self.timers = []
        self.tick = self.loop.call_later(self.init.batch_interval, self._tick)
        self.phase_cmd, self.pace, self.slots = cmd, Pace(cmd.t0_ns, cmd.speed, cmd.paused), 0
        self.slot_target = cmd.concurrency if cmd.concurrency is not None else 1
        self._set_paused(cmd.paused)
        self.load_queue = []
        for change in cmd.load_changes:
            self._queue_load(change)
        if cmd.stop_ns is not None:
            self._at(cmd.stop_ns, self._stop_sending)
        if cmd.grace_ns is not None:
            self._at(cmd.grace_ns, self._cancel_inflight)
        if self.driving is not None:  # a request flow (multi-turn sessions) sends the phase
            self.driver = self.loop.create_task(self._flow_driver(cmd))
        elif cmd.schedule is not None:
            self.driver = self.loop.create_task(self._rate_driver(cmd))
        else:
            self.driver = self.loop.create_task(self._concurrency_driver(cmd))
        with contextlib.suppress(asyncio.CancelledError):
            await self.driver
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
        for handle in self.timers:
            handle.cancel()
        if self.tick is not None:
            self.tick.cancel()
        self._flush()
        self._report((PHASE_DONE, cmd.phase, self.sent))

    async def _flow_driver(self, cmd: PhaseCommand) -> None:
        name, flow = self.driving  # type: ignore[misc]
        try:
            await flow.drive(cmd)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise RuntimeError(f"request flow {name!r} failed: {type(exc).__name__}: {exc}") from exc

    async def sleep_until(self, deadline_ns: int) -> None:
        """Sleep until ``deadline_ns`` (``perf_counter_ns``); a stop or load change wakes it early."""
        await self.sleeper.sleep_until(deadline_ns)  # type: ignore[union-attr]

    async def _concurrency_driver(self, cmd: PhaseCommand) -> None:
        await self.sleeper.sleep_until(cmd.t0_ns)  # type: ignore[union-attr]
        self._fill_slots(cmd)

    def _fill_slots(self, cmd: PhaseCommand) -> None:
        """Start slots up to the target (a lowered target retires slots as their requests end)."""
        while self.slots < self.slot_target and not self.stopping:
            self.slots += 1
            task = self.loop.create_task(self._slot(cmd))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            # a slot that raises (the shared id counter failed; a request's own faults are its record) fails
            # the worker, which the parent reports: never a phase that ends early and says it is done
            task.add_done_callback(self._phase_task_done)

    def next_id(self, end_id: int | None) -> int | None:
        """The next id from the counter all workers share (concurrency mode), None once ``end_id`` is
        reached: each id is taken exactly once across the run's workers."""
        self.ids_acquire()  # the lock's own C methods: ``with lock`` adds two Python calls (~0.4 µs)
        try:
            taken = self.ids.value
            if end_id is not None and taken >= end_id:
                return None
            self.ids.value = taken + 1
        finally:
            self.ids_release()
        return taken

    async def _slot(self, cmd: PhaseCommand) -> None:
        end_id, stop_ns = cmd.end_id, cmd.stop_ns
        try:
            while not self.stopping:
                if self.load_queue:
                    self._apply_due_loads()
                if self.slots > self.slot_target:
                    return
                if stop_ns is not None and perf_counter_ns() >= stop_ns:
                    return
                if not self.unpaused.is_set():
                    await self.unpaused.wait()
                    continue
                request_id = self.next_id(end_id)
                if request_id is None:
                    return
                await self.send(request_id, perf_counter_ns())
        finally:
            self.slots -= 1

    async def _rate_driver(self, cmd: PhaseCommand) -> None:
        sleeper = self.sleeper
        cap = asyncio.Semaphore(cmd.concurrency) if cmd.concurrency else None
        freed_ns = 0
        """When the cap last let the schedule go on: requests due while the driver waited for a slot
        could not go before it either (in schedule order), so that wait is never their client lag."""
        pace = self.pace  # this phase's: changes move it in place
        for request_id, offset in cmd.schedule or ():
            while True:  # until due at the pace in force: a load change wakes the sleeper to look again
                if self.load_queue:
                    self._apply_due_loads()
                due = pace.due(offset)
                if self.stopping:
                    return
                if due is None:
                    await self.unpaused.wait()
                elif due > perf_counter_ns():
                    await sleeper.sleep_until(due)  # type: ignore[union-attr]
                else:
                    break
            if self.stopping:
                return
            if cap is not None:
                held = cap.locked()
                await cap.acquire()
                if self.stopping:
                    cap.release()
                    return
                if held:  # it could go only once a slot came free: that wait is the server's pace
                    freed_ns = perf_counter_ns()
            ready = max(due, freed_ns)
            task = self.loop.create_task(self.send(request_id, due, cap, ready))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    def track(self, task: asyncio.Task[Any]) -> None:
        """Keep ``task`` (a slot or a request) until it ends: the phase ends once all have."""
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # -- one request -----------------------------------------------------------------------------

    async def send(
        self,
        request_id: int,
        scheduled_ns: int,
        cap: asyncio.Semaphore | None = None,
        ready_ns: int | None = None,
        request: FlowRequest | None = None,
    ) -> _Exchange:
        """Send one request and record it; return its exchange. ``ready_ns``: when it could go (default
        ``scheduled_ns``); later only when a ``--concurrency`` cap held it for a free slot. ``request``: a
        driving flow's request (:class:`~inferload.engine.flow.FlowRequest`, a session's turn), sent instead
        of the prepared payload of ``request_id``."""
        init = self.init
        if request is None:
            index = request_id % len(init.payloads)
            payload, conversation_id = init.payloads[index], init.conversation_ids[index]
            input_tokens, output_tokens = init.input_tokens[index], init.output_tokens[index]
        else:
            payload, conversation_id = request.body, request.conversation_id
            input_tokens, output_tokens = request.input_tokens, request.output_tokens
        record = RequestRecord(
            request_id,
            self.phase,
            init.worker_id,
            conversation_id,
            f"{self.uuid_prefix}{request_id:012x}" if self.user_request_id is None else self.user_request_id,
            scheduled_ns,
            0,
            0,
            0,
            input_tokens,
            output_tokens,
        )
        headers = {REQUEST_ID_HEADER: record.x_request_id} if self.user_request_id is None else {}
        if request is not None:
            record.session_id, record.turn_index = request.session_id, request.turn_index
            headers.update(request.headers)
        exchange = _Exchange(record, self.adapter.parser(init.streaming), self.wall_offset)
        exchange.stop = self.stop_exchange
        task = asyncio.current_task(self.loop)
        self.inflight[exchange] = task  # type: ignore[assignment]
        self.sent += 1
        # the start if the transport does not stamp it itself (on_sent) just before writing
        record.start_ns = start = perf_counter_ns()
        record.start_wall_ns = start + self.wall_offset
        # Measured to the hand-over, not to on_sent: connecting (a reconnect after a timeout) is not ours.
        ready = scheduled_ns if ready_ns is None else ready_ns
        record.slot_wait_ns = ready - scheduled_ns
        record.client_lag_ns = max(0, start - ready)
        exchange.deadline_ns = start + self.timeout_ns
        if self.timeout_timer is None:
            self.timeout_timer = self.loop.call_later(init.request_timeout, self._expire)
        ends = self._watch(request_id, exchange) if self.watchers else None
        try:
            record.bytes_sent, record.bytes_received = await self.transport.request(
                payload, headers, exchange
            )
            record.end_ns = exchange.last_ns or perf_counter_ns()
            if exchange.error_body is not None:
                record.error = error_from_body(record.status or 0, bytes(exchange.error_body))
            elif exchange.client_error is not None:
                record.error = exchange.client_error
            else:
                exchange.parser.finish(record, init.tokenizer)
        except asyncio.CancelledError:
            record.end_ns = perf_counter_ns()
            kind = exchange.abort or ERROR_CANCELLED
            if exchange.abort is not None and task is not None:
                task.uncancel()
            self._partial(exchange)
            if kind == STOPPED:
                record.end_ns = exchange.last_ns or record.end_ns
                record.error = exchange.client_error
            elif kind == ERROR_TIMEOUT:
                record.error = RequestError(ERROR_TIMEOUT, self.timeout_message)
            elif kind == ERROR_REQUEST_CANCELLED:
                record.cancelled = True
                record.error = exchange.cancel_error
            else:
                record.cancelled = True
                record.error = RequestError(ERROR_CANCELLED, "cancelled in flight: the run was stopping")
            if exchange.abort is None:
                raise
        except TransportError as exc:
            record.end_ns = perf_counter_ns()
            record.bytes_sent, record.bytes_received = exc.bytes_sent, exc.bytes_received
            self._partial(exchange)
            record.error = RequestError(exc.kind, str(exc), code=record.status)
        except Exception as exc:  # noqa: BLE001 - a failed request is a record, never a crashed worker
            record.end_ns = perf_counter_ns()
            record.error = _client_error(exc, record.status)
        finally:
            if ends:
                for end in ends:
                    end()
            del self.inflight[exchange]
            if cap is not None:
                cap.release()
            self.batch.append(record)
            if len(self.batch) >= self.batch_limit:
                self._flush()
        return exchange

    def _watch(self, request_id: int, exchange: _Exchange) -> list[Callable[[], Any]]:
        """Tell every flow's ``on_request`` of ``request_id``; what they return runs when it ends. A flow that
        raises leaves the request its ``client_error`` (sent all the same, so it stays accounted for)."""
        cancel = partial(self._cancel_by_flow, exchange)
        ends = []
        for name, watch in self.watchers:
            try:
                end = watch(request_id, cancel)
            except Exception as exc:  # noqa: BLE001 - a broken flow fails this request, not the worker
                exchange.client_error = RequestError(
                    ERROR_CLIENT, f"request flow {name!r} failed on this request: {type(exc).__name__}: {exc}"
                )
                continue
            if end is not None:
                ends.append(end)
        return ends

    def _cancel_by_flow(self, exchange: _Exchange, error: RequestError) -> None:
        """A flow abandons ``exchange`` (a client-side cancellation): its record is ``cancelled``, with
        ``error``. Nothing happens to a request that has ended."""
        if exchange.abort is None and exchange in self.inflight:
            exchange.cancel_error = error
            self._abort(exchange, ERROR_REQUEST_CANCELLED)

    def _partial(self, exchange: _Exchange) -> None:
        """Keep what a cut-short stream did deliver (chunk times, usage); the error is set after."""
        if exchange.error_body is None and exchange.record.status is not None:
            with contextlib.suppress(Exception):
                exchange.parser.finish(exchange.record, None)

    def _expire(self) -> None:
        """Time out what is overdue, then re-arm for the oldest request left.

        One timer for the worker, not one per request: every request has the same timeout, so deadlines
        follow start order, which is the insertion order of ``inflight``."""
        self.timeout_timer = None
        now = perf_counter_ns()
        overdue = []
        next_deadline = None
        for exchange in self.inflight:
            if exchange.abort is not None:
                continue  # already being cancelled; its task removes it
            if exchange.deadline_ns > now:
                next_deadline = exchange.deadline_ns
                break
            overdue.append(exchange)
        for exchange in overdue:
            self._abort(exchange, ERROR_TIMEOUT)
        if next_deadline is not None:
            # +1 ms: loop timers may fire up to ~1 ms early; an early wake-up would only re-arm
            delay = (next_deadline - now) / 1e9 + 0.001
            self.timeout_timer = self.loop.call_later(delay, self._expire)

    def _stop_exchange(self, exchange: _Exchange) -> None:
        """End a request its parser gave up on (StopResponse) at once: cancel its task when the body read
        came from outside it (the protocol transport's callbacks). A transport that reads inside the task
        stops at ``exchange.ended`` (BaseTransport.relay) and returns; either way the connection is closed
        and the record's error is the parser's."""
        if self.inflight.get(exchange) is not asyncio.current_task(self.loop):
            self._abort(exchange, STOPPED)

    def _abort(self, exchange: _Exchange, kind: str) -> None:
        task = self.inflight.get(exchange)
        if task is not None and exchange.abort is None:
            exchange.abort = kind
            task.cancel()

    # -- stopping and reporting ------------------------------------------------------------------

    def _queue_load(self, change: LoadCommand) -> None:
        """Put ``change`` in force at its instant (at once when that has passed)."""
        bisect.insort(self.load_queue, change, key=lambda queued: queued.at_ns)
        self._at(change.at_ns, partial(self._load_due, change))

    def _load_due(self, change: LoadCommand) -> None:
        """``change``'s timer: put what is due in force. A loop timer may run up to ~1 ms before
        ``perf_counter_ns`` reaches its instant (uvloop counts in whole ms); a change it finds not yet due
        is looked at again 1 ms after its instant, as nothing else would: a paused worker's slots and
        schedule wait on :attr:`unpaused` and make no send decision that would apply a resume."""
        self._apply_due_loads()
        if any(queued is change for queued in self.load_queue):
            self._at(change.at_ns + 1_000_000, partial(self._load_due, change))

    def _apply_due_loads(self) -> None:
        now = perf_counter_ns()
        while self.load_queue and self.load_queue[0].at_ns <= now:
            self._change_load(self.load_queue.pop(0))

    def _change_load(self, change: LoadCommand) -> None:
        """A new load target from ``change.at_ns`` on."""
        self.pace.change(change.at_ns, change.speed, change.paused)
        if change.paused is not None:
            self._set_paused(change.paused)
        if change.slots is not None:
            self.slot_target = change.slots
            if self.phase_cmd is not None and self.phase_cmd.schedule is None and self.driver is not None \
                    and self.driver.done():
                self._fill_slots(self.phase_cmd)
        if self.sleeper is not None:
            self.sleeper.wake()

    def _set_paused(self, paused: bool) -> None:
        if paused:
            self.unpaused.clear()
        else:
            self.unpaused.set()

    def _stop_sending(self) -> None:
        self.stopping = True
        for _, flow in self.flows:
            stop = getattr(flow, "stop", None)
            if stop is not None:
                stop()  # e.g. ends sessions' think times: no turn is sent any more
        self.unpaused.set()  # a paused slot or schedule wakes up to see it must stop
        if self.driver is not None and not self.driver.done():
            self.driver.cancel()
        if self.sleeper is not None:
            self.sleeper.wake()

    def _cancel_inflight(self) -> None:
        self._stop_sending()
        for exchange in list(self.inflight):
            self._abort(exchange, ERROR_CANCELLED)

    def _at(self, deadline_ns: int, callback: Any) -> None:
        delay = max(0.0, (deadline_ns - perf_counter_ns()) / 1e9)
        self.timers.append(self.loop.call_later(delay, callback))

    def _tick(self) -> None:
        self._flush()
        self.tick = self.loop.call_later(self.init.batch_interval, self._tick)

    def _flush(self) -> None:
        if not self.batch and self.sent == self.reported_sent:
            return
        batch, self.batch = self.batch, []
        self.reported_sent = self.sent
        self._report((RECORDS, batch, self.sent))

    def _report(self, message: tuple[Any, ...]) -> None:
        """Send a message to the parent; a record batch goes pickled once (:func:`encode_batch`), as bytes
        the parent stores unchanged, in messages of at most :data:`_SEND_SLICE` records."""
        pipe: ParentPipe = self.pipe  # type: ignore[assignment]  # set before READY, so before any command
        if message[0] == RECORDS and message[1]:
            _, batch, sent = message
            for i in range(0, len(batch), _SEND_SLICE):
                pipe.send((RECORDS, encode_batch(batch[i : i + _SEND_SLICE]), sent))
        else:
            pipe.send(message)

    def _parent_gone(self) -> None:
        self._cancel_inflight()
        if not self.done.done():
            self.done.set_result(None)
