"""Wire model of ``PATCH /api/control/load``'s body (imported when the router is built)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class LoadChange(BaseModel):
    """A new load target: exactly one of the two fields, of the run's kind of load."""

    model_config = ConfigDict(extra="forbid")

    request_rate: float | None = Field(None, gt=0, description="Requests per second (rate-driven runs)")
    concurrency: int | None = Field(None, ge=1, description="Requests in flight (concurrency-driven runs)")

    @classmethod
    def parse_body(cls, body: bytes) -> dict[str, Any]:
        """The body's fields (``request_rate``/``concurrency``), their values still to be checked by the
        run's control. ValueError, one line for a 422, when the body is not a JSON object of those."""
        try:
            data = json.loads(body or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"the body is not JSON ({getattr(exc, 'msg', exc)}); send "
                             '{"request_rate": r} or {"concurrency": c}') from None
        if not isinstance(data, dict):
            raise ValueError('the body must be a JSON object: {"request_rate": r} or {"concurrency": c}')
        unknown = sorted(set(data) - set(cls.model_fields))
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(map(repr, unknown))}: give request_rate or "
                             "concurrency")
        return {name: data[name] for name in cls.model_fields if data.get(name) is not None}
