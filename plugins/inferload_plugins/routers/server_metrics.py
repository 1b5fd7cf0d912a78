"""GET /api/server-metrics — the run's server metrics and GPU telemetry, live, then the final summary."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from inferload import hookimpl
from inferload.types import RouterSpec
from inferload_plugins.shared.server_metrics_options import ServerMetricsOptions

if TYPE_CHECKING:
    from fastapi import APIRouter

    from inferload.runstate import RunState

ROUTES = ("GET /api/server-metrics",)


@hookimpl
def register_api_routers() -> list[RouterSpec]:
    return [
        RouterSpec(
            name="api-server-metrics",
            description="GET /api/server-metrics: scraped server metrics and GPU telemetry",
            routes=ROUTES,
            factory=make_router,
        )
    ]


def view(state: RunState) -> dict[str, Any]:
    """The route's body: sources, each source's latest scrape, and the final block when there is one."""
    from inferload.export import json_safe

    store = state.plugin_state("server-metrics")
    sources = store.source_dicts() if store is not None else []
    latest = store.latest() if store is not None else []
    config = state.config
    results = state.results or {}
    return json_safe({
        "benchmark_id": state.run_info.benchmark_id,
        "enabled": bool(sources),
        "interval_sec": (config.options(ServerMetricsOptions).server_metrics_interval
                         if config is not None else None),
        "sources": sources,
        "latest": latest,
        "summary": results.get("server_metrics"),
    })


def make_router(state: RunState) -> APIRouter:
    from inferload.api_routes import json_get_router
    from inferload_plugins.routers.server_metrics_models import ServerMetricsResponse

    return json_get_router(
        "/api/server-metrics",
        lambda: view(state),
        response_model=ServerMetricsResponse,
        tag="server-metrics",
        summary="Server metrics and GPU telemetry",
        description="Scrape sources with their status and gaps, the latest scrape of each (gauges, counter "
        "rates, histogram interval quantiles) and, once artifacts are written, the server_metrics summary.",
    )
