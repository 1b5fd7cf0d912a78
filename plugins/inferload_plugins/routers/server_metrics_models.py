"""Wire model of ``GET /api/server-metrics``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ServerMetricsResponse(BaseModel):
    """Server metrics and GPU telemetry of the current run, as scraped so far."""

    benchmark_id: str
    enabled: bool = Field(description="False when the run scrapes no source (--no-server-metrics, no URL)")
    interval_sec: float | None = Field(description="--server-metrics-interval")
    sources: list[dict[str, Any]] = Field(description="Per source: url (redacted), kind, status, scrape "
                                          "counts, first_error, maps, gaps")
    latest: list[dict[str, Any]] = Field(description="The last successful scrape of each source "
                                         "(timestamp_ns, source, kind, series)")
    summary: dict[str, Any] | None = Field(description="The server_metrics block of profile_export.json "
                                           "once the run's artifacts are written, else null")
