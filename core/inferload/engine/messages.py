"""What the parent and a worker process say to each other over their pipe (pickled tuples).

Parent -> worker: ``(PHASE, PhaseCommand)``, ``(STOP, grace_deadline_ns)`` (stop sending, cancel in-flight
requests at the deadline), ``(CANCEL, None)`` (cancel in-flight now), ``(LOAD, LoadCommand)`` (a new load
target from a given instant), ``(EXIT, None)``.
Worker -> parent: ``(READY, WorkerReady)``, ``(RECORDS, batch, sent_in_phase)`` (``batch``: the records
encoded once by the worker, :func:`encode_batch`, which the parent stores as they are; or a list of
:class:`~inferload.records.RequestRecord`, as an executor that rewrites records delivers them),
``(PHASE_DONE, phase, sent_in_phase)``, ``(FAILED, message)``, and from an executor whose workers run
where the parent cannot sample them (another machine), ``(STATS, {WorkerStats field: value})``.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from inferload.records import pack_records, unpack_records

PHASE, STOP, CANCEL, EXIT, LOAD = "phase", "stop", "cancel", "exit", "load"
READY, RECORDS, PHASE_DONE, FAILED = "ready", "records", "phase_done", "failed"
STATS = "stats"


@dataclass
class WorkerInit:
    """Everything a worker needs, prepared before t=0 (payloads are final bytes)."""

    worker_id: str
    url: str
    headers: dict[str, str]
    transport_factory: Callable[..., Any]
    endpoint_factory: Callable[[], Any]
    streaming: bool
    payloads: list[bytes]
    conversation_ids: list[str]
    input_tokens: list[int]
    output_tokens: list[int | None]
    """The output length each payload asks for (None: the server decides)."""
    request_timeout: float
    max_connections: int
    counter: Any
    """A shared ``multiprocessing.Value('q')``: the next request id in concurrency mode."""
    tokenizer: Any = None
    batch_interval: float = 0.1
    batch_size: int = 512
    warm_connections: int | None = None
    """Connections to open before t0 (None: ``max_connections``): the starting share when the load can
    change and the pool is sized for more (docs/control.md)."""
    output_limited: bool = True
    """Whether requests carry an output limit (--osl): shapes the hint of a timeout's error message."""
    flows: tuple[tuple[str, Any], ...] = ()
    """``(name, part)`` of each request flow the run uses (:mod:`inferload.engine.flow`): the worker calls
    ``part.start(worker)`` once and the object it returns directly."""
    worker_index: int = 0
    """This worker's place among the run's workers (0-based), for a flow's per-worker share."""
    worker_count: int = 1
    """How many workers the run has."""
    dialects: tuple[tuple[str, Any], ...] = ()
    """``(endpoint type, recognise)`` pairs (:func:`inferload.dialects.set_recognisers`)."""


@dataclass
class WorkerReady:
    """A worker's word that it can send: its transport is set up (clients created, connections warmed)."""

    pid: int
    ready_wall_ns: int
    """When set-up ended, wall-clock ns: every request of this worker starts after it."""
    setup_ns: int
    """How long the transport's ``prepare`` and ``warm`` took, all before any request's t0."""


@dataclass
class WorkerSchedule:
    """A worker's round-robin share of a rate schedule, compact enough to pickle millions of entries:
    entry ``i`` is request ``first_id + i * stride``, due ``offsets_ns[i]`` after the phase start."""

    first_id: int
    stride: int
    offsets_ns: array[int]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        first, stride = self.first_id, self.stride
        for i, offset in enumerate(self.offsets_ns):
            yield first + i * stride, offset


@dataclass
class PhaseCommand:
    """One phase as one worker runs it. Times are absolute ``perf_counter_ns``."""

    phase: str
    t0_ns: int
    end_id: int | None
    """Concurrency mode: take ids from the shared counter while below this (None: until the duration ends)."""
    concurrency: int | None
    """This worker's share of the in-flight cap (None: unlimited, rate mode only)."""
    schedule: WorkerSchedule | None
    """Rate mode: this worker's share of the schedule; None in concurrency mode."""
    stop_ns: int | None
    """Stop sending new requests at this time (--benchmark-duration)."""
    grace_ns: int | None
    """Cancel requests still in flight at this time (end of --benchmark-grace-period)."""
    speed: float = 1.0
    """Rate mode: the pace of ``schedule`` (its offsets are at the base rate; 2.0 sends twice as fast)."""
    paused: bool = False
    """Start paused: send nothing until a LoadCommand resumes."""
    load_changes: tuple[LoadCommand, ...] = ()
    """The load plan's steps for this worker (--load-schedule, ramps), applied at their times."""


@dataclass(frozen=True)
class LoadCommand:
    """From ``at_ns`` (absolute ``perf_counter_ns``) on: rate mode paces its schedule at ``speed``;
    concurrency mode keeps ``slots`` requests in flight; ``paused`` sends nothing. None leaves a value as
    it is."""

    at_ns: int
    speed: float | None = None
    slots: int | None = None
    paused: bool | None = None


def encode_batch(records: list[Any]) -> bytes:
    """A worker's record batch as the bytes the parent stores unchanged (encoded once, in the worker, by
    :func:`~inferload.records.pack_records`); :func:`~inferload.records.unpack_records` gives the list of
    records back."""
    return pack_records(records)


def decode_batch(batch: bytes | list[Any]) -> tuple[list[Any], bytes | None]:
    """A ``RECORDS`` message's batch as ``(records, encoded bytes or None)``: either form is accepted."""
    if isinstance(batch, bytes):
        return unpack_records(batch), batch
    return batch, None
