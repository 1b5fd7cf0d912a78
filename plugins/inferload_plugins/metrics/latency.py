"""Latency metrics per request: request latency, time to first / second / first output token, inter-token
latency and inter-chunk latency.

All durations are differences of the worker's ``perf_counter_ns`` stamps, reported in ms. ``chunk_ns``
holds the arrival of every chunk that carried output (reasoning or answer), so the streaming metrics
exist only for streaming runs (``requires=("streaming",)``), as in AIPerf.
"""

from __future__ import annotations

from itertools import pairwise

from inferload import hookimpl
from inferload.records import RequestRecord
from inferload.stats import NS_PER_UNIT, ns_to
from inferload.types import MetricSpec

MS = "ms"
_NS_PER_MS = NS_PER_UNIT[MS]


def request_latency(record: RequestRecord) -> float:
    """Request start to the last byte of the response."""
    return ns_to(record.end_ns - record.start_ns, MS)


def time_to_first_token(record: RequestRecord) -> float | None:
    """Request start to the first chunk with output (reasoning counts)."""
    if not record.chunk_ns:
        return None
    return ns_to(record.chunk_ns[0] - record.start_ns, MS)


def time_to_second_token(record: RequestRecord) -> float | None:
    """First output chunk to the second one (AIPerf's definition: the gap, not from the request start)."""
    if len(record.chunk_ns) < 2:
        return None
    return ns_to(record.chunk_ns[1] - record.chunk_ns[0], MS)


def time_to_first_output_token(record: RequestRecord) -> float | None:
    """Request start to the first *answer* chunk: after any reasoning. Equal to TTFT when the model did
    not reason; absent when it reasoned but never answered."""
    if record.first_answer_ns is not None:
        return ns_to(record.first_answer_ns - record.start_ns, MS)
    if record.usage_reasoning_tokens or record.client_reasoning_tokens:
        return None
    return time_to_first_token(record)


def inter_token_latency(record: RequestRecord) -> float | None:
    """(request latency - TTFT) / (OSL - 1): the mean gap between output tokens after the first."""
    osl = record.output_tokens
    if not record.chunk_ns or osl is None or osl < 2:
        return None
    return ns_to((record.end_ns - record.chunk_ns[0]) / (osl - 1), MS)


def inter_chunk_latency(record: RequestRecord) -> list[float] | None:
    """Every gap between consecutive output chunks of the request; stats are over all gaps of all
    requests."""
    chunks = record.chunk_ns
    if len(chunks) < 2:
        return None
    # Divide inline: this runs once per chunk, where a function call per gap would dominate.
    return [(later - earlier) / _NS_PER_MS for earlier, later in pairwise(chunks)]


@hookimpl
def register_metrics() -> list[MetricSpec]:
    return [
        MetricSpec(
            name="time_to_first_token", header="Time to First Token", unit=MS, kind="record",
            description="Request start to the first output chunk", compute=time_to_first_token,
            requires=("streaming",), display_order=100,
        ),
        MetricSpec(
            name="time_to_second_token", header="Time to Second Token", unit=MS, kind="record",
            description="First output chunk to the second", compute=time_to_second_token,
            requires=("streaming",), display_order=110,
        ),
        MetricSpec(
            name="time_to_first_output_token", header="Time to First Output Token", unit=MS,
            kind="record", description="Request start to the first answer chunk, after any reasoning",
            compute=time_to_first_output_token, requires=("streaming",), display_order=120,
        ),
        MetricSpec(
            name="request_latency", header="Request Latency", unit=MS, kind="record",
            description="Request start to the end of the response", compute=request_latency,
            display_order=200,
        ),
        MetricSpec(
            name="inter_token_latency", header="Inter Token Latency", unit=MS, kind="record",
            description="(request latency - TTFT) / (output tokens - 1)", compute=inter_token_latency,
            requires=("streaming", "tokens"), display_order=300,
        ),
        MetricSpec(
            name="inter_chunk_latency", header="Inter Chunk Latency", unit=MS, kind="record",
            description="Gaps between consecutive output chunks, all requests pooled",
            compute=inter_chunk_latency, requires=("streaming",), display_order=310,
        ),
    ]
