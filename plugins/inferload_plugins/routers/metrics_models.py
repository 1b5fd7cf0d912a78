"""Wire models of the metrics route family: ``GET /api/metrics`` (``api-metrics``) and the Prometheus
``GET /metrics`` (``api-prometheus``), which renders the same :class:`MetricsResponse`, so the two agree.

Field names follow the reference API so existing dashboards and scripts keep working; the one rename is
``aiperf_version`` -> ``inferload_version``, like every other ``aiperf`` name. These models document the
API in ``/openapi.json`` and validate every response, so a route can never drift from its documented shape.
Not a plugin: a module both routers of the family import (docs/architecture.md, "Where each concern lives").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

if TYPE_CHECKING:
    from inferload.runstate import RunState

PERCENTILES: tuple[str, ...] = ("p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99")
"""The percentile keys a metric may carry, in order; ``pNN`` is the NN/100 quantile."""


class MetricValue(BaseModel):
    """Live statistics of one metric. Keys a metric does not have (an aggregate metric has no
    percentiles) are left out of the JSON rather than sent as null, as in the reference."""

    model_config = ConfigDict(extra="allow")

    header: str | None = Field(None, description="Human-readable name, e.g. 'Time to First Token'")
    unit: str | None = Field(None, description="Unit of every value below, e.g. 'ms', 'tokens/sec'")
    avg: float | None = None
    min: float | None = None
    max: float | None = None
    p1: float | None = None
    p5: float | None = None
    p10: float | None = None
    p25: float | None = None
    p50: float | None = None
    p75: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    std: float | None = None
    count: int | None = Field(None, description="Number of observations (requests) behind the values")
    sum: float | None = Field(None, description="Sum of all observations")

    # No return annotation on purpose: with one, pydantic would document the model as a bare object.
    @model_serializer(mode="wrap")
    def _drop_missing(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        return {key: value for key, value in handler(self).items() if value is not None}


class MetricsResponse(BaseModel):
    """``GET /api/metrics``: run identity plus the live value of every metric computed so far."""

    inferload_version: str = Field(description="inferload version (the reference calls it aiperf_version)")
    benchmark_id: str
    model: str | None = None
    endpoint_type: str | None = None
    streaming: bool | None = None
    concurrency: int | None = None
    request_rate: float | None = None
    updated_ns: int | None = Field(None, description="Wall-clock ns of the last live-metrics update")
    metrics: dict[str, MetricValue] = Field(
        default_factory=dict, description="Metric tag -> statistics; live from the first completed request"
    )


def build_metrics_response(state: RunState) -> MetricsResponse:
    """``/api/metrics`` for a RunState; ``/metrics`` renders the same object, so the two always agree.
    The run fields are None while the state has no ProfileConfig yet."""
    config = state.config
    live = state.live_metrics  # swapped whole by the engine: one read gives a consistent snapshot
    run: dict[str, Any] = {}
    if config is not None:
        run = {"model": config.model, "endpoint_type": config.endpoint_type, "streaming": config.streaming,
               "concurrency": config.effective_concurrency, "request_rate": config.request_rate}
    return MetricsResponse(
        inferload_version=state.version or _package_version(),
        benchmark_id=state.run_info.benchmark_id,
        updated_ns=state.live_metrics_updated_ns,
        metrics={tag: MetricValue.model_validate(_finite(stats)) for tag, stats in dict(live).items()},
        **run,
    )


def _finite(stats: Any) -> dict[str, Any]:
    """Drop NaN and infinite values: JSON cannot carry them and they mean 'no value yet'."""
    import math

    return {
        key: value
        for key, value in dict(stats).items()
        if not (isinstance(value, float) and not math.isfinite(value))
    }


def _package_version() -> str:
    from inferload import __version__

    return __version__
