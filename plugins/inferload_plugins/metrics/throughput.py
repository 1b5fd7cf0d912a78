"""Throughput metrics: per-user output token rate (per request) and run-wide request and token rates.

Run-wide rates divide totals over successful profiling requests by the benchmark duration (first request
start to last response end, or the engine's figure at the end of the run).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from inferload import hookimpl
from inferload.records import RequestRecord
from inferload.stats import per_second
from inferload.types import MetricSpec

if TYPE_CHECKING:
    from inferload.metrics_engine import RunSummary


def output_token_throughput_per_user(record: RequestRecord) -> float | None:
    """Tokens per second one user sees while the answer streams: (OSL - 1) / (last chunk - first chunk),
    i.e. 1 / inter-token latency."""
    osl = record.output_tokens
    if not record.chunk_ns or osl is None or osl < 2:
        return None
    return per_second(osl - 1, record.chunk_ns[-1] - record.chunk_ns[0])


def _rate(summary: RunSummary, amount: float | None) -> float | None:
    if amount is None or summary.benchmark_duration_ns is None:
        return None
    return per_second(amount, summary.benchmark_duration_ns)


def request_throughput(summary: RunSummary) -> float | None:
    """Successful requests per second."""
    return _rate(summary, summary.request_count)


def output_token_throughput(summary: RunSummary) -> float | None:
    """Output tokens of successful requests per second."""
    return _rate(summary, summary.total("output_sequence_length"))


def input_token_throughput(summary: RunSummary) -> float | None:
    """Prompt tokens of successful requests per second."""
    return _rate(summary, summary.total("input_sequence_length"))


def total_token_throughput(summary: RunSummary) -> float | None:
    """Input plus output tokens of successful requests per second."""
    isl = summary.total("input_sequence_length")
    osl = summary.total("output_sequence_length")
    if isl is None and osl is None:
        return None
    return _rate(summary, (isl or 0.0) + (osl or 0.0))


@hookimpl
def register_metrics() -> list[MetricSpec]:
    return [
        MetricSpec(
            name="output_token_throughput_per_user", header="Output Token Throughput Per User",
            unit="tokens/sec/user", kind="record", higher_is_better=True,
            description="(output tokens - 1) / (latency - TTFT) per request",
            compute=output_token_throughput_per_user, requires=("streaming", "tokens"), display_order=400,
        ),
        MetricSpec(
            name="output_token_throughput", header="Output Token Throughput", unit="tokens/sec",
            kind="aggregate", higher_is_better=True,
            description="Output tokens of successful requests / benchmark duration",
            compute=output_token_throughput, requires=("tokens",), display_order=1000,
        ),
        MetricSpec(
            name="input_token_throughput", header="Input Token Throughput", unit="tokens/sec",
            kind="aggregate", higher_is_better=True,
            description="Prompt tokens of successful requests / benchmark duration",
            compute=input_token_throughput, display_order=1010,
        ),
        MetricSpec(
            name="total_token_throughput", header="Total Token Throughput", unit="tokens/sec",
            kind="aggregate", higher_is_better=True,
            description="Input plus output tokens of successful requests / benchmark duration",
            compute=total_token_throughput, display_order=1020,
        ),
        MetricSpec(
            name="request_throughput", header="Request Throughput", unit="requests/sec",
            kind="aggregate", higher_is_better=True,
            description="Successful requests / benchmark duration",
            compute=request_throughput, display_order=1030,
        ),
    ]
