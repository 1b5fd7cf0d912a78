"""GET /api/config — the run's declarative configuration, with every secret removed.

The config's own ``redacted_dump()`` is the one way configuration leaves the process; a second, generic
pass here still drops credential-named keys, redacts credential headers and URL userinfo, so a future
field nobody marked secret cannot leak through this route.
Run-identity fields belong to ``/api/run`` and are left out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from inferload import hookimpl
from inferload.redact import REDACTED, is_secret_flag, redact_header_arg, redact_headers, redact_url
from inferload.types import RouterSpec

if TYPE_CHECKING:
    from fastapi import APIRouter

    from inferload.config import ProfileConfig
    from inferload.runstate import RunState

ROUTES = ("GET /api/config",)
IDENTITY_FIELDS = frozenset(
    {"benchmark_id", "sweep_id", "trial", "run_label", "variation_label", "variation_index",
     "variation_values", "cli_command"}
)


@hookimpl
def register_api_routers() -> list[RouterSpec]:
    return [
        RouterSpec(
            name="api-config",
            description="GET /api/config: the run's configuration, API key excluded, secrets redacted",
            routes=ROUTES,
            factory=make_router,
        )
    ]


def make_router(state: RunState) -> APIRouter:
    from inferload.api_routes import json_get_router
    from inferload_plugins.routers.config_models import BenchmarkConfig

    return json_get_router(
        "/api/config",
        lambda: BenchmarkConfig(config_view(state.config)),
        response_model=BenchmarkConfig,
        tag="config",
        summary="Benchmark configuration (BenchmarkConfig)",
        description="The validated configuration of this run, as given by flags, environment and config "
        "file. The API key is excluded, credential header values and URL passwords are `<redacted>`. "
        "Run identity (benchmark_id, cli_command, …) is on /api/run.",
    )


def config_view(config: ProfileConfig | None) -> dict[str, Any]:
    """The configuration as JSON-safe data with no secret and no run-identity field ({} before a run has
    a configuration)."""
    data = config.redacted_dump() if config is not None else {}
    return {key: scrub(value, key) for key, value in data.items()
            if key not in IDENTITY_FIELDS and not _secret_key(key, value)}


def scrub(value: Any, key: str = "") -> Any:
    """Recursively remove what looks secret: credential-named keys, credential headers, URL userinfo."""
    lowered = key.lower()
    if isinstance(value, dict):
        if lowered in ("header", "headers"):
            value = redact_headers({str(k): v for k, v in value.items() if isinstance(v, str)}) | {
                str(k): v for k, v in value.items() if not isinstance(v, str)
            }
        return {k: scrub(v, str(k)) for k, v in value.items() if not _secret_key(str(k), v)}
    if isinstance(value, (list, tuple)):
        if lowered in ("header", "headers"):
            return [redact_header_arg(v) if isinstance(v, str) else scrub(v) for v in value]
        return [scrub(v, key) for v in value]
    if isinstance(value, str) and "://" in value:
        return redact_url(value)
    return value


def _secret_key(key: str, value: Any) -> bool:
    """A credential-named key whose value could be the credential (not a flag like ``api_key_set``)."""
    return is_secret_flag(key) and value not in (None, REDACTED) and not isinstance(value, bool)
