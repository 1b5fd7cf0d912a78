"""GET /api/workers — every worker process: request counts, errors, lifecycle state, pid, CPU, memory.

Counts and the lifecycle state (running, stopping, stopped, failed) come from the run state, which the
engine updates as each worker actually stops. Process health comes from the run state when the engine
sampled it, and otherwise from the OS at request time (psutil, for the pid the state names); the router
keeps one ``psutil.Process`` per pid so CPU percent is measured between successive polls (the first poll
of a process has no interval yet: ``cpu_usage`` null, never a made-up 0). A worker that is gone keeps its
last sampled figures, 0 % CPU and the uptime it had when it stopped.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from inferload import hookimpl
from inferload.types import RouterSpec

if TYPE_CHECKING:
    from fastapi import APIRouter
    from pydantic import BaseModel

    from inferload.runstate import RunState

ROUTES = ("GET /api/workers",)


@hookimpl
def register_api_routers() -> list[RouterSpec]:
    return [
        RouterSpec(
            name="api-workers",
            description="GET /api/workers: per-worker request counts, errors, state, pid, CPU, memory",
            routes=ROUTES,
            factory=make_router,
        )
    ]


def make_router(state: RunState) -> APIRouter:
    from inferload.api_routes import json_get_router
    from inferload_plugins.routers.workers_models import WorkersResponse

    probe = ProcessProbe()
    return json_get_router(
        "/api/workers",
        lambda: workers_view(state, probe),
        response_model=WorkersResponse,
        tag="workers",
        summary="Per-worker stats (WorkersResponse)",
        description="Each worker process with task_stats (total sent, completed, failed, cancelled), "
        "health (pid, CPU %, RSS bytes, CPU times, threads, uptime) and status; also grouped by executor.",
    )


class ProcessProbe:
    """Reads a worker's CPU and memory from the OS; remembers processes so CPU percent has a baseline."""

    def __init__(self) -> None:
        self._processes: dict[int, Any] = {}

    def sample(self, pid: int) -> dict[str, Any]:
        import psutil

        try:
            process = self._processes.get(pid)
            primed = process is not None and process.is_running()
            if not primed:
                process = psutil.Process(pid)
                self._processes[pid] = process
            with process.oneshot():
                times = process.cpu_times()
                cpu = process.cpu_percent(None)  # a new process: this call only sets the baseline
                return {
                    "create_time": process.create_time(),
                    "cpu_usage": cpu if primed else None,
                    "memory_usage": process.memory_info().rss,
                    "cpu_times": [times.user, times.system],
                    "num_threads": process.num_threads(),
                }
        except (psutil.Error, OSError):
            self._processes.pop(pid, None)
            return {}


def workers_view(state: RunState, probe: ProcessProbe) -> BaseModel:
    from inferload.stats import ns_to
    from inferload_plugins.routers.workers_models import (
        TaskStats,
        WorkerGroup,
        WorkerHealth,
        WorkerInfo,
        WorkersResponse,
    )

    now_s = time.time()
    workers: dict[str, WorkerInfo] = {}
    for worker_id, w in dict(state.workers).items():
        health = None
        if w.pid is not None:
            measured = {
                "create_time": w.create_time,
                "cpu_usage": w.cpu_percent,
                "memory_usage": w.memory_rss_bytes,
                "cpu_times": None if w.cpu_user_sec is None else [w.cpu_user_sec, w.cpu_system_sec or 0.0],
                "num_threads": w.num_threads,
            }
            # a worker with a node runs elsewhere (its executor reports its figures): its pid is not ours
            if w.node is None and w.state not in ("stopped", "failed") and (
                w.cpu_percent is None or w.memory_rss_bytes is None
            ):
                live = probe.sample(w.pid)
                measured = {key: live.get(key) if value is None else value for key, value in measured.items()}
            created = measured["create_time"]
            until = now_s if w.stopped_ns is None else ns_to(w.stopped_ns, "sec")
            health = WorkerHealth(pid=w.pid, uptime=None if created is None else max(0.0, until - created),
                                  **measured)
        workers[worker_id] = WorkerInfo(
            worker_id=worker_id,
            task_stats=TaskStats.model_validate(w, from_attributes=True),
            health=health,
            status=w.state,
            last_update_ns=w.last_update_ns,
            ready_ns=w.ready_ns,
            node=w.node,
            clock_offset_ns=w.clock_offset_ns,
            clock_uncertainty_ns=w.clock_uncertainty_ns,
        )
    totals = TaskStats(
        total=sum(w.task_stats.total for w in workers.values()),
        completed=sum(w.task_stats.completed for w in workers.values()),
        failed=sum(w.task_stats.failed for w in workers.values()),
        cancelled=sum(w.task_stats.cancelled for w in workers.values()),
    )
    statuses = {w.status for w in workers.values()}
    group_id = getattr(state.config, "executor", None) or "local"
    group = WorkerGroup(
        group_id=group_id,
        status=_group_status(statuses),
        declared_workers=len(workers),
        ready_workers=sum(1 for w in workers.values() if w.status == "running"),
        task_stats=totals,
        workers=workers,
        last_update_ns=max((w.last_update_ns or 0 for w in workers.values()), default=None) or None,
    )
    return WorkersResponse(workers=workers, worker_groups={group_id: group})


def _group_status(statuses: set[str]) -> str:
    """idle with no workers, failed if any failed, otherwise the single shared state or 'mixed'."""
    if not statuses:
        return "idle"
    if "failed" in statuses:
        return "failed"
    return statuses.pop() if len(statuses) == 1 else "mixed"
