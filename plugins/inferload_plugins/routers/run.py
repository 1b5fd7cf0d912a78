"""GET /api/run — run identity: benchmark id, sweep/trial, seed, labels, the redacted launch command.

The response is ``state.run_info`` itself, the same object the JSON exporter writes as ``run_info`` in
profile_export.json, so the two can never differ.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from inferload import hookimpl
from inferload.types import RouterSpec

if TYPE_CHECKING:
    from fastapi import APIRouter

    from inferload.runstate import RunState

ROUTES = ("GET /api/run",)


@hookimpl
def register_api_routers() -> list[RouterSpec]:
    return [
        RouterSpec(
            name="api-run",
            description="GET /api/run: run identity and the redacted launch command",
            routes=ROUTES,
            factory=make_router,
        )
    ]


def make_router(state: RunState) -> APIRouter:
    from inferload.api_routes import json_get_router
    from inferload.runstate import RunInfo

    return json_get_router(
        "/api/run",
        lambda: state.run_info,
        response_model=RunInfo,
        tag="run",
        summary="Run identity (RunInfo)",
        description="benchmark_id, sweep_id, trial, random_seed, run_label, variation_*, and cli_command "
        "with secrets already redacted; identical to run_info in profile_export.json.",
    )
