"""GET /api/progress — per-phase request progress (warmup, profiling) and the run's lifecycle state."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from inferload import hookimpl
from inferload.types import RouterSpec

if TYPE_CHECKING:
    from fastapi import APIRouter
    from pydantic import BaseModel

    from inferload.runstate import RunState

ROUTES = ("GET /api/progress",)


@hookimpl
def register_api_routers() -> list[RouterSpec]:
    return [
        RouterSpec(
            name="api-progress",
            description="GET /api/progress: requests sent/completed/cancelled/errors, rate, ETA per phase",
            routes=ROUTES,
            factory=make_router,
        )
    ]


def make_router(state: RunState) -> APIRouter:
    from inferload.api_routes import json_get_router
    from inferload_plugins.routers.progress_models import ProgressResponse

    return json_get_router(
        "/api/progress",
        lambda: progress_view(state),
        response_model=ProgressResponse,
        tag="progress",
        summary="Per-phase progress (ProgressResponse)",
        description="For each phase: requests sent, completed, cancelled and errored, the expected total "
        "or duration, requests per second, ETA and percent done; plus worker counts and the run state.",
    )


def progress_view(state: RunState) -> BaseModel:
    """Build the ProgressResponse from a snapshot of the run state, all rates at one instant."""
    from inferload_plugins.routers.progress_models import ProgressResponse, WorkerCounts, phase_progress_model

    now = time.time_ns()
    phases = {name: phase_progress_model(name, p, now) for name, p in dict(state.phases).items()}
    workers = list(dict(state.workers).values())
    return ProgressResponse(
        phases=phases,
        workers=WorkerCounts(total=len(workers), ready=sum(1 for w in workers if w.state == "running")),
        results_exported=bool(state.artifacts_ready),
        system_state=state.lifecycle.value,
        sweep=state.sweep,
        load=state.control.status() if state.control is not None else None,
    )
