"""Whether a run's or a sweep's figures cover all of its load, and why not, as the results commands say it.

A run is *incomplete* when its ``profile_export.json`` says ``is_complete: false``: it was interrupted
(Ctrl+C, a signal, ``POST /api/control/stop``: ``was_cancelled: true``), every profiling request failed,
or a worker was lost. A sweep row is incomplete when one of its trials is (``sweep_summary.json``'s row
``is_complete``); a sweep is incomplete when a row is, or when fewer variations ran than it planned
(``variation_count``). ``inferload plot``, the report and ``inferload compare`` mark such data with the
reason these functions give (docs/report.md, docs/compare.md, docs/sweeps.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

INCOMPLETE_MARK = "(incomplete)"
"""Appended to a run's or variation's name wherever a chart, table or line shows it."""


def run_is_complete(summary: Mapping[str, Any]) -> bool:
    """False when a run's summary (profile_export.json) says ``is_complete: false``; an export without
    the field (AIPerf's, older runs) counts as complete."""
    return summary.get("is_complete") is not False


def _count(summary: Mapping[str, Any], tag: str) -> float:
    block = summary.get(tag)
    value = block.get("avg") if isinstance(block, Mapping) else None
    return float(value) if isinstance(value, (int, float)) else 0.0


def incomplete_reason(summary: Mapping[str, Any]) -> str | None:
    """Why a run is incomplete, in a few words for a line or caption; None when it is complete.

    ``interrupted before its load finished`` (``was_cancelled``), ``every one of its N profiling requests
    failed``, else the run's first client-health warning (a lost worker says so there)."""
    if run_is_complete(summary):
        return None
    if summary.get("was_cancelled"):
        return "interrupted before its load finished (was_cancelled: true)"
    errors = _count(summary, "error_request_count")
    if errors and not _count(summary, "request_count"):
        return f"every one of its {errors:.0f} profiling requests failed"
    warnings = (summary.get("client_health") or {}).get("warnings") or []
    return f"the run failed: {warnings[0]}" if warnings else "the run failed (is_complete: false)"


def row_reason(row: Mapping[str, Any]) -> str | None:
    """Why a sweep_summary.json row is incomplete (its ``incomplete_reason``, or a generic line for a
    summary written before that field); None when the row is complete."""
    if row.get("is_complete", True):
        return None
    return row.get("incomplete_reason") or "a trial was interrupted or failed"



def missing_variations(summary: Mapping[str, Any]) -> str | None:
    """``"2 of 4 variations ran (the sweep was interrupted)"`` when a sweep ran fewer variations than it
    planned; None when it ran them all or does not say how many it planned (a search, an older summary)."""
    planned = summary.get("variation_count")
    ran = len(summary.get("variations") or [])
    if not isinstance(planned, int) or ran >= planned:
        return None
    return f"{ran} of {planned} variations ran (the sweep was interrupted)"
