"""--otel-url: the run's metrics as OpenTelemetry metrics over OTLP/HTTP (lifecycle plugin).

From ``run_started`` on, an SDK ``MeterProvider`` with a periodic reader (its own thread, every
``OTEL_METRIC_EXPORT_INTERVAL`` ms, default 1000 here) exports three observable gauges read from the
RunState: ``inferload.metric`` with attributes ``metric`` (the tag, e.g. ``time_to_first_token``), ``unit``,
``stat`` (avg, p50, p90, p99) and ``scope`` (``live`` during the run, ``final`` once the summary exists);
``inferload.requests`` (attribute ``state``: sent, completed, errors, cancelled of the profiling phase); and
``inferload.server`` (attributes ``concept``, ``family``, ``source`` and the series' labels) from each
server-metrics source's latest scrape. Metric tags appear during the run, so they are attributes of one
instrument (an instrument cannot be created while the SDK collects). ``run_finished`` exports once more (the
final summary) and shuts the provider down. Resource attributes: ``service.name=inferload``,
``inferload.benchmark_id``, ``inferload.model``, ``inferload.endpoint_type``, ``inferload.run_label``.
Userinfo in the URL becomes a Basic auth header and is never part of the endpoint the SDK logs.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import BaseModel, Field, field_validator

from inferload import hookimpl
from inferload.plugin_options import Flag
from inferload.types import OptionsSpec

if TYPE_CHECKING:
    from inferload.runstate import RunState

STATS = ("avg", "p50", "p90", "p99")
_PROVIDERS: dict[str, Any] = {}
_EXPORT_TIMEOUT_S = 2
"""One OTLP export's limit, retries included: a collector that is down delays the end of a run by about
twice this (the final flush, then shutdown), never the requests."""
"""benchmark_id -> the run's MeterProvider."""


class OtelOptions(BaseModel):
    """``--otel-url``."""

    otel_url: Annotated[str | None, Flag(metavar="URL")] = Field(
        None, description="send live and final metrics to this OTLP/HTTP collector (needs 'inferload[otel]')")

    @field_validator("otel_url")
    @classmethod
    def _collector(cls, value: str | None) -> str | None:
        from inferload.config import require_extra
        from inferload.urls import check_http_url

        if value is None:
            return None
        value = check_http_url(value)
        require_extra("--otel-url", "otel", "opentelemetry.exporter.otlp.proto.http")
        return value


@hookimpl
def register_options() -> list[OptionsSpec]:
    return [OptionsSpec(name="otel", description="OpenTelemetry export", model=OtelOptions,
                        title="OpenTelemetry export (docs/integrations.md)")]


def _collector_url(state: RunState) -> str | None:
    return None if state.config is None else state.config.options(OtelOptions).otel_url


def endpoint_and_headers(url: str) -> tuple[str, dict[str, str]]:
    """``URL/v1/metrics`` without userinfo, and the Basic auth header the userinfo stood for."""
    parts = urlsplit(url)
    headers = {}
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    netloc = parts.netloc.rsplit("@", 1)[-1]
    base = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    return f"{base}/v1/metrics", headers


def resource_attributes(state: RunState) -> dict[str, str]:
    config = state.config
    return {
        "service.name": "inferload",
        "inferload.benchmark_id": state.run_info.benchmark_id,
        "inferload.model": (config.model if config is not None else None) or "",
        "inferload.endpoint_type": (config.endpoint_type if config is not None else None) or "",
        "inferload.run_label": state.run_info.run_label or "",
    }


def metric_blocks(state: RunState) -> tuple[str, dict[str, dict[str, Any]]]:
    """(scope, tag -> stats): the final summary's blocks once written, else the live metrics."""
    if state.results is not None:
        return "final", {k: v for k, v in state.results.items() if isinstance(v, dict) and "avg" in v}
    return "live", dict(state.live_metrics)


@hookimpl
def run_started(state: RunState) -> None:
    """Create the provider and its observable instruments; the SDK's reader thread exports them."""
    url = _collector_url(state)
    if url is None:
        return
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.metrics import Observation
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    endpoint, headers = endpoint_and_headers(url)
    interval = int(os.environ.get("OTEL_METRIC_EXPORT_INTERVAL", "1000"))
    exporter = OTLPMetricExporter(endpoint=endpoint, headers=headers, timeout=_EXPORT_TIMEOUT_S)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=interval)
    provider = MeterProvider(resource=Resource.create(resource_attributes(state)), metric_readers=[reader])
    meter = provider.get_meter("inferload")

    def metrics(_options: Any) -> Iterator[Any]:
        scope, blocks = metric_blocks(state)
        for tag, block in blocks.items():
            for stat in STATS:
                value = block.get(stat)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    yield Observation(value, {"metric": tag, "unit": str(block.get("unit") or ""),
                                              "stat": stat, "scope": scope})

    def requests(_options: Any) -> Iterator[Any]:
        phase = state.phases.get("profiling") or state.current_phase
        if phase is not None:
            yield Observation(phase.requests_sent, {"state": "sent"})
            yield Observation(phase.requests_completed, {"state": "completed"})
            yield Observation(phase.request_errors, {"state": "errors"})
            yield Observation(phase.requests_cancelled, {"state": "cancelled"})

    def server(_options: Any) -> Iterator[Any]:
        store = state.plugin_state("server-metrics")
        for scrape in store.latest() if store is not None else []:
            for row in scrape["series"]:
                value = row.get("value", row.get("rate", row.get("avg")))
                if row.get("concept") and isinstance(value, (int, float)):
                    yield Observation(value, {"concept": row["concept"], "family": row["family"],
                                              "source": scrape["source"], **row["labels"]})

    meter.create_observable_gauge("inferload.metric", callbacks=[metrics])
    meter.create_observable_gauge("inferload.requests", callbacks=[requests])
    meter.create_observable_gauge("inferload.server", callbacks=[server])
    _PROVIDERS[state.run_info.benchmark_id] = provider


@hookimpl
def run_finished(state: RunState) -> None:
    """Export the final summary once more and shut down (the SDK flushes on shutdown)."""
    provider = _PROVIDERS.pop(state.run_info.benchmark_id, None)
    if provider is None:
        return
    provider.force_flush(timeout_millis=_EXPORT_TIMEOUT_S * 1000)
    provider.shutdown(timeout_millis=_EXPORT_TIMEOUT_S * 1000)
