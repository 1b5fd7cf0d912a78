"""What API router plugins share: one ``GET`` route that serves a view of the RunState as a response model.

Most route families are exactly that (``/api/run``, ``/api/config``, ``/api/metrics``, ``/api/progress``,
``/api/workers``); :func:`json_get_router` is their whole skeleton, so each router module holds only its
view and its words. FastAPI is imported when a router is built, never when a plugin registers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import APIRouter


def json_get_router(
    path: str,
    view: Callable[[], Any],
    *,
    response_model: type,
    tag: str,
    summary: str,
    description: str,
) -> APIRouter:
    """An ``APIRouter`` with ``GET path`` answering ``view()`` (validated against ``response_model``, which
    also documents it in ``/openapi.json`` under ``summary`` and ``description``). ``view`` runs on the
    event loop: keep it a quick read of the state."""
    from fastapi import APIRouter

    async def endpoint() -> Any:
        return view()

    endpoint.__name__ = "get_" + path.strip("/").replace("/", "_").replace("-", "_")
    router = APIRouter(tags=[tag])
    router.add_api_route(path, endpoint, methods=["GET"], response_model=response_model, summary=summary,
                         description=description)
    return router
