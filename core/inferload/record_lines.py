"""The ``profile_export.jsonl`` line of one request (layout: docs/profile.md, "Artifacts").

Public API for exporters: the engine encodes every record's line once, when its batch arrives
(:func:`encode_lines`, with the metric values the metrics engine has just computed) and keeps the lines
beside the records (:class:`~inferload.record_store.RecordStore`), so the JSONL exporter copies bytes
instead of recomputing every metric per record; an exporter given plain records builds the same line with
:func:`record_line`.

A line has ``metadata`` (ids, worker, phase, wall-clock start/ack/end in ns, the output length asked for,
cancellation, the start on the monotonic clock ``request_start_perf_ns`` for lining up with other
processes' ``perf_counter_ns``, and ``usage_note`` when the server's usage was not trusted), ``metrics``
(``{tag: {"value", "unit"}}`` for a successful request) and ``error`` (``{code, type, message}`` with the
run's secrets scrubbed from the message, or null).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from inferload.json_codec import dump_lines
from inferload.records import RequestRecord


def _wall(record: RequestRecord, perf_ns: int | None) -> int | None:
    """A worker perf_counter stamp as wall-clock ns, anchored on the request's own start."""
    if perf_ns is None:
        return None
    return record.start_wall_ns + (perf_ns - record.start_ns)


def record_line(
    record: RequestRecord, metrics: dict[str, Any], scrub: Callable[[str], str]
) -> dict[str, Any]:
    """The JSONL object of one request; ``metrics`` is its ``{tag: {"value", "unit"}}``, ``scrub`` removes
    secrets from the error message."""
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


def encode_lines(
    records: Iterable[RequestRecord], metrics: Iterable[dict[str, Any]], scrub: Callable[[str], str]
) -> bytes:
    """The UTF-8 JSONL lines of ``records`` (each ending in ``\\n``); ``metrics`` gives each record's
    ``{tag: {"value", "unit"}}``, in the same order."""
    return dump_lines([record_line(record, values, scrub)
                       for record, values in zip(records, metrics, strict=True)])
