"""The words of the progress views: the progress counts of the current phase (:func:`progress_line`) and
the live numbers shown with them (:func:`live_figures`), read from ``RunState``.

The live numbers come from ``RunState.live_metrics``:

``TTFT p50 12.3 / p99 45.6 ms | ITL p50 5.01 / p99 9.87 ms | per user p50 199 / p99 210 tok/s | 456 tok/s
| 2 errors``: the percentiles (TTFT, ITL, output token throughput per user) come from the live sketch
(within 0.5 % of the exact value, docs/metrics.md), ``tok/s`` is the run's output token throughput over
the span observed so far (the request rate is already in the progress counts), and the error count is
the profiling phase's failed requests (cancelled ones are in the progress counts). A figure the run has
no value for yet is left out, never shown as 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from inferload.number_text import plain_number
from inferload.runstate import RunState

PERCENTILES = (("TTFT", "time_to_first_token", "ms"), ("ITL", "inter_token_latency", "ms"),
               ("per user", "output_token_throughput_per_user", "tok/s"))
"""(label, metric tag, unit shown) of each figure shown as p50 / p99."""
THROUGHPUT = ("tok/s", "output_token_throughput")


def _number(value: float) -> str:
    """Three significant figures at most, thousands grouped, never an exponent: 0.123, 12.3, 456, 12,345,
    0.0000123."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return plain_number(value, 3)


def percentile_text(label: str, block: Mapping[str, Any] | None, unit: str) -> str | None:
    """``TTFT p50 12.3 / p99 45.6 ms``, or None when the metric has no percentiles yet."""
    if not block or block.get("p50") is None or block.get("p99") is None:
        return None
    return f"{label} p50 {_number(block['p50'])} / p99 {_number(block['p99'])} {unit}"


def progress_line(state: RunState, with_phase: bool = True) -> str:
    """``[profiling] 14/20 requests, 70%, 16 sent, 2 errors, 3 cancelled, 5.1 req/s`` (``starting`` before
    the first phase); the phase name is left out with ``with_phase=False``, the total and percentage when
    the phase has none. ``cancelled`` (shown once there is one) counts the requests cut in flight when the
    run stopped (Ctrl+C, the grace period's end: ``error_request_count`` in the results counts them too)
    and those cancelled on purpose (``--request-cancellation-rate``: ``cancelled_request_count``);
    ``errors`` the other failed requests."""
    phase = state.current_phase
    if phase is None:
        return "starting"
    done = phase.requests_completed + phase.requests_cancelled
    total = f"/{phase.total_expected_requests}" if phase.total_expected_requests else ""
    pct = phase.percent()
    rate = phase.requests_per_second()
    parts = [f"[{phase.phase}] {done}{total} requests" if with_phase else f"{done}{total} requests"]
    if pct is not None:
        parts.append(f"{pct:.0f}%")
    parts.append(f"{phase.requests_sent} sent")
    if phase.request_errors:
        parts.append(f"{phase.request_errors} errors")
    if phase.requests_cancelled:
        parts.append(f"{phase.requests_cancelled} cancelled")
    if rate:
        parts.append(f"{rate:,.1f} req/s")
    return ", ".join(parts)


def live_figures(state: RunState) -> str:
    """The live numbers of ``state`` as one line ("" before the first profiling request completes)."""
    metrics = state.live_metrics  # swapped whole by the engine: one consistent snapshot
    parts = [text for label, tag, unit in PERCENTILES
             if (text := percentile_text(label, metrics.get(tag), unit))]
    label, tag = THROUGHPUT
    value = (metrics.get(tag) or {}).get("avg")
    if value is not None:
        parts.append(f"{_number(value)} {label}")
    profiling = state.phases.get("profiling")
    if parts or (profiling is not None and profiling.request_errors):
        errors = profiling.request_errors if profiling is not None else 0
        parts.append(f"{errors:,} error{'s' if errors != 1 else ''}")
    return " | ".join(parts)
