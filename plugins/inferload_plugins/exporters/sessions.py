"""profile_export_sessions.json: a multi-turn run's metrics per turn index and per session.

Written only when the run had sessions (records with a ``session_id``); profiling requests only.

* ``turns``: one entry per turn index (0 = first turn) with its request and error counts and the stats of
  every per-request metric over that turn's successful requests (``time_to_first_token``,
  ``input_sequence_length``, ``usage_cached_tokens`` …): how latency and cache hits change as a
  conversation grows.
* ``sessions``: ``session_count``, stats of ``session_duration`` (ms, the first turn's start to the last
  turn's end, failed turns included) and ``turns_completed`` (successful turns per session); and
  ``per_session``, one row per session started, in start order (left out at ``--export-level summary``).

Definitions in docs/metrics.md, "Sessions".

From the run's record store: a run without sessions is known from its columns (no record is read); the
per-turn statistics come from the columns' stored values with numpy (a mask per turn index), and only
the rows of session requests are read back for the per-session rows.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from inferload import hookimpl
from inferload.export import export_level, json_safe
from inferload.record_columns import IN_SESSION, OK, RecordColumns
from inferload.record_columns import PROFILING as PROFILING_FLAG
from inferload.record_store import batches_with_values
from inferload.records import PROFILING, RequestRecord
from inferload.stats import compute_stats, ns_to
from inferload.types import ExporterSpec

FILENAME = "profile_export_sessions.json"
TURN_SPILL_VALUES = 1 << 13
"""Values each (turn index, metric) column holds in memory before a sorted run goes to disk (64 KiB): there
is one such column per turn index and metric, so with the default tail (512 KiB) a 20-turn dataset's 15
metrics would hold up to 150 MB at the end of the run; this keeps it under 20 MB (exact all the same)."""


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
    columns = getattr(records, "columns", None)
    if isinstance(columns, RecordColumns) and columns.tags == accumulator.record_tags:
        if not columns.session_rows:
            return None
        turns, per_turn = _turns_from_columns(columns, accumulator)
        sessions: dict[str, _Session] = {}
        for batch in records.batches():  # type: ignore[attr-defined]
            for record in batch:
                if record.session_id is not None and record.phase == PROFILING:
                    _add_session(sessions, record)
        return _report(turns, per_turn, sessions)
    return _report_from_records(records, accumulator)


def _add_session(sessions: dict[str, _Session], record: RequestRecord) -> None:
    session = sessions.get(record.session_id)  # type: ignore[arg-type]
    if session is None:
        sessions[record.session_id] = _Session(record)  # type: ignore[index]
    else:
        session.add(record)


def _turns_from_columns(
    columns: RecordColumns, accumulator: Any
) -> tuple[dict[int, list[int]], dict[int, dict[str, dict[str, Any]]]]:
    """Per turn index: [sent, ok] and ``{tag: {"unit", stats...}}`` of its successful requests, from the
    columns (each (turn, metric)'s values gathered in a disk-backed column; its stats exact)."""
    import numpy as np

    from inferload.value_column import ValueColumn

    turns: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    gathered: dict[int, dict[str, ValueColumn]] = defaultdict(dict)
    units = {tag: accumulator.specs[tag].unit for tag in columns.tags}
    for chunk in columns.chunks():
        mask = chunk.has(PROFILING_FLAG) & chunk.has(IN_SESSION)
        if not mask.any():
            continue
        index = np.maximum(chunk.turn_index, 0)
        ok = mask & chunk.has(OK)
        for turn in np.unique(index[mask]).tolist():
            in_turn = index == turn
            turns[turn][0] += int(np.count_nonzero(mask & in_turn))
            chosen = ok & in_turn
            turns[turn][1] += int(np.count_nonzero(chosen))
            for position, tag in enumerate(columns.tags):
                if not (chosen & chunk.present(position)).any():
                    continue
                column = gathered[turn].get(tag)
                if column is None:
                    column = ValueColumn(columns.spool_dir, spill_values=TURN_SPILL_VALUES)
                    gathered[turn][tag] = column
                column.extend_array(chunk.values(position, chosen))
    per_turn = {}
    for turn, by_tag in gathered.items():
        per_turn[turn] = {tag: {"unit": units[tag], **by_tag[tag].stats()} for tag in sorted(by_tag)}
        for column in by_tag.values():
            column.close()
    return turns, per_turn


def _report_from_records(records: Iterable[RequestRecord], accumulator: Any) -> dict[str, Any] | None:
    """:func:`session_report` from records read back one by one (a plain iterable of records)."""
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
            _add_session(sessions, record)
            for tag, block in accumulator.metrics_of(record, known).items():
                value = block["value"]
                values[index][tag].extend(value if isinstance(value, list) else [value])
                units[tag] = block["unit"]
    stats = {index: {tag: {"unit": units[tag], **compute_stats(vals)} for tag, vals in sorted(by_tag.items())}
             for index, by_tag in values.items()}
    return _report(turns, stats, sessions)


def _report(
    turns: dict[int, list[int]], stats: dict[int, dict[str, Any]], sessions: dict[str, _Session]
) -> dict[str, Any] | None:
    """The file's content from the per-turn counts and metric blocks and the sessions' rows."""
    if not sessions:
        return None
    per_turn = [{
        "turn_index": index,
        "request_count": turns[index][1],
        "error_count": turns[index][0] - turns[index][1],
        "metrics": stats.get(index, {}),
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
    if export_level(context.config) == "summary":
        del report["per_session"]  # a row per session: written at --export-level records
    return [context.write_text(FILENAME, json.dumps(json_safe(report), indent=2, allow_nan=False) + "\n")]


@hookimpl
def register_exporters() -> list[ExporterSpec]:
    return [ExporterSpec(name="sessions", filenames=(FILENAME,), export=export_sessions,
                         description="Multi-turn runs: metrics per turn index and per session")]
