"""GET /dashboard — a web page that charts the running benchmark and, given the API token, steers it.

The page and its assets ship inside this package (``dashboard_assets/``: the page, its script and style,
and uPlot 1.6.32 vendored from npm with its MIT licence), so it works on an offline benchmark host; a
Content-Security-Policy of ``'self'`` keeps it from loading anything else. The page polls the live API's
own JSON routes (``/api/timeline``, ``/api/progress``, ``/api/workers``, ``/api/run``, ``/api/config``)
once a second and calls the control routes (``/api/control/*``) with the token typed into it; the token
stays in the tab's memory and is never sent anywhere else.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from inferload import hookimpl
from inferload.types import RouterSpec

if TYPE_CHECKING:
    from fastapi import APIRouter

    from inferload.runstate import RunState

ROUTES = ("GET /dashboard", "GET /dashboard/assets/{name}")
ASSETS_DIR = Path(__file__).with_name("dashboard_assets")
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".LICENSE": "text/plain; charset=utf-8",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}
"""``style-src 'unsafe-inline'``: uPlot sizes its canvases with inline styles."""


@hookimpl
def register_api_routers() -> list[RouterSpec]:
    return [
        RouterSpec(
            name="api-dashboard",
            description="GET /dashboard: live charts, progress, workers and run controls in the browser",
            routes=ROUTES,
            factory=make_router,
        )
    ]


def asset_names() -> dict[str, Path]:
    """Every file the page may load, by name: only these are served (no path is ever joined from a URL)."""
    return {path.name: path for path in sorted(ASSETS_DIR.iterdir())
            if path.is_file() and path.suffix in CONTENT_TYPES}


def make_router(state: RunState) -> APIRouter:
    from fastapi import APIRouter, HTTPException
    from fastapi import Path as PathParameter
    from fastapi.responses import Response

    assets = asset_names()
    router = APIRouter(tags=["dashboard"])

    def serve(name: str) -> Response:
        path = assets.get(name)
        if path is None:
            raise HTTPException(status_code=404, detail=f"no dashboard asset {name!r}")
        return Response(path.read_bytes(), media_type=CONTENT_TYPES[path.suffix], headers=SECURITY_HEADERS)

    @router.get("/dashboard", response_class=Response, response_model=None,
                responses={200: {"content": {"text/html": {}}}},
                summary="The web dashboard (HTML)",
                description="Live charts of throughput, TTFT, ITL and errors, progress per phase, workers, "
                "and the run controls once a token is entered. Loads nothing from outside this API.")
    async def get_dashboard() -> Any:
        return serve("index.html")

    @router.get("/dashboard/assets/{name}", response_class=Response, response_model=None,
                responses={200: {"content": {"text/javascript": {}, "text/css": {}, "text/plain": {}}},
                           404: {"description": "Not one of the dashboard's files"}},
                summary="A file of the dashboard",
                description="The dashboard's script, style and vendored chart library (uPlot, MIT).")
    async def get_dashboard_asset(
        name: str = PathParameter(description="A file name the page references", examples=["dashboard.js"]),
    ) -> Any:
        return serve(name)

    return router
