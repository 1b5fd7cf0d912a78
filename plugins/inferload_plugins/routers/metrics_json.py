"""GET /api/metrics — live metric values as JSON, from the first completed request on.

The engine swaps ``state.live_metrics`` at least once a second; this route reads whatever is there, so
it is never staler than the engine's last update (no fixed reporting tick, unlike the reference's 30 s).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from inferload import hookimpl
from inferload.types import RouterSpec

if TYPE_CHECKING:
    from fastapi import APIRouter

    from inferload.runstate import RunState

ROUTES = ("GET /api/metrics",)


@hookimpl
def register_api_routers() -> list[RouterSpec]:
    return [
        RouterSpec(
            name="api-metrics",
            description="GET /api/metrics: live metric statistics (JSON)",
            routes=ROUTES,
            factory=make_router,
        )
    ]


def make_router(state: RunState) -> APIRouter:
    from inferload.api_routes import json_get_router
    from inferload_plugins.routers.metrics_models import MetricsResponse, build_metrics_response

    return json_get_router(
        "/api/metrics",
        lambda: build_metrics_response(state),
        response_model=MetricsResponse,
        tag="metrics",
        summary="Live metrics (MetricsResponse)",
        description="Per metric tag: header, unit, avg, min, max, p1…p99, std, count, sum (keys a metric "
        "does not have are omitted). Empty until the first request completes.",
    )
