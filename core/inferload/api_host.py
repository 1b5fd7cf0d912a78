"""What an ``api_host`` plugin provides: the server of the live HTTP API (``--api-port``).

A ``register_api_hosts`` plugin returns a :class:`inferload.types.ApiHostSpec` whose factory builds an
:class:`ApiHost` serving every ``api_router`` plugin's routes for one :class:`~inferload.runstate.RunState`.
The core only calls these (:mod:`inferload.engine.live_api`); the built-in host is the FastAPI app on
uvicorn of the ``api-host-uvicorn`` plugin.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class ApiHost(Protocol):
    """One run's live API server: bound, then serving, then stopped."""

    @property
    def url(self) -> str:
        """Base URL clients use, e.g. ``http://127.0.0.1:9097`` (the bound port once bound)."""
        ...

    def bind(self) -> None:
        """Take the listening socket now; a :class:`~inferload.errors.UsageError` (exit 2) naming the
        address and the fix when it cannot be had. Idempotent; connections wait in the backlog."""
        ...

    def start(self) -> None:
        """Bind unless bound, then serve (in the background); return once serving."""
        ...

    def stop(self) -> None:
        """Finish in-flight requests and stop serving; idempotent."""
        ...
