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
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from inferload import hookimpl
from inferload.export import json_safe
from inferload.record_store import batches_with_values
from inferload.records import PROFILING, RequestRecord
from inferload.stats import compute_stats, ns_to
from inferload.types import ExporterSpec

FILENAME = "profile_export_sessions.json"


class _Session:
    """What a session's row needs, kept instead of its records: turns sent and completed, the first
    turn's conversation, the first start and the last end."""

    __slots__ = ("completed", "conversation_id", "end_ns", "sent", "start_ns", "start_wall_ns", "turn")

    def __init__(self, record: RequestRecord) -> None:
        self.conversation_id, self.turn = record.conversation_id, record.turn_index or 0
        self.sent, self.completed = 1, int(record.ok)
        self.start_ns, self.start_wall_ns, self.end_ns = record.start_ns, record.start_wall_ns, record.end_ns

    def add(self, record: RequestRecord) -> None:
        if (record.turn_index or 0) < self.turn:
            self.conversation_id, self.turn = record.conversation_id, record.turn_index or 0
        self.sent += 1
        self.completed += record.ok
        self.start_ns = min(self.start_ns, record.start_ns)
        self.start_wall_ns = min(self.start_wall_ns, record.start_wall_ns)
        self.end_ns = max(self.end_ns, record.end_ns)


def session_report(records: Iterable[RequestRecord], accumulator: Any) -> dict[str, Any] | None:
    """The file's content from the run's records (None without sessions); ``accumulator`` (the run's
    ``MetricsAccumulator``) gives a request's ``{tag: {"value", "unit"}}``, from the values stored beside
    the records when ``records`` is the run's record store (no metric computed again)."""
    turns: dict[int, list[int]] = defaultdict(lambda: [0, 0])  # turn index -> [sent, ok]
    sessions: dict[str, _Session] = {}
    values: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    units: dict[str, str] = {}
    for batch, measured in batches_with_values(records, accumulator.record_tags):
        for record, known in zip(batch, measured, strict=True):
            if record.session_id is None or record.phase != PROFILING:
                continue
            index = record.turn_index or 0
            turns[index][0] += 1
            turns[index][1] += record.ok
            session = sessions.get(record.session_id)
            if session is None:
                sessions[record.session_id] = _Session(record)
            else:
                session.add(record)
            for tag, block in accumulator.metrics_of(record, known).items():
                value = block["value"]
                values[index][tag].extend(value if isinstance(value, list) else [value])
                units[tag] = block["unit"]
    if not sessions:
        return None
    per_turn = [{
        "turn_index": index,
        "request_count": turns[index][1],
        "error_count": turns[index][0] - turns[index][1],
        "metrics": {
            tag: {"unit": units[tag], **compute_stats(vals)} for tag, vals in sorted(values[index].items())
        },
    } for index in sorted(turns)]
    rows = [{
        "session_id": session_id,
        "conversation_id": session.conversation_id,
        "turns_sent": session.sent,
        "turns_completed": session.completed,
        "start_ns": session.start_wall_ns,
        "duration_ms": ns_to(session.end_ns - session.start_ns, "ms"),
    } for session_id, session in sessions.items()]
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
    report = session_report(context.records, context.accumulator)
    if report is None:
        return []
    return [context.write_text(FILENAME, json.dumps(json_safe(report), indent=2, allow_nan=False) + "\n")]


@hookimpl
def register_exporters() -> list[ExporterSpec]:
    return [ExporterSpec(name="sessions", filenames=(FILENAME,), export=export_sessions,
                         description="Multi-turn runs: metrics per turn index and per session")]
