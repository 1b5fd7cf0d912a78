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
    """Request start to the last output chunk of a stream (AIPerf's ``responses[-1]``: a trailing usage
    event or ``[DONE]`` is not a response), or to the last byte of a response without output chunks."""
    end = record.chunk_ns[-1] if record.chunk_ns else record.end_ns
    return ns_to(end - record.start_ns, MS)


def request_latency_last_byte(record: RequestRecord) -> float:
    """Request start to the last byte of the response, trailing usage event and ``[DONE]`` included."""
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
    """Request start to the first *answer* chunk: after any streamed reasoning. Equal to TTFT when no
    reasoning was streamed (hidden reasoning included: its time is inside both); absent when no answer
    chunk came."""
    if record.first_answer_ns is None:
        return None
    return ns_to(record.first_answer_ns - record.start_ns, MS)


def inter_token_latency(record: RequestRecord) -> float | None:
    """(request latency - TTFT) / (OSL - 1) = (last chunk - first chunk) / (OSL - 1): the mean gap
    between output tokens after the first. OSL counts hidden reasoning tokens too (see
    :func:`inter_token_latency_visible`)."""
    osl = record.output_tokens
    if len(record.chunk_ns) < 2 or osl is None or osl < 2:
        return None
    return ns_to((record.chunk_ns[-1] - record.chunk_ns[0]) / (osl - 1), MS)


def hidden_reasoning_tokens(record: RequestRecord) -> int:
    """Reasoning tokens the server's usage reports but that were never streamed (0 when none)."""
    if record.client_reasoning_tokens or record.usage_note is not None:
        return 0
    return record.usage_reasoning_tokens or 0


def inter_token_latency_visible(record: RequestRecord) -> float | None:
    """ITL over the streamed tokens only, for requests with hidden reasoning:
    (last chunk - first chunk) / (OSL - hidden reasoning tokens - 1). Hidden reasoning is generated before
    the first chunk, so dividing the streaming window by an OSL that includes it understates ITL."""
    hidden = hidden_reasoning_tokens(record)
    osl = record.output_tokens
    if not hidden or len(record.chunk_ns) < 2 or osl is None or osl - hidden < 2:
        return None
    return ns_to((record.chunk_ns[-1] - record.chunk_ns[0]) / (osl - hidden - 1), MS)


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
            description="Request start to the last output chunk (or the end of a non-streamed response)",
            compute=request_latency,
            display_order=200,
        ),
        MetricSpec(
            name="request_latency_last_byte", header="Request Latency to Last Byte", unit=MS,
            kind="record", description="Request start to the last byte (trailing usage and [DONE] included)",
            compute=request_latency_last_byte, display_order=210,
        ),
        MetricSpec(
            name="inter_token_latency", header="Inter Token Latency", unit=MS, kind="record",
            description="(request latency - TTFT) / (output tokens - 1)", compute=inter_token_latency,
            requires=("streaming", "tokens"), display_order=300,
        ),
        MetricSpec(
            name="inter_token_latency_visible", header="Inter Token Latency (Visible)", unit=MS,
            kind="record", description="ITL over streamed tokens only, for requests with hidden reasoning",
            compute=inter_token_latency_visible, requires=("streaming", "tokens"), display_order=305,
        ),
        MetricSpec(
            name="inter_chunk_latency", header="Inter Chunk Latency", unit=MS, kind="record",
            description="Gaps between consecutive output chunks, all requests pooled",
            compute=inter_chunk_latency, requires=("streaming",), display_order=310,
        ),
    ]
