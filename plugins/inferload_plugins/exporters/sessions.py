"""profile_export_sessions.json: a multi-turn run's metrics per turn index and per session.

Written only when the run had sessions (records with a ``session_id``); profiling requests only.

* ``turns``: one entry per turn index (0 = first turn) with its request and error counts and the stats of
  every per-request metric over that turn's successful requests (``time_to_first_token``,
  ``input_sequence_length``, ``usage_cached_tokens`` …): how latency and cache hits change as a
  conversation grows.
* ``sessions``: ``session_count``, stats of ``session_duration`` (ms, the first turn's start to the last
  turn's end, failed turns included) and ``turns_completed`` (successful turns per session); and
  ``per_session``, one row per session started, in start order.

Definitions in docs/metrics.md, "Sessions".
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from inferload import hookimpl
from inferload.export import json_safe
from inferload.records import PROFILING, RequestRecord
from inferload.stats import compute_stats, ns_to
from inferload.types import ExporterSpec

FILENAME = "profile_export_sessions.json"


def session_report(records: list[RequestRecord], record_metrics: Any) -> dict[str, Any] | None:
    """The file's content from the run's records (None without sessions); ``record_metrics(record)`` gives
    a request's ``{tag: {"value", "unit"}}``."""
    turns: dict[int, list[RequestRecord]] = defaultdict(list)
    sessions: dict[str, list[RequestRecord]] = {}
    for record in records:
        if record.session_id is None or record.phase != PROFILING:
            continue
        turns[record.turn_index or 0].append(record)
        sessions.setdefault(record.session_id, []).append(record)
    if not sessions:
        return None
    per_turn = []
    for index in sorted(turns):
        values: dict[str, list[float]] = defaultdict(list)
        units: dict[str, str] = {}
        group = turns[index]
        for record in group:
            for tag, block in record_metrics(record).items():
                value = block["value"]
                values[tag].extend(value if isinstance(value, list) else [value])
                units[tag] = block["unit"]
        ok = sum(1 for record in group if record.ok)
        per_turn.append({
            "turn_index": index,
            "request_count": ok,
            "error_count": len(group) - ok,
            "metrics": {
                tag: {"unit": units[tag], **compute_stats(vals)} for tag, vals in sorted(values.items())
            },
        })
    rows = []
    for session_id, group in sessions.items():
        group.sort(key=lambda r: r.turn_index or 0)
        start = min(r.start_ns for r in group)
        rows.append({
            "session_id": session_id,
            "conversation_id": group[0].conversation_id,
            "turns_sent": len(group),
            "turns_completed": sum(1 for r in group if r.ok),
            "start_ns": min(r.start_wall_ns for r in group),
            "duration_ms": ns_to(max(r.end_ns for r in group) - start, "ms"),
        })
    rows.sort(key=lambda row: row["start_ns"])
    return {
        "turns": per_turn,
        "sessions": {
            "session_count": len(rows),
            "session_duration": {"unit": "ms", **compute_stats([row["duration_ms"] for row in rows])},
            "turns_completed": {"unit": "turns", **compute_stats([row["turns_completed"] for row in rows])},
        },
        "per_session": rows,
    }


def export_sessions(context: Any) -> list[Path]:
    report = session_report(context.records, context.accumulator.record_metrics)
    if report is None:
        return []
    return [context.write_text(FILENAME, json.dumps(json_safe(report), indent=2, allow_nan=False) + "\n")]


@hookimpl
def register_exporters() -> list[ExporterSpec]:
    return [ExporterSpec(name="sessions", filenames=(FILENAME,), export=export_sessions,
                         description="Multi-turn runs: metrics per turn index and per session")]
