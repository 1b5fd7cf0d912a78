"""Starting, waiting for and stopping the worker processes, through the run's executor plugin
(docs/architecture.md, "Data flow": executor/workers).

The pool owns the parent's end of every worker (:class:`~inferload.engine.executor.WorkerHandle`): it
starts them with their :class:`~inferload.engine.messages.WorkerInit`, waits until each has its transport
and warm connections ready, sends them commands, and ends them — cleanly once sending is over (each worker
goes ``stopping`` then ``stopped`` or ``failed`` in RunState), or at once when the run is aborted.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from typing import TYPE_CHECKING, Any

from inferload.engine.messages import EXIT, FAILED, READY, WorkerInit
from inferload.engine.run_log import timing_log
from inferload.engine.schedule import default_workers, split_concurrency
from inferload.errors import RunFailed
from inferload.load_plan import connection_cap
from inferload.stats import ns_to

if TYPE_CHECKING:
    from inferload.config import ProfileConfig
    from inferload.engine.aggregator import RecordAggregator
    from inferload.engine.executor import WorkerHandle
    from inferload.types import ExecutorSpec

log = logging.getLogger("inferload.profile")

READY_TIMEOUT_SEC = 60.0
"""How long every worker has to report ready (transport set up, connections warm)."""
EXIT_TIMEOUT_SEC = 5.0
"""How long each worker has to exit when told to, before it is killed."""


class WorkerPool:
    """The worker processes of one run, started by ``executor``'s factory.

    ``handles`` and ``shares`` (each worker's part of ``--concurrency``, None without a cap) are in worker
    order; ``counter`` is the executor's process-shared next-request id; ``failure`` the first worker
    failure seen (secrets scrubbed), None while all is well."""

    def __init__(self, executor: ExecutorSpec) -> None:
        self.executor = executor
        self.handles: list[WorkerHandle] = []
        self.shares: list[int | None] = []
        self.counter: Any = None
        self.failure: str | None = None
        self.executor_instance: Any = None

    def start(self, config: ProfileConfig, fields: dict[str, Any], rate: float | None = None) -> None:
        """Start as many workers as useful (``--workers`` or the default for ``rate`` requests/s, else
        the config's), never more than the concurrency cap; ``fields`` are the WorkerInit fields they
        share (``url`` included)."""
        from inferload.engine.worker import terminal_signals_blocked, worker_main

        executor = self.executor_instance = self.executor.factory(config=config)
        # an executor that places workers elsewhere (a cluster) may know better than this machine's cores
        suggested = getattr(executor, "default_workers", lambda: None)()
        count = config.workers or suggested or default_workers(config, rate)
        cap = config.effective_concurrency
        pool_cap = connection_cap(config)  # the cap itself unless the load can change (docs/control.md)
        if pool_cap is not None:
            count = min(count, pool_cap)
        self.shares = split_concurrency(cap, count)
        connections = split_concurrency(pool_cap, count)
        self.counter = executor.shared_counter()
        inits = [
            WorkerInit(worker_id=f"worker_{i}", counter=self.counter, max_connections=connections[i] or 0,
                       warm_connections=self.shares[i] or 0, worker_index=i, worker_count=count, **fields)
            for i in range(count)
        ]
        with terminal_signals_blocked():
            self.handles = list(executor.start(worker_main, inits))

    def wait_ready(self, aggregator: RecordAggregator, scrub: Callable[[str], str]) -> None:
        """Wait until every worker has its transport, adapter and warm connections ready, adding each to
        RunState as it reports. RunFailed (secrets scrubbed) when one fails, exits or is too slow."""
        pending = {h.conn: h for h in self.handles}
        setup_ns = 0
        deadline = time.monotonic() + READY_TIMEOUT_SEC
        while pending:
            ready = wait(list(pending), timeout=max(0.0, deadline - time.monotonic()))
            if not ready:
                raise RunFailed(f"worker processes did not start within {READY_TIMEOUT_SEC:g} s")
            for conn in ready:
                handle = pending.pop(conn)  # type: ignore[call-overload]
                try:
                    kind, payload = conn.recv()  # type: ignore[union-attr]
                except (EOFError, OSError):
                    raise RunFailed(f"{handle.worker_id} exited while starting") from None
                if kind == FAILED:
                    raise RunFailed(scrub(f"{handle.worker_id} failed to start: {payload}"))
                if kind == READY:
                    aggregator.add_worker(handle.worker_id, payload.pid, payload.ready_wall_ns)
                    setup_ns = max(setup_ns, payload.setup_ns)
        timing_log.info(
            "%d worker process(es) ready; transport set-up and connection warming took up to %.1f ms, all "
            "before the first request", len(self.handles), ns_to(setup_ns, "ms"),
        )

    def broadcast(self, message: tuple[str, Any]) -> None:
        """Send ``message`` to every worker; one that is gone is skipped."""
        for handle in self.handles:
            with contextlib.suppress(OSError, ValueError):
                handle.conn.send(message)

    def lost(self, handle: WorkerHandle, aggregator: RecordAggregator) -> None:
        """``handle``'s worker vanished mid-phase: the run's failure, and the worker ``failed``."""
        self.failed(handle, f"{handle.worker_id} (pid {handle.pid}) exited unexpectedly", aggregator)
        log.error("%s; its unreported requests are lost", self.failure)

    def failed(self, handle: WorkerHandle, message: str, aggregator: RecordAggregator) -> None:
        """``handle``'s worker reported ``message`` as its failure (already scrubbed)."""
        self.failure = message
        aggregator.set_worker_state(handle.worker_id, "failed")

    def stop(self, aggregator: RecordAggregator) -> None:
        """End the workers once sending is over, before the results are computed: in RunState each goes
        ``stopping`` when told to exit, then ``stopped`` once its process has exited cleanly (``failed``
        if it had to be killed or exited with an error; a failed worker stays failed)."""
        handles, self.handles = self.handles, []
        if not handles:
            return
        aggregator.refresh_workers()  # the last CPU and memory figures, while the processes still exist
        for handle in handles:
            aggregator.set_worker_state(handle.worker_id, "stopping")
        for handle in handles:
            with contextlib.suppress(OSError, ValueError):
                handle.conn.send((EXIT, None))
        for handle in handles:
            handle.join(EXIT_TIMEOUT_SEC)
            # is_alive() and exitcode are optional in an executor's handle (the local one has both)
            is_alive = getattr(handle, "is_alive", None)
            killed = bool(is_alive()) if is_alive is not None else False
            if killed:
                log.warning("%s did not exit within %g s; killed", handle.worker_id, EXIT_TIMEOUT_SEC)
            handle.kill()  # a no-op for a process that has exited
            exitcode = getattr(handle, "exitcode", None)
            clean = not killed and exitcode in (0, None)
            aggregator.set_worker_state(handle.worker_id, "stopped" if clean else "failed")
            with contextlib.suppress(OSError):
                handle.conn.close()

    def shutdown(self) -> None:
        """End whatever workers remain, at once (a run that ended by an exception), then release what the
        executor holds (a Ray instance it started); no RunState update."""
        self.broadcast((EXIT, None))
        for handle in self.handles:
            handle.join(EXIT_TIMEOUT_SEC)
            handle.kill()
        self.handles = []
        close = getattr(self.executor_instance, "close", None)
        self.executor_instance = None
        if close is not None:
            close()
