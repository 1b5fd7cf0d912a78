"""The ``profile_export.jsonl`` line of one request (layout: docs/profile.md, "Artifacts").

Public API for exporters: the engine encodes every record's line once, when its batch arrives
(:func:`encode_measured_lines`, from the metric values the metrics engine has just computed) and keeps
the lines beside the records (:class:`~inferload.record_store.RecordStore`), so the JSONL exporter copies
bytes instead of recomputing every metric per record; an exporter given plain records builds the same line
with :func:`record_line`.

A line has ``metadata`` (ids, worker, phase, wall-clock start/ack/end in ns, the output length asked for,
cancellation, the start on the monotonic clock ``request_start_perf_ns`` for lining up with other
processes' ``perf_counter_ns``, and ``usage_note`` when the server's usage was not trusted), ``metrics``
(``{tag: {"value", "unit"}}`` for a successful request) and ``error`` (``{code, type, message}`` with the
run's secrets scrubbed from the message, or null).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import msgspec

from inferload.json_codec import dump_lines
from inferload.records import RequestRecord

_encoder = msgspec.json.Encoder()


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


class _Block(msgspec.Struct, gc=False):
    """``{"value", "unit"}`` of one metric of one request, untracked by the garbage collector."""

    value: Any
    unit: str


class _Metadata(msgspec.Struct, gc=False):
    """:func:`record_line`'s ``metadata``, the same keys in the same order."""

    request_id: Any
    x_request_id: Any
    conversation_id: Any
    worker_id: Any
    benchmark_phase: Any
    request_scheduled_ns: Any
    request_start_ns: Any
    request_ack_ns: Any
    request_end_ns: Any
    requested_output_tokens: Any
    http_status: Any
    was_cancelled: Any
    request_start_perf_ns: Any
    usage_note: Any
    session_id: Any
    turn_index: Any
    read_delay_ns: Any


class _Line(msgspec.Struct, gc=False):
    metadata: _Metadata
    metrics: dict[str, Any]
    error: Any


def encode_measured_lines(
    records: Sequence[RequestRecord],
    values: Sequence[tuple[Any, ...] | None],
    tag_units: Sequence[tuple[str, str]],
    metrics_of: Callable[[RequestRecord, Any], dict[str, Any]],
    scrub: Callable[[str], str],
) -> bytes:
    """:func:`encode_lines` of records whose metric values are known (a tuple aligned with ``tag_units``,
    ``(tag, unit)`` pairs, or None: then ``metrics_of(record, None)`` gives the record's metrics): the
    same bytes, built from untracked structs instead of dicts (about a third cheaper per line, with less
    work for the garbage collector). Falls back to :func:`encode_lines` for a batch msgspec cannot encode
    (a lone surrogate in an error message)."""
    lines = []
    for record, measured in zip(records, values, strict=True):
        if measured is None:
            metrics = metrics_of(record, None)
        else:
            metrics = {tag: _Block(value, unit)
                       for (tag, unit), value in zip(tag_units, measured, strict=True) if value is not None}
        error = record.error
        start, wall = record.start_ns, record.start_wall_ns
        lines.append(_Line(_Metadata(
            record.request_id, record.x_request_id, record.conversation_id, record.worker_id, record.phase,
            None if record.scheduled_ns is None else wall + record.scheduled_ns - start, wall,
            None if record.ack_ns is None else wall + record.ack_ns - start,
            None if record.end_ns is None else wall + record.end_ns - start,
            record.requested_output_tokens, record.status, record.cancelled, start, record.usage_note,
            record.session_id, record.turn_index, record.read_delay_ns,
        ), metrics, None if error is None else {**error.as_dict(), "message": scrub(error.message)}))
    try:
        return _encoder.encode_lines(lines)
    except (TypeError, ValueError, UnicodeError):
        return encode_lines(records, (metrics_of(r, v) for r, v in zip(records, values, strict=True)), scrub)
