"""GET /healthz and GET /readyz — Kubernetes-style probes in plain text.

Liveness fails only once the run has FAILED (restarting would not help a run that is merely slow);
readiness is true only while the run is RUNNING, so a scraper or load balancer ignores a run that has not
started or has finished.
"""

from __future__ import annotations

from typing import Any

from inferload import hookimpl
from inferload.types import RouterSpec

ROUTES = ("GET /healthz", "GET /readyz")


@hookimpl
def register_api_routers() -> list[RouterSpec]:
    return [
        RouterSpec(
            name="api-health",
            description="GET /healthz (liveness) and GET /readyz (readiness), text/plain",
            routes=ROUTES,
            factory=make_router,
        )
    ]


def make_router(state: Any) -> Any:
    from fastapi import APIRouter
    from fastapi.responses import PlainTextResponse

    from inferload.runstate import Lifecycle

    router = APIRouter(tags=["health"])

    def text(body: str) -> dict[str, Any]:
        return {"content": {"text/plain": {"schema": {"type": "string", "enum": [body]}}}}

    @router.get(
        "/healthz",
        response_class=PlainTextResponse,
        response_model=None,
        summary="Liveness probe",
        description="`ok` (200) unless the run has failed, then `unhealthy` (503).",
        responses={200: {"description": "alive", **text("ok")},
                   503: {"description": "the run failed", **text("unhealthy")}},
    )
    async def healthz() -> PlainTextResponse:
        if state.lifecycle == Lifecycle.FAILED:
            return PlainTextResponse("unhealthy", status_code=503)
        return PlainTextResponse("ok")

    @router.get(
        "/readyz",
        response_class=PlainTextResponse,
        response_model=None,
        summary="Readiness probe",
        description="`ok` (200) only while the run is RUNNING, else `not ready` (503).",
        responses={200: {"description": "running", **text("ok")},
                   503: {"description": "not running (yet or any more)", **text("not ready")}},
    )
    async def readyz() -> PlainTextResponse:
        if state.lifecycle == Lifecycle.RUNNING:
            return PlainTextResponse("ok")
        return PlainTextResponse("not ready", status_code=503)

    return router
