"""Goodput: successful requests per second that met every SLO given with ``--goodput``.

``--goodput "time_to_first_token:200 inter_token_latency:10"`` sets one threshold per per-request metric,
in that metric's reported unit (ms for latencies, tokens/sec/user for per-user throughput). A request
meets an SLO when its value is at most the threshold, or at least the threshold for a metric marked
``higher_is_better`` (``output_token_throughput_per_user``); for inter-chunk latency every gap of the
request must meet it. A request without a value for an SLO metric does not meet it. The metrics engine
judges each request as it arrives; this plugin turns the count into a rate.
"""

from __future__ import annotations

from typing import Any

from inferload import hookimpl
from inferload.stats import per_second
from inferload.types import MetricSpec


def goodput(summary: Any) -> float | None:
    """Good requests / benchmark duration; absent without SLOs."""
    if summary.good_count is None or summary.benchmark_duration_ns is None:
        return None
    return per_second(summary.good_count, summary.benchmark_duration_ns)


def good_request_count(summary: Any) -> int | None:
    """Successful requests meeting every SLO; absent without SLOs."""
    return summary.good_count


@hookimpl
def register_metrics() -> list[MetricSpec]:
    return [
        MetricSpec(
            name="goodput", header="Goodput", unit="requests/sec", kind="aggregate", higher_is_better=True,
            description="Requests meeting every --goodput SLO / benchmark duration",
            compute=goodput, display_order=1040,
        ),
        MetricSpec(
            name="good_request_count", header="Good Request Count", unit="requests", kind="aggregate",
            higher_is_better=True, description="Requests meeting every --goodput SLO",
            compute=good_request_count, display_order=1120,
        ),
    ]
