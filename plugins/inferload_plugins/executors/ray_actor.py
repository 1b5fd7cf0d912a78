"""One inferload worker as a Ray actor: the engine's worker loop in a thread, relayed to the driver.

The actor runs :func:`inferload.engine.worker.run_worker` (the same loop a local worker process runs) in a
thread, talking to it over an in-process pipe exactly as a local worker talks to its parent. The driver
pushes commands (:meth:`WorkerActor.push`, numbered, since a threaded actor may run calls out of order)
and long-polls what the worker said (:meth:`WorkerActor.pull`): its messages (record batches among them),
what it has in flight, and the actor's CPU and memory. What is in flight is what the driver records as
failed if this actor's node is lost.

If the driver stops polling for :data:`DRIVER_SILENT_SEC` (the driver was killed, or its machine lost),
the worker cancels what is in flight and stops, and the actor process exits: no orphan load.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from multiprocessing import Pipe
from typing import Any

from inferload.engine.messages import CANCEL, EXIT, PHASE

DRIVER_SILENT_SEC = 5.0
"""How long the actor goes without a poll from the driver before it stops its worker and exits."""
STATS_INTERVAL_SEC = 0.5
"""How often a poll's answer carries the actor's CPU and memory figures."""


class WorkerActor:
    """Hosts one worker; see the module docstring. Created with ``max_concurrency`` > 1 so a poll that
    waits for messages never holds up a command."""

    def __init__(self, worker_id: str) -> None:
        import psutil

        from inferload_plugins.executors.ray_clock import host_clock_id

        self.worker_id = worker_id
        self.driver_end, self.worker_end = Pipe(duplex=True)
        self.worker: Any = None
        self.counter: Any = None
        self.thread: threading.Thread | None = None
        self.clock_id = host_clock_id()
        self.process = psutil.Process()
        self.process.cpu_percent(None)
        self.stats_at = 0.0
        self.next_seq = 0
        self.pending: dict[int, tuple[str, Any]] = {}
        self.lock = threading.Lock()
        self.last_poll = time.monotonic()
        self.exiting = False
        threading.Thread(target=self._watch_driver, name="inferload-driver-watch", daemon=True).start()

    def where(self) -> dict[str, Any]:
        """Where this worker runs: ``node`` (IP), ``node_id``, ``pid``, ``hostname``, ``clock_id``."""
        import ray

        self.last_poll = time.monotonic()
        context = ray.get_runtime_context()
        return {
            "node": ray.util.get_node_ip_address(),
            "node_id": context.get_node_id(),
            "pid": os.getpid(),
            "hostname": socket.gethostname(),
            "clock_id": self.clock_id,
        }

    def clocks(self) -> tuple[int, int]:
        """This process's wall and monotonic clocks (one NTP-style sample's answer)."""
        from inferload_plugins.executors.ray_clock import read_clocks

        self.last_poll = time.monotonic()
        return read_clocks()

    def start(self, init: Any) -> None:
        """Start the worker loop on ``init`` (a :class:`~inferload.engine.messages.WorkerInit`); it reports
        ``READY`` through :meth:`pull` once its transport is set up."""
        from inferload.engine.worker import run_worker

        self.counter = init.counter
        self.thread = threading.Thread(
            target=run_worker, args=(self.worker_end, init, self._hold), name=f"inferload-{self.worker_id}",
            daemon=True,
        )
        self.thread.start()

    def _hold(self, worker: Any) -> None:
        self.worker = worker

    def push(self, seq: int, message: tuple[str, Any]) -> None:
        """Command number ``seq`` from the driver, passed to the worker in number order."""
        with self.lock:
            self.last_poll = time.monotonic()
            self.pending[seq] = message
            while self.next_seq in self.pending:
                message = self.pending.pop(self.next_seq)
                kind = message[0]
                self.next_seq += 1
                if kind == PHASE and self.counter is not None:
                    self.counter.drop()  # a new phase's ids start elsewhere
                if kind == EXIT:
                    self.exiting = True
                with contextlib.suppress(OSError):
                    self.driver_end.send(message)

    def pull(self, wait_sec: float) -> dict[str, Any]:
        """What the worker said since the last poll, waiting up to ``wait_sec`` for a first message.

        ``messages``: the worker's messages in order; ``inflight``: ``[(request_id, phase, scheduled_ns,
        start_ns, start_wall_ns, conversation_id, x_request_id, input_tokens, requested_output_tokens)]``
        of every request sent whose record has not been handed over yet, with ``sent`` (the worker's
        count of requests sent this phase) read with it; ``alive``: whether the worker loop still runs;
        ``stats``: CPU and memory every :data:`STATS_INTERVAL_SEC` (else None)."""
        self.last_poll = time.monotonic()
        messages: list[Any] = []
        if self.driver_end.poll(wait_sec):
            self._drain(messages)
        # taken after the wait, then what arrived meanwhile: a request in neither was started after it
        inflight, sent = self._inflight()
        self._drain(messages)
        alive = self.thread is not None and self.thread.is_alive()
        return {"messages": messages, "inflight": inflight, "sent": sent, "alive": alive,
                "stats": self._stats()}

    def _drain(self, messages: list[Any]) -> None:
        while self.driver_end.poll():
            try:
                messages.append(self.driver_end.recv())
            except (EOFError, OSError):
                return

    def _inflight(self) -> tuple[list[tuple[Any, ...]], int]:
        worker = self.worker
        if worker is None:
            return [], 0
        sent = worker.sent
        # list() of a dict or list copies it in one step under the GIL: the worker's loop thread may be
        # adding and removing entries meanwhile
        records = [exchange.record for exchange in list(worker.inflight)] + list(worker.batch)
        return [
            (r.request_id, r.phase, r.scheduled_ns, r.start_ns, r.start_wall_ns, r.conversation_id,
             r.x_request_id, r.input_tokens, r.requested_output_tokens)
            for r in records
        ], sent

    def _stats(self) -> dict[str, Any] | None:
        now = time.monotonic()
        if now - self.stats_at < STATS_INTERVAL_SEC:
            return None
        self.stats_at = now
        import psutil

        try:
            with self.process.oneshot():
                times = self.process.cpu_times()
                return {
                    "cpu_percent": self.process.cpu_percent(None),
                    "cpu_user_sec": times.user,
                    "cpu_system_sec": times.system,
                    "memory_rss_bytes": self.process.memory_info().rss,
                    "num_threads": self.process.num_threads(),
                    "create_time": self.process.create_time(),
                }
        except psutil.Error:
            return None

    def _watch_driver(self) -> None:
        """Stop the worker and end this process once the driver has been silent too long."""
        while True:
            time.sleep(0.5)
            if time.monotonic() - self.last_poll < DRIVER_SILENT_SEC:
                continue
            with self.lock, contextlib.suppress(OSError):
                self.driver_end.send((CANCEL, None))
                self.driver_end.send((EXIT, None))
            if self.thread is not None:
                self.thread.join(2.0)
            os._exit(0 if self.exiting else 1)
