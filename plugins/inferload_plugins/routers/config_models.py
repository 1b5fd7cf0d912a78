"""Wire model of ``GET /api/config`` (imported when the router is built; pydantic is not cheap)."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, RootModel


class BenchmarkConfig(RootModel[dict[str, Any]]):
    """``GET /api/config``: the run's validated configuration (``ProfileConfig.redacted_dump()``), keyed by
    setting name. The API key is excluded; credential header values and URL passwords are ``<redacted>``."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "model": "mock", "url": "http://<redacted>@127.0.0.1:8000", "endpoint_type": "chat",
        "streaming": True, "header": ["Authorization: <redacted>", "X-Team: blue"], "concurrency": 4,
        "request_count": 20, "api_key_set": True,
    }]})
