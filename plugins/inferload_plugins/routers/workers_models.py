"""Wire models of ``GET /api/workers`` (imported when the router is built; pydantic is not cheap).

:class:`TaskStats` is read straight from the engine's :class:`inferload.runstate.WorkerStats`
(``TaskStats.model_validate(stats, from_attributes=True)``): each wire field names the state field it
comes from once, as its validation alias, instead of a router copying them by hand.
"""

from __future__ import annotations

from pydantic import AliasChoices, BaseModel, Field


def _from_state(wire: str, state: str, description: str) -> object:
    return Field(0, validation_alias=AliasChoices(wire, state), description=description)


class TaskStats(BaseModel):
    """Requests of one worker: ``total`` sent, ``completed`` (success or error), ``failed``."""

    total: int = _from_state("total", "requests_sent", "Requests sent, in flight included")
    failed: int = _from_state("failed", "request_errors", "Requests that ended with an error")
    completed: int = _from_state("completed", "requests_completed", "Requests answered (success or error)")
    cancelled: int = _from_state("cancelled", "requests_cancelled", "Requests cancelled before an answer")


class WorkerHealth(BaseModel):
    """Process health of one worker as the OS reports it."""

    pid: int | None = None
    create_time: float | None = Field(None, description="Process start, seconds since the epoch")
    uptime: float | None = Field(None, description="Seconds since the process started")
    cpu_usage: float | None = Field(None, description="CPU percent (100 = one full core)")
    memory_usage: int | None = Field(None, description="Resident set size in bytes")
    cpu_times: list[float] | None = Field(None, description="[user, system] CPU seconds")
    num_threads: int | None = None


class WorkerInfo(BaseModel):
    """One worker process."""

    worker_id: str
    task_stats: TaskStats
    health: WorkerHealth | None = None
    status: str = Field(description="starting, running, stopping, stopped or failed")
    last_update_ns: int | None = None
    ready_ns: int | None = Field(
        None,
        description="Wall-clock ns when the worker's transport was set up (clients created, connections "
        "warmed); none of its requests starts before it",
    )
    node: str | None = Field(
        None, description="Where the worker runs when not on this machine's executor (Ray: 'IP (node id)')"
    )
    clock_offset_ns: int | None = Field(
        None, description="The worker's wall clock minus the driver's (NTP-style estimate); 0 on its host"
    )
    clock_uncertainty_ns: int | None = Field(
        None, description="The offset is true within ± this (half the fastest sample's round trip)"
    )


class WorkerGroup(BaseModel):
    """All workers of one executor, with summed task stats."""

    group_id: str
    status: str
    declared_workers: int
    ready_workers: int
    task_stats: TaskStats
    workers: dict[str, WorkerInfo] = Field(default_factory=dict)
    last_update_ns: int | None = None


class WorkersResponse(BaseModel):
    """``GET /api/workers``: every worker process, and the same grouped by executor."""

    workers: dict[str, WorkerInfo] = Field(default_factory=dict)
    worker_groups: dict[str, WorkerGroup] = Field(default_factory=dict)
