"""Sequence-length metrics: input and output tokens per request, server usage counts, the difference
between the server's and the client's output count, and run totals.

Output sequence length (OSL) has one definition, the core's ``RequestRecord.output_tokens``, which the
latency and throughput metrics use too, so that every token-based number agrees.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from inferload import hookimpl
from inferload.records import RequestRecord
from inferload.types import MetricSpec

if TYPE_CHECKING:
    from inferload.metrics_engine import RunSummary

TOKENS = "tokens"


def _osl(record: RequestRecord) -> int | None:
    return record.output_tokens


def _isl(record: RequestRecord) -> int:
    return record.input_tokens


def _reasoning_tokens(record: RequestRecord) -> int | None:
    count = record.usage_reasoning_tokens
    if count is None:
        count = record.client_reasoning_tokens
    return count or None  # zero reasoning tokens means a non-reasoning answer: not applicable


def _usage_diff(record: RequestRecord) -> int | None:
    client = record.client_output_total
    if record.usage_completion_tokens is None or client is None:
        return None
    return record.usage_completion_tokens - client


def _usage_diff_pct(record: RequestRecord) -> float | None:
    client = record.client_output_total
    if record.usage_completion_tokens is None or not client:
        return None
    return (record.usage_completion_tokens - client) * 100.0 / client


def _sum_of(tag: str) -> Any:
    def total(summary: RunSummary) -> float | None:
        return summary.total(tag)

    return total


@hookimpl
def register_metrics() -> list[MetricSpec]:
    return [
        MetricSpec(
            name="output_sequence_length", header="Output Sequence Length", unit=TOKENS, kind="record",
            description="Output tokens per request: server usage, else the client-side count",
            compute=_osl, requires=("tokens",), display_order=500,
        ),
        MetricSpec(
            name="input_sequence_length", header="Input Sequence Length", unit=TOKENS, kind="record",
            description="Prompt tokens per request under the run's tokenizer",
            compute=_isl, display_order=510,
        ),
        MetricSpec(
            name="reasoning_token_count", header="Reasoning Token Count", unit=TOKENS, kind="record",
            description="Reasoning tokens per request that reasoned (usage, else client count)",
            compute=_reasoning_tokens, requires=("tokens", "reasoning"), display_order=520,
        ),
        MetricSpec(
            name="usage_prompt_tokens", header="Usage Prompt Tokens", unit=TOKENS, kind="record",
            description="usage.prompt_tokens as reported by the server",
            compute=lambda r: r.usage_prompt_tokens, display_order=600,
        ),
        MetricSpec(
            name="usage_completion_tokens", header="Usage Completion Tokens", unit=TOKENS, kind="record",
            description="usage.completion_tokens as reported by the server",
            compute=lambda r: r.usage_completion_tokens, requires=("tokens",), display_order=610,
        ),
        MetricSpec(
            name="usage_total_tokens", header="Usage Total Tokens", unit=TOKENS, kind="record",
            description="usage.total_tokens as reported by the server",
            compute=lambda r: r.usage_total_tokens, display_order=620,
        ),
        MetricSpec(
            name="usage_reasoning_tokens", header="Usage Reasoning Tokens", unit=TOKENS, kind="record",
            description="usage reasoning tokens as reported by the server, for requests that reasoned",
            compute=lambda r: r.usage_reasoning_tokens or None, requires=("tokens", "reasoning"),
            display_order=630,
        ),
        MetricSpec(
            name="usage_completion_tokens_diff", header="Usage Completion Diff", unit=TOKENS,
            kind="record", description="Server usage minus client count of output tokens, per request",
            compute=_usage_diff, requires=("tokens",), display_order=640,
        ),
        MetricSpec(
            name="usage_completion_tokens_diff_pct", header="Usage Completion Diff %", unit="%",
            kind="record", description="(server usage - client count) / client count of output tokens",
            compute=_usage_diff_pct, requires=("tokens",), display_order=650,
        ),
        MetricSpec(
            name="total_isl", header="Total Input Sequence Length", unit=TOKENS, kind="aggregate",
            description="Sum of input sequence lengths of successful requests",
            compute=_sum_of("input_sequence_length"), display_order=1500,
        ),
        MetricSpec(
            name="total_osl", header="Total Output Sequence Length", unit=TOKENS, kind="aggregate",
            description="Sum of output sequence lengths of successful requests",
            compute=_sum_of("output_sequence_length"), requires=("tokens",), display_order=1510,
        ),
    ]
