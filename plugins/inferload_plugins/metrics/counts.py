"""Run-level counts: successful requests, failed requests and the benchmark duration.

Warmup requests are never counted. A request cancelled because the run was interrupted is a failed request;
one the client cancelled on purpose (``--request-cancellation-rate``) is counted apart, in neither.
"""

from __future__ import annotations

from typing import Any

from inferload import hookimpl
from inferload.stats import ns_to
from inferload.types import MetricSpec


def _duration_sec(summary: Any) -> float | None:
    if summary.benchmark_duration_ns is None:
        return None
    return ns_to(summary.benchmark_duration_ns, "sec")


@hookimpl
def register_metrics() -> list[MetricSpec]:
    return [
        MetricSpec(
            name="request_count", header="Request Count", unit="requests", kind="aggregate",
            description="Profiling requests that completed without error",
            compute=lambda summary: summary.request_count, display_order=1100,
        ),
        MetricSpec(
            name="error_request_count", header="Error Request Count", unit="requests", kind="aggregate",
            description="Profiling requests that ended in an error, cancelled ones included",
            compute=lambda summary: summary.error_count, display_order=1110,
        ),
        MetricSpec(
            name="cancelled_request_count", header="Cancelled Request Count", unit="requests",
            kind="aggregate", description="Profiling requests the client cancelled on purpose "
            "(--request-cancellation-rate): neither successes nor errors",
            compute=lambda summary: summary.cancelled_count or None, display_order=1115,
        ),
        MetricSpec(
            name="benchmark_duration", header="Benchmark Duration", unit="sec", kind="aggregate",
            description="First profiling request start to last response end",
            compute=_duration_sec, display_order=1200,
        ),
    ]
