"""GET /api/progress — per-phase request progress (warmup, profiling) and the run's lifecycle state."""

from __future__ import annotations

import time
from typing import Any

from inferload import hookimpl
from inferload.types import RouterSpec

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


def make_router(state: Any) -> Any:
    from fastapi import APIRouter

    from inferload.api_models import ProgressResponse

    router = APIRouter(tags=["progress"])

    @router.get(
        "/api/progress",
        response_model=ProgressResponse,
        summary="Per-phase progress (ProgressResponse)",
        description="For each phase: requests sent, completed, cancelled and errored, the expected total "
        "or duration, requests per second, ETA and percent done; plus worker counts and the run state.",
    )
    async def get_progress() -> ProgressResponse:
        return progress_view(state)

    return router


def progress_view(state: Any) -> Any:
    """Build the ProgressResponse from a snapshot of the run state, all rates at one instant."""
    from inferload.api_models import PhaseProgressModel, ProgressResponse, WorkerCounts

    now = time.time_ns()
    phases = {}
    for name, p in dict(state.phases).items():
        done = p.finished
        phases[name] = PhaseProgressModel(
            phase=p.phase,
            phase_index=p.phase_index,
            phase_name=name,
            phase_kind="warmup" if p.phase.startswith("warmup") else "profiling",
            start_ns=p.start_ns,
            sent_end_ns=p.sent_end_ns,
            requests_end_ns=p.requests_end_ns,
            total_expected_requests=p.total_expected_requests,
            expected_duration_sec=p.expected_duration_sec,
            expected_grace_period_sec=p.expected_grace_period_sec,
            final_requests_sent=p.requests_sent if done else None,
            final_requests_completed=p.requests_completed if done else None,
            final_requests_cancelled=p.requests_cancelled if done else None,
            final_request_errors=p.request_errors if done else None,
            timeout_triggered=p.timeout_triggered,
            grace_period_timeout_triggered=p.grace_period_timeout_triggered,
            was_cancelled=p.was_cancelled,
            requests_sent=p.requests_sent,
            requests_completed=p.requests_completed,
            requests_cancelled=p.requests_cancelled,
            request_errors=p.request_errors,
            requests_per_second=p.requests_per_second(now),
            requests_eta_sec=p.eta_sec(now),
            percent=p.percent(now),
            elapsed_sec=p.elapsed_sec(now),
            last_update_ns=now,
        )
    workers = list(dict(state.workers).values())
    return ProgressResponse(
        phases=phases,
        workers=WorkerCounts(total=len(workers), ready=sum(1 for w in workers if w.state == "running")),
        results_exported=bool(state.artifacts_ready),
        system_state=_state_name(state.lifecycle),
    )


def _state_name(lifecycle: Any) -> str:
    return str(getattr(lifecycle, "value", lifecycle))
