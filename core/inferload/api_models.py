"""Wire models of the live HTTP API: what each JSON route returns, field for field.

Field names follow the reference API (``../shared/spec/http-api-endpoints.md``) so existing dashboards and
scripts keep working; the one rename is ``aiperf_version`` -> ``inferload_version``, like every other
``aiperf`` name. These models document the API in ``/openapi.json`` and validate every response, so a
route can never drift from its documented shape. They live in the core because third-party routers and
API clients may reuse them; the router plugins build them from :class:`~inferload.runstate.RunState`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, SerializerFunctionWrapHandler, model_serializer

PERCENTILES: tuple[str, ...] = ("p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99")
"""The percentile keys a metric may carry, in order; ``pNN`` is the NN/100 quantile."""


class BenchmarkConfig(RootModel[dict[str, Any]]):
    """``GET /api/config``: the run's validated configuration (``ProfileConfig.redacted_dump()``), keyed by
    setting name. The API key is excluded; credential header values and URL passwords are ``<redacted>``."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "model": "mock", "url": "http://<redacted>@127.0.0.1:8000", "endpoint_type": "chat",
        "streaming": True, "header": ["Authorization: <redacted>", "X-Team: blue"], "concurrency": 4,
        "request_count": 20, "api_key_set": True,
    }]})


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


class PhaseProgressModel(BaseModel):
    """Progress of one phase (``warmup`` or ``profiling``). Times are wall-clock ns since the epoch."""

    phase: str
    phase_index: int
    phase_name: str
    phase_kind: str
    start_ns: int | None = None
    sent_end_ns: int | None = None
    requests_end_ns: int | None = None
    total_expected_requests: int | None = None
    expected_duration_sec: float | None = None
    expected_grace_period_sec: float | None = None
    final_requests_sent: int | None = Field(None, description="Set once the phase has finished")
    final_requests_completed: int | None = None
    final_requests_cancelled: int | None = None
    final_request_errors: int | None = None
    timeout_triggered: bool = False
    grace_period_timeout_triggered: bool = False
    was_cancelled: bool = False
    requests_sent: int = 0
    requests_completed: int = 0
    requests_cancelled: int = 0
    request_errors: int = 0
    requests_per_second: float | None = Field(None, description="Completed requests per second so far")
    requests_eta_sec: float | None = Field(None, description="Estimated seconds until the phase ends")
    percent: float | None = Field(None, description="0-100, by request count or else by elapsed duration")
    elapsed_sec: float = 0.0
    last_update_ns: int | None = None


class WorkerCounts(BaseModel):
    """How many worker processes exist and how many are sending."""

    ready: int = 0
    total: int = 0


class ProgressResponse(BaseModel):
    """``GET /api/progress``: per-phase request progress and the run's lifecycle state."""

    phases: dict[str, PhaseProgressModel] = Field(default_factory=dict)
    workers: WorkerCounts = Field(default_factory=WorkerCounts)
    results_exported: bool = Field(False, description="True once every artifact is written")
    system_state: str = Field(
        description="created, starting, running, completing, complete, cancelled or failed"
    )


class TaskStats(BaseModel):
    """Requests of one worker: ``total`` sent, ``completed`` (success or error), ``failed``."""

    total: int = 0
    failed: int = 0
    completed: int = 0
    cancelled: int = 0


class WorkerHealth(BaseModel):
    """Process health of one worker as the OS reports it."""

    pid: int | None = None
    create_time: float | None = Field(None, description="Process start, seconds since the epoch")
    uptime: float | None = Field(None, description="Seconds since the process started")
    cpu_usage: float | None = Field(None, description="CPU percent (100 = one full core)")
    memory_usage: int | None = Field(None, description="Resident set size in bytes")
    cpu_times: list[float] | None = Field(None, description="[user, system] CPU seconds")
    num_threads: int | None = None


class WorkerInfo(BaseModel):
    """One worker process."""

    worker_id: str
    task_stats: TaskStats
    health: WorkerHealth | None = None
    status: str = Field(description="starting, running, stopping, stopped or failed")
    last_update_ns: int | None = None
    ready_ns: int | None = Field(
        None,
        description="Wall-clock ns when the worker's transport was set up (clients created, connections "
        "warmed); none of its requests starts before it",
    )


class WorkerGroup(BaseModel):
    """All workers of one executor (the local one here), with summed task stats."""

    group_id: str
    status: str
    declared_workers: int
    ready_workers: int
    task_stats: TaskStats
    workers: dict[str, WorkerInfo] = Field(default_factory=dict)
    last_update_ns: int | None = None


class WorkersResponse(BaseModel):
    """``GET /api/workers``: every worker process, and the same grouped by executor."""

    workers: dict[str, WorkerInfo] = Field(default_factory=dict)
    worker_groups: dict[str, WorkerGroup] = Field(default_factory=dict)


class BenchmarkResultsResponse(BaseModel):
    """``GET /api/results``: ``running`` until every artifact is written, then the final results
    (the content of profile_export.json)."""

    status: Literal["running", "complete", "cancelled", "failed"]
    results: dict[str, Any] | None = None
    error: str | None = Field(None, description="Why the run failed, when status is failed")


class ArtifactFile(BaseModel):
    """One artifact file of this run."""

    name: str = Field(description="File name without directories")
    path: str = Field(description="Path relative to the artifact directory; use it to download")
    size: int = Field(description="Size in bytes")
    content_type: str
    modified_ns: int = Field(description="Last modification, wall-clock ns")


class ResultsListResponse(BaseModel):
    """``GET /api/results/list``: the files this run wrote (never another run's files in a reused dir)."""

    files: list[ArtifactFile] = Field(default_factory=list)
    ready: bool = Field(False, description="True once every artifact is written")
    processing: bool = Field(False, description="True while the run is computing and writing results")
    partial: bool = Field(False, description="True when some exporter failed or the run did not complete")
    failed_exporters: list[str] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    """Body of 4xx answers, as FastAPI writes them."""

    detail: str


def build_metrics_response(state: Any) -> MetricsResponse:
    """``/api/metrics`` for a RunState; ``/metrics`` renders the same object, so the two always agree."""
    config = state.config
    concurrency = _config_value(config, "effective_concurrency", "concurrency")
    live = state.live_metrics  # swapped whole by the engine: one read gives a consistent snapshot
    return MetricsResponse(
        inferload_version=state.version or _package_version(),
        benchmark_id=state.run_info.benchmark_id,
        model=_first_model(_config_value(config, "model", "models")),
        endpoint_type=_config_value(config, "endpoint_type"),
        streaming=_config_value(config, "streaming"),
        concurrency=concurrency,
        request_rate=_config_value(config, "request_rate"),
        updated_ns=state.live_metrics_updated_ns,
        metrics={tag: MetricValue.model_validate(_finite(stats)) for tag, stats in dict(live).items()},
    )


def _config_value(config: Any, *names: str) -> Any:
    """The first of ``names`` the config has, as an attribute or a mapping key; None if it has none."""
    for name in names:
        if isinstance(config, dict):
            if config.get(name) is not None:
                return config[name]
        else:
            try:
                value = getattr(config, name)
            except Exception:  # noqa: BLE001 - a config property that cannot compute is simply unknown
                continue
            if value is not None:
                return value
    return None


def _first_model(value: Any) -> str | None:
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return None if value is None else str(value)


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
