"""POST /api/control/pause, /resume, /stop and PATCH /api/control/load — steer the running load
(docs/control.md).

The routes exist only when the run has a token (``--api-token``, ``INFERLOAD_API_TOKEN`` or
``--api-token-file``): without one they are not mounted (404). Every request needs
``Authorization: Bearer TOKEN``, compared in constant time; a missing or wrong token is 401 and changes
nothing. A change is validated before it is queued (422 for a bad body, 409 when the run cannot take it
now) and goes through the run's :class:`inferload.load_control.LoadControl`, the one part of the state a
router may call; the engine applies it on every worker and starts a load segment.
"""

# No ``from __future__ import annotations``: FastAPI reads the handlers' annotations (``Request``) at
# runtime, and they are imported inside make_router.
from typing import TYPE_CHECKING, Any

from inferload import hookimpl
from inferload.types import RouterSpec

if TYPE_CHECKING:
    from fastapi import APIRouter

    from inferload.runstate import RunState

ROUTES = (
    "POST /api/control/pause",
    "POST /api/control/resume",
    "PATCH /api/control/load",
    "POST /api/control/stop",
)

SCHEME = "controlToken"
"""The OpenAPI security scheme's name."""

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No 'Authorization: Bearer TOKEN' header, or the wrong token: nothing changed"},
    409: {"description": "The run is stopping or not sending now: nothing changed"},
}


@hookimpl
def register_api_routers() -> list[RouterSpec]:
    return [
        RouterSpec(
            name="api-control",
            description="POST /api/control/pause|resume|stop, PATCH /api/control/load: steer the run "
            "(only with --api-token)",
            routes=ROUTES,
            factory=make_router,
        )
    ]


def make_router(state: "RunState") -> "APIRouter":
    """The control routes for ``state``'s run; an empty router when the run has no token."""
    import hmac

    from fastapi import APIRouter, Depends, HTTPException, Request
    from fastapi.responses import JSONResponse
    from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

    from inferload.load_control import ControlRefused, LoadStatus
    from inferload_plugins.routers.control_models import LoadChange

    router = APIRouter(tags=["control"])
    token = getattr(state.config, "api_token", None)
    if token is None:
        return router
    expected = token.get_secret_value().encode()
    bearer = HTTPBearer(
        auto_error=False,
        scheme_name=SCHEME,
        description="The run's --api-token (or INFERLOAD_API_TOKEN, --api-token-file)",
    )

    def authorized(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        given = credentials.credentials.encode() if credentials is not None else b""
        # compare_digest on every request, even without a header: the time taken tells nothing
        if not hmac.compare_digest(given, expected) or credentials is None:
            raise HTTPException(401, "a valid 'Authorization: Bearer TOKEN' header is required (the "
                                     "run's --api-token)", headers={"WWW-Authenticate": "Bearer"})

    def act(change: Any) -> Any:
        control = state.control
        if control is None:
            return JSONResponse({"detail": "no run is under way"}, status_code=409)
        try:
            change(control)
        except ControlRefused as exc:
            return JSONResponse({"detail": str(exc)}, status_code=exc.status)
        return control.status()

    common: dict[str, Any] = dict(dependencies=[Depends(authorized)], response_model=LoadStatus,
                                  responses=_ERRORS)

    @router.post("/api/control/pause", summary="Pause sending (LoadStatus)", **common,
                 description="Stop sending new requests; those in flight finish. Starts a load segment. "
                 "Pausing a paused run changes nothing.")
    async def pause() -> Any:
        return act(lambda control: control.pause())

    @router.post("/api/control/resume", summary="Resume sending (LoadStatus)", **common,
                 description="Send again at the current target, from where the schedule stopped. Starts "
                 "a load segment.")
    async def resume() -> Any:
        return act(lambda control: control.resume())

    @router.patch(
        "/api/control/load",
        summary="Change the load target (LoadStatus)",
        description="Body `{\"request_rate\": r}` (a rate-driven run) or `{\"concurrency\": c}` (a "
        "concurrency-driven run, at most --max-concurrency). Every worker applies it within one tick; it "
        "starts a load segment. 422 for a non-JSON body, unknown fields, both fields, a value <= 0 or "
        "the other kind of load.",
        openapi_extra={"requestBody": {"required": True, "content": {
            "application/json": {"schema": LoadChange.model_json_schema()}}}},
        **{**common, "responses": {**_ERRORS, 422: {"description": "A bad body: nothing changed"}}},
    )
    async def change_load(request: Request) -> Any:
        try:
            fields = LoadChange.parse_body(await request.body())
        except ValueError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=422)
        return act(lambda control: control.change_load(**fields))

    @router.post("/api/control/stop", summary="Stop the run (LoadStatus)", status_code=202, **common,
                 description="End the run as SIGINT does: no new requests, in-flight ones get the grace "
                 "period, every artifact is written with was_cancelled true. 409 once stopping.")
    async def stop() -> Any:
        return act(lambda control: control.stop())

    return router
