"""``--executor local`` (the default): worker processes on this machine, one pipe each to the parent.

Workers are forked when the parent has no other threads (fast start, the prepared payloads are shared
copy-on-write) and spawned otherwise, since forking a threaded process is unsafe.
"""

from __future__ import annotations

import threading
from typing import Any

from inferload import hookimpl
from inferload.types import ExecutorSpec


@hookimpl
def register_executors() -> list[ExecutorSpec]:
    return [
        ExecutorSpec(
            name="local",
            description="Worker processes on this machine (multiprocessing)",
            factory=LocalExecutor,
        )
    ]


class WorkerHandle:
    """The parent's end of one worker: its id, pipe and process."""

    def __init__(self, worker_id: str, conn: Any, process: Any) -> None:
        self.worker_id = worker_id
        self.conn = conn
        self.process = process

    @property
    def pid(self) -> int | None:
        return self.process.pid

    @property
    def exitcode(self) -> int | None:
        """The process's exit code once it has ended (negative: killed by that signal), else None."""
        return self.process.exitcode

    def is_alive(self) -> bool:
        return bool(self.process.is_alive())

    def join(self, timeout: float | None = None) -> None:
        self.process.join(timeout)

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
            self.process.join(1.0)


class LocalExecutor:
    """Starts worker processes with ``multiprocessing``; see the module docstring for fork vs spawn."""

    def __init__(self, **_: Any) -> None:
        import multiprocessing

        method = (
            "fork"
            if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()
            else "spawn"
        )
        self.context = multiprocessing.get_context(method)

    def shared_counter(self) -> Any:
        """A process-shared 64-bit counter with its own lock (the next request id)."""
        return self.context.Value("q", 0)

    def start(self, target: Any, inits: list[Any]) -> list[WorkerHandle]:
        """Start ``target(conn, init)`` once per init; each gets one end of a fresh duplex pipe."""
        handles = []
        for init in inits:
            parent_end, child_end = self.context.Pipe(duplex=True)
            process = self.context.Process(
                target=target, args=(child_end, init), daemon=True, name=f"inferload-{init.worker_id}"
            )
            process.start()
            child_end.close()
            handles.append(WorkerHandle(init.worker_id, parent_end, process))
        return handles
