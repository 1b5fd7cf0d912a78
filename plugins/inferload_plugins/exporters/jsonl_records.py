"""profile_export.jsonl: one JSON line per request sent — warmup and failed requests included — with
``metadata`` (ids, worker, phase, wall-clock start/ack/end in ns, the output length asked for,
cancellation, the start on the monotonic clock ``request_start_perf_ns`` for lining up with other
processes' ``perf_counter_ns``, and ``usage_note`` when the server's usage was not trusted), ``metrics``
(``{tag: {"value", "unit"}}`` for a successful request) and ``error`` (``{code, type, message}`` or
null)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inferload import hookimpl
from inferload.json_codec import dumps
from inferload.records import RequestRecord
from inferload.types import ExporterSpec

FILENAME = "profile_export.jsonl"


def _wall(record: RequestRecord, perf_ns: int | None) -> int | None:
    """A worker perf_counter stamp as wall-clock ns, anchored on the request's own start."""
    if perf_ns is None:
        return None
    return record.start_wall_ns + (perf_ns - record.start_ns)


def record_line(record: RequestRecord, metrics: dict[str, Any], scrub: Any) -> dict[str, Any]:
    """The JSONL object of one request."""
    error = record.error
    return {
        "metadata": {
            "request_id": record.request_id,
            "x_request_id": record.x_request_id,
            "conversation_id": record.conversation_id,
            "worker_id": record.worker_id,
            "benchmark_phase": record.phase,
            "request_scheduled_ns": _wall(record, record.scheduled_ns),
            "request_start_ns": record.start_wall_ns,
            "request_ack_ns": _wall(record, record.ack_ns),
            "request_end_ns": _wall(record, record.end_ns),
            "requested_output_tokens": record.requested_output_tokens,
            "http_status": record.status,
            "was_cancelled": record.cancelled,
            "request_start_perf_ns": record.start_ns,
            "usage_note": record.usage_note,
            "session_id": record.session_id,
            "turn_index": record.turn_index,
            "read_delay_ns": record.read_delay_ns,
        },
        "metrics": metrics,
        "error": None if error is None else {**error.as_dict(), "message": scrub(error.message)},
    }


def export_jsonl(context: Any) -> list[Path]:
    per_record = context.accumulator.record_metrics
    with context.open(FILENAME) as handle:
        for record in context.records:
            handle.write(dumps(record_line(record, per_record(record), context.scrub)))
            handle.write("\n")
    return [context.artifact_dir / FILENAME]


@hookimpl
def register_exporters() -> list[ExporterSpec]:
    return [ExporterSpec(name="jsonl", description="One JSON line per request: metadata, metrics, error",
                         filenames=(FILENAME,), export=export_jsonl)]
