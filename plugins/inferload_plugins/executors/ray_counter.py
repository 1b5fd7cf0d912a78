"""The next request id across a Ray cluster: one small actor hands out blocks of ids.

The local executor shares one ``multiprocessing.Value`` between its workers; across machines a call per
request would put a network round trip inside every request's start. Instead each worker leases a block
of ids (its share of the concurrency, at least :data:`MIN_LEASE`) and takes them one by one; every id
below the phase's end id that a worker leased it also sends, so a ``--request-count`` stays exact, and a
worker whose node is lost leaves only its unsent lease behind (the survivors lease past it).

The driver's side (:class:`PhaseIds`) sets the next id at each phase start; workers drop what is left of
their lease when a new phase begins (:meth:`LeasedIds.drop`), so a stale lease never crosses phases.
"""

from __future__ import annotations

import threading
from typing import Any

MIN_LEASE = 8
MAX_LEASE = 256


class RequestIds:
    """The Ray actor: ``lease(size)`` returns the first id of a fresh block; ``reset(n)`` starts at ``n``."""

    def __init__(self) -> None:
        self.next_id = 0

    def reset(self, value: int) -> None:
        self.next_id = value

    def lease(self, size: int) -> int:
        first = self.next_id
        self.next_id += size
        return first

    def peek(self) -> int:
        return self.next_id


class PhaseIds:
    """The driver's handle on the ids actor, in the engine's counter shape: setting ``value`` starts the
    next phase's ids there; reading it gives the next id not yet leased."""

    def __init__(self, actor: Any) -> None:
        self.actor = actor
        self._lock = threading.Lock()

    def get_lock(self) -> threading.Lock:
        return self._lock

    @property
    def value(self) -> int:
        import ray

        return int(ray.get(self.actor.peek.remote()))

    @value.setter
    def value(self, first_id: int) -> None:
        import ray

        ray.get(self.actor.reset.remote(first_id))


class LeasedIds:
    """A worker's counter (``WorkerInit.counter``): reading ``value`` gives its next id, leasing a new
    block from the actor when the current one is used up (one Ray round trip per ``lease_size`` requests);
    setting ``value`` to that id + 1 takes it, as the worker does with the local executor's shared value."""

    def __init__(self, actor: Any, lease_size: int) -> None:
        self.actor = actor
        self.lease_size = max(MIN_LEASE, min(MAX_LEASE, lease_size))
        self._lock = threading.Lock()
        self._next = 0
        self._end = 0

    def __getstate__(self) -> dict[str, Any]:
        return {"actor": self.actor, "lease_size": self.lease_size}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["actor"], state["lease_size"])  # type: ignore[misc]

    def get_lock(self) -> threading.Lock:
        return self._lock

    @property
    def value(self) -> int:
        if self._next >= self._end:
            import ray

            first = int(ray.get(self.actor.lease.remote(self.lease_size)))
            self._next, self._end = first, first + self.lease_size
        return self._next

    @value.setter
    def value(self, next_id: int) -> None:
        self._next = next_id

    def drop(self) -> None:
        """Forget the rest of the lease (a new phase begins: its ids start elsewhere)."""
        self._next = self._end = 0
