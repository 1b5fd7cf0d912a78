"""The next request id across a Ray cluster: one small actor hands out blocks of ids.

The local executor shares one ``multiprocessing.Value`` between its workers; across machines a call per
request would put a network round trip inside every request's start. Instead each worker leases a block
of ids (its share of the concurrency, at least :data:`MIN_LEASE`) and takes them one by one; every id
below the phase's end id that a worker leased it also sends, so a ``--request-count`` stays exact, and a
worker whose node is lost leaves only its unsent lease behind (the survivors lease past it).

A worker takes its ids in increasing order, so when its node is lost the ids of its latest lease above
the highest one it reported (sent or in flight) were not sent: the driver hands them back
(:meth:`RequestIds.release`) and the next leases go to the survivors, so a ``--request-count`` run still
sends its whole count.

The driver's side (:class:`PhaseIds`) sets the next id at each phase start; workers drop what is left of
their lease when a new phase begins (:meth:`LeasedIds.drop`), so a stale lease never crosses phases.
"""

from __future__ import annotations

import threading
from typing import Any

MIN_LEASE = 8
MAX_LEASE = 256


class RequestIds:
    """The Ray actor: ``lease(worker_id, size)`` returns a block ``(first, end)`` of ids, handed-back ids
    first; ``release(worker_id, highest_seen)`` hands back the unsent rest of a lost worker's latest lease;
    ``reset(n)`` starts a phase at ``n``."""

    def __init__(self) -> None:
        self.next_id = 0
        self.latest: dict[str, tuple[int, int]] = {}
        self.returned: list[tuple[int, int]] = []

    def reset(self, value: int) -> None:
        self.next_id = value
        self.latest = {}
        self.returned = []

    def lease(self, worker_id: str, size: int) -> tuple[int, int]:
        if self.returned:
            first, end = self.returned.pop()
            if end - first > size:
                self.returned.append((first + size, end))
                end = first + size
        else:
            first, end = self.next_id, self.next_id + size
            self.next_id = end
        self.latest[worker_id] = (first, end)
        return first, end

    def release(self, worker_id: str, highest_seen: int) -> int:
        """Hand back the ids of ``worker_id``'s latest lease above ``highest_seen`` (-1: none seen);
        returns how many."""
        first, end = self.latest.pop(worker_id, (0, 0))
        first = max(first, highest_seen + 1)
        if first >= end:
            return 0
        self.returned.append((first, end))
        return end - first

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

    def __init__(self, actor: Any, worker_id: str, lease_size: int) -> None:
        self.actor = actor
        self.worker_id = worker_id
        self.lease_size = max(MIN_LEASE, min(MAX_LEASE, lease_size))
        self._lock = threading.Lock()
        self._next = 0
        self._end = 0

    def __getstate__(self) -> dict[str, Any]:
        return {"actor": self.actor, "worker_id": self.worker_id, "lease_size": self.lease_size}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["actor"], state["worker_id"], state["lease_size"])  # type: ignore[misc]

    def get_lock(self) -> threading.Lock:
        return self._lock

    @property
    def value(self) -> int:
        if self._next >= self._end:
            import ray

            self._next, self._end = ray.get(self.actor.lease.remote(self.worker_id, self.lease_size))
        return self._next

    @value.setter
    def value(self, next_id: int) -> None:
        self._next = next_id

    def drop(self) -> None:
        """Forget the rest of the lease (a new phase begins: its ids start elsewhere)."""
        self._next = self._end = 0
