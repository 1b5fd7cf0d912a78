"""The options of server-metrics and GPU-telemetry scraping (docs/server-metrics.md): declared by the
scraper plugin, read by it and by the ``/api/server-metrics`` router (``interval_sec``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, field_validator

from inferload.plugin_options import Flag
from inferload.types import OptionsSpec
from inferload.urls import check_http_url


class ServerMetricsOptions(BaseModel):
    """``--server-metrics``, ``--no-server-metrics``, ``--server-metrics-interval``, ``--gpu-telemetry``,
    ``--no-gpu-telemetry``."""

    server_metrics: Annotated[list[str], Flag(metavar="URL")] = Field(
        default_factory=list, description="also scrape this Prometheus endpoint (repeatable); the target's "
        "{url}/metrics is scraped too")
    no_server_metrics: Annotated[bool, Flag(negatable=False)] = Field(
        False, description="scrape no server metrics (neither {url}/metrics nor --server-metrics)")
    server_metrics_interval: Annotated[float, Flag(metavar="S")] = Field(
        1.0, gt=0, description="seconds between scrapes of each source (default 1)")
    gpu_telemetry: Annotated[list[str], Flag(metavar="URL")] = Field(
        default_factory=list, description="a DCGM exporter's /metrics URL (repeatable): power, utilisation, "
        "memory, SM clock per GPU")
    no_gpu_telemetry: Annotated[bool, Flag(negatable=False)] = Field(
        False, description="scrape no GPU telemetry, even if --gpu-telemetry comes from the environment or "
        "-f file")

    @field_validator("server_metrics", "gpu_telemetry")
    @classmethod
    def _urls(cls, values: list[str]) -> list[str]:
        return [check_http_url(value) for value in values]


SERVER_METRICS_OPTIONS = OptionsSpec(
    name="server-metrics", description="Server metrics and GPU telemetry", model=ServerMetricsOptions,
    title="server metrics and GPU telemetry (docs/server-metrics.md)",
)
