"""The executor contract: what an ``executor`` plugin's factory returns (``--executor NAME``).

The engine asks the executor for a process-shared request counter and to start one worker per
:class:`~inferload.engine.messages.WorkerInit`; it then talks to each worker over its duplex connection
(docs/architecture.md, "Data flow"). The built-in ``local`` executor runs them as processes on this machine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from inferload.engine.messages import WorkerInit


class WorkerHandle(Protocol):
    """The parent's end of one worker. ``is_alive()`` and ``exitcode`` are optional extras."""

    worker_id: str
    conn: Connection

    @property
    def pid(self) -> int | None: ...

    def join(self, timeout: float | None = None) -> None: ...

    def kill(self) -> None:
        """End the worker now; a no-op once it has exited."""
        ...


class Executor(Protocol):
    """Starts the worker processes of one run. The factory is called with ``config=`` (the run's
    ProfileConfig) and should accept ``**_``. Optional extras: ``default_workers()`` (how many workers
    without ``--workers``; None: as useful for this machine's cores) and ``close()`` (release what the
    executor holds once its workers have ended; called once per run)."""

    def shared_counter(self) -> Any:
        """A process-shared integer (``.value``, ``.get_lock()``): the next request id."""
        ...

    def start(self, target: Callable[[Connection, WorkerInit], None], inits: Sequence[WorkerInit]
              ) -> Sequence[WorkerHandle]:
        """Run ``target(conn, init)`` once per init; one handle each, in the same order."""
        ...
