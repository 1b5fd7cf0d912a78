"""GET /metrics — Prometheus text exposition (format 0.0.4) of the live run, made with prometheus-client.

A custom collector reads the RunState at scrape time, so nothing is recorded twice and a scrape costs
only the rendering. It renders the same ``MetricsResponse`` (``metrics_models``, beside it) that
``/api/metrics`` returns, so the two always agree. Series, all prefixed ``inferload_`` and labelled with
the run (benchmark_id, model, endpoint_type, streaming, concurrency):

- ``inferload_info`` — run identity and version, value 1;
- per metric with percentiles (latencies, sequence lengths …): a summary ``inferload_<tag>_<unit>`` with
  quantiles 0.01…0.99 plus ``_sum``/``_count``, and gauges ``inferload_<tag>_{avg,min,max,std}_<unit>``;
- per metric without percentiles (throughputs, counts): a gauge ``inferload_<tag>_<unit>`` (its avg);
- progress per phase: counters ``inferload_requests_{sent,completed,cancelled}_total`` and
  ``inferload_request_errors_total``, gauges ``inferload_progress_percent``,
  ``inferload_requests_per_second``, ``inferload_expected_requests``, ``inferload_eta_seconds``;
- ``inferload_run_state{state=…}`` (1 for the current lifecycle state), ``inferload_workers``,
  ``inferload_results_ready``;
- the load in force (docs/control.md): ``inferload_load_target{kind=request_rate|concurrency}``,
  ``inferload_load_paused``, ``inferload_load_segments``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

from inferload import hookimpl
from inferload.types import RouterSpec

ROUTES = ("GET /metrics",)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "inferload"
RUN_LABELS = ("benchmark_id", "model", "endpoint_type", "streaming", "concurrency")
LIFECYCLE_STATES = ("created", "starting", "running", "completing", "complete", "cancelled", "failed")
_UNIT_WORDS = {"tokens/sec/user": "tps_per_user", "tokens/sec": "tps", "%": "percent"}


@hookimpl
def register_api_routers() -> list[RouterSpec]:
    return [
        RouterSpec(
            name="api-prometheus",
            description="GET /metrics: Prometheus exposition of live metrics and progress",
            routes=ROUTES,
            factory=make_router,
        )
    ]


def make_router(state: Any) -> Any:
    from fastapi import APIRouter
    from fastapi.responses import Response
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(RunStateCollector(state))
    router = APIRouter(tags=["metrics"])

    @router.get(
        "/metrics",
        response_class=Response,
        response_model=None,
        summary="Prometheus scrape target",
        description="Prometheus text exposition format 0.0.4: run info, a summary per latency metric, "
        "gauges for the rest, progress counters. All series are prefixed `inferload_`.",
        responses={200: {"description": "exposition text",
                         "content": {CONTENT_TYPE: {"schema": {"type": "string"}}}}},
    )
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE)

    return router


class RunStateCollector:
    """A prometheus-client collector producing every ``inferload_`` family from the RunState."""

    def __init__(self, state: Any) -> None:
        self.state = state

    def describe(self) -> list[Any]:
        return []  # families depend on which metrics exist at scrape time

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            InfoMetricFamily,
            Metric,
            StateSetMetricFamily,
        )

        from inferload_plugins.routers.metrics_models import PERCENTILES, build_metrics_response

        view = build_metrics_response(self.state)
        labels = {
            "benchmark_id": view.benchmark_id,
            "model": view.model or "",
            "endpoint_type": view.endpoint_type or "",
            "streaming": "" if view.streaming is None else str(view.streaming).lower(),
            "concurrency": "" if view.concurrency is None else str(view.concurrency),
        }
        keys, values = list(labels), list(labels.values())
        yield InfoMetricFamily(
            PREFIX, "inferload benchmark information",
            value={**labels, "request_rate": "" if view.request_rate is None else f"{view.request_rate:g}",
                   "version": view.inferload_version},
        )
        seen: set[str] = set()
        for tag, stats in view.metrics.items():
            unit = unit_suffix(stats.unit or "")
            base = metric_name(tag, unit)
            header = stats.header or tag
            help_text = f"{header} (in {stats.unit})" if stats.unit else header
            quantiles = [(p, getattr(stats, p)) for p in PERCENTILES if getattr(stats, p) is not None]
            if not quantiles:
                if stats.avg is not None and base not in seen:
                    seen.add(base)
                    yield _gauge(GaugeMetricFamily, base, help_text, keys, values, stats.avg)
                continue
            if base not in seen:
                seen.add(base)
                summary = Metric(base, help_text, "summary")
                for p, value in quantiles:
                    summary.add_sample(base, {**labels, "quantile": _quantile(p)}, value)
                if stats.sum is not None:
                    summary.add_sample(f"{base}_sum", labels, stats.sum)
                if stats.count is not None:
                    summary.add_sample(f"{base}_count", labels, stats.count)
                yield summary
            for stat, word in (("avg", "average"), ("min", "minimum"), ("max", "maximum"),
                               ("std", "standard deviation")):
                value = getattr(stats, stat)
                name = metric_name(tag, unit, stat)
                if value is not None and name not in seen:
                    seen.add(name)
                    yield _gauge(GaugeMetricFamily, name, f"{header} {word}" + (f" (in {stats.unit})"
                                 if stats.unit else ""), keys, values, value)
        yield from self._progress(CounterMetricFamily, GaugeMetricFamily, labels)
        lifecycle = str(getattr(self.state.lifecycle, "value", self.state.lifecycle))
        run_state = StateSetMetricFamily(f"{PREFIX}_run_state", "Lifecycle state of the run (1 = current)",
                                         labels=keys)
        run_state.add_metric(values, {name: name == lifecycle for name in LIFECYCLE_STATES})
        yield run_state
        yield _gauge(GaugeMetricFamily, f"{PREFIX}_workers", "Worker processes of the run", keys, values,
                     len(dict(self.state.workers)))
        yield _gauge(GaugeMetricFamily, f"{PREFIX}_results_ready", "1 once every artifact is written",
                     keys, values, 1 if self.state.artifacts_ready else 0)
        control = getattr(self.state, "control", None)
        if control is not None:  # the load in force (docs/control.md)
            load = control.status()
            kind, target = (("request_rate", load.request_rate) if load.request_rate is not None
                            else ("concurrency", load.concurrency))
            yield _gauge(GaugeMetricFamily, f"{PREFIX}_load_target", "The load target in force: requests/s "
                         "(kind request_rate) or requests in flight (kind concurrency)", [*keys, "kind"],
                         [*values, kind], float(target or 0))
            yield _gauge(GaugeMetricFamily, f"{PREFIX}_load_paused", "1 while sending is paused", keys,
                         values, 1 if load.paused else 0)
            yield _gauge(GaugeMetricFamily, f"{PREFIX}_load_segments", "Load segments of the profiling "
                         "phase so far", keys, values, len(load.segments))

    def _progress(self, counter: Any, gauge: Any, labels: dict[str, str]) -> Iterator[Any]:
        keys = [*labels, "phase"]
        families = {
            "sent": counter(f"{PREFIX}_requests_sent", "Requests sent", labels=keys),
            "completed": counter(f"{PREFIX}_requests_completed", "Requests completed (success or error)",
                                 labels=keys),
            "cancelled": counter(f"{PREFIX}_requests_cancelled", "Requests cancelled", labels=keys),
            "errors": counter(f"{PREFIX}_request_errors", "Requests that ended in an error", labels=keys),
            "percent": gauge(f"{PREFIX}_progress_percent", "Phase completion in percent", labels=keys),
            "rate": gauge(f"{PREFIX}_requests_per_second", "Completed requests per second in the phase",
                          labels=keys),
            "expected": gauge(f"{PREFIX}_expected_requests", "Requests the phase will send", labels=keys),
            "eta": gauge(f"{PREFIX}_eta_seconds", "Estimated seconds until the phase ends", labels=keys),
        }
        now = time.time_ns()
        for name, phase in dict(self.state.phases).items():
            values = [*labels.values(), name]
            families["sent"].add_metric(values, phase.requests_sent)
            families["completed"].add_metric(values, phase.requests_completed)
            families["cancelled"].add_metric(values, phase.requests_cancelled)
            families["errors"].add_metric(values, phase.request_errors)
            for key, value in (("percent", phase.percent(now)), ("rate", phase.requests_per_second(now)),
                               ("expected", phase.total_expected_requests), ("eta", phase.eta_sec(now))):
                if value is not None:
                    families[key].add_metric(values, value)
        yield from families.values()


def unit_suffix(unit: str) -> str:
    """'ms' -> 'ms', 'tokens/sec' -> 'tps', 'requests/sec' -> 'requests_per_sec', '%' -> 'percent'."""
    unit = _UNIT_WORDS.get(unit, unit).replace("/", "_per_")
    return re.sub(r"[^a-zA-Z0-9_]+", "_", unit).strip("_").lower()


def metric_name(tag: str, unit: str, stat: str = "") -> str:
    """``inferload_<tag>[_<stat>][_<unit>]`` with anything Prometheus does not allow replaced by '_'."""
    parts = [PREFIX, re.sub(r"[^a-zA-Z0-9_]+", "_", tag).strip("_"), stat, unit]
    return "_".join(part for part in parts if part)


def _quantile(percentile: str) -> str:
    return f"{int(percentile[1:]) / 100:g}"


def _gauge(gauge: Any, name: str, help_text: str, keys: list[str], values: list[str], value: float) -> Any:
    family = gauge(name, help_text, labels=keys)
    family.add_metric(values, value)
    return family
