"""What a worker reports for each request it sent: the raw facts every metric is computed from.

Times are ``time.perf_counter_ns()`` of the worker process (monotonic, comparable within one run on one
machine because every worker and the parent share the system's monotonic clock); ``start_wall_ns`` anchors
a request to wall-clock time for export. Records are plain slotted dataclasses; a batch of them travels
to the parent, and is stored there, as :func:`pack_records` bytes.
"""

from __future__ import annotations

import pickle
from dataclasses import asdict, dataclass, field, fields
from operator import attrgetter
from typing import Any

import msgspec

WARMUP = "warmup"
PROFILING = "profiling"
PHASES = (WARMUP, PROFILING)


@dataclass(slots=True)
class RequestError:
    """Why a request failed. ``type`` is one of the ERROR_* names below (plugins may add their own)."""

    type: str
    message: str
    code: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "type": self.type, "message": self.message}

    def __reduce__(self) -> tuple[Any, ...]:
        return RequestError, _error_fields(self)


ERROR_HTTP = "http_error"  # the server answered with a non-2xx status
ERROR_TIMEOUT = "timeout"  # --request-timeout-seconds elapsed
ERROR_CONNECTION = "connection_error"  # refused, reset or closed before the response was complete
ERROR_MALFORMED = "malformed_response"  # the body or an SSE event could not be parsed
ERROR_CANCELLED = "cancelled"  # the run was interrupted while the request was in flight
ERROR_REQUEST_CANCELLED = "request_cancelled"  # abandoned on purpose (--request-cancellation-rate)
ERROR_SERVER = "server_error"  # a 2xx response carried an error object or an SSE ``event: error`` frame
ERROR_INCOMPLETE = "stream_incomplete"  # the stream ended cleanly before any finish_reason or [DONE]
ERROR_EMPTY = "empty_response"  # a generating endpoint answered 2xx with no output at all
ERROR_CLIENT = "client_error"  # an exception inside inferload while handling the response (a bug)
ERROR_METRIC = "metric_error"  # a metric plugin raised on this request's record

DEFAULT_REQUEST_TIMEOUT_S = 600.0
"""``--request-timeout-seconds`` when not given: how long one request may take, first byte out to last in."""


def timeout_message(seconds: float, output_limited: bool = True) -> str:
    """The error message of a request ended by ``--request-timeout-seconds``: the limit that ended it and
    how to change it; ``output_limited=False`` (no ``--osl``) adds the likely cause of a server that never
    finishes. The same for every timeout of a run, so ``error_summary`` groups them in one row."""
    message = (
        f"no complete response within {seconds:g} s: ended by --request-timeout-seconds "
        f"(default {DEFAULT_REQUEST_TIMEOUT_S:g} s); raise it, or INFERLOAD_REQUEST_TIMEOUT_SECONDS, to wait "
        "longer"
    )
    if not output_limited:
        message += "; no --osl was set, so the server may generate until its context is full: set --osl"
    return message


@dataclass(slots=True)
class RequestRecord:
    """One request, sent once, reported once — whatever happened to it."""

    request_id: int
    """Position in the run's schedule; unique within a run."""
    phase: str
    worker_id: str
    conversation_id: str
    x_request_id: str
    """The ``X-Request-Id`` header sent: a distinct UUID per request, or the user's own ``-H`` value."""
    scheduled_ns: int
    """When the schedule allowed this request to start (perf_counter_ns)."""
    start_ns: int
    """Just before the request's first byte was written."""
    end_ns: int
    """When the response's last byte was read, or when the failure was noticed."""
    start_wall_ns: int
    input_tokens: int
    """Prompt length under the run's tokenizer, as prepared by the dataset."""
    requested_output_tokens: int | None = None
    """The output length the request asked for (``--osl`` or the input file's ``max_tokens``); None when
    the server decides."""
    status: int | None = None
    ack_ns: int | None = None
    """When the response status line and headers had arrived."""
    chunk_ns: list[int] = field(default_factory=list)
    """Arrival time of each response chunk that carried output (answer or reasoning), in order."""
    first_answer_ns: int | None = None
    """Arrival of the first chunk with answer content, when reasoning content came before it."""
    usage_prompt_tokens: int | None = None
    usage_completion_tokens: int | None = None
    usage_total_tokens: int | None = None
    usage_reasoning_tokens: int | None = None
    client_output_tokens: int | None = None
    """Output tokens counted client-side from the answer text (fallback when the server sends no usage)."""
    client_reasoning_tokens: int | None = None
    usage_note: str | None = None
    """Why the server's ``usage.completion_tokens`` was not trusted (zero or fewer than the output chunks
    received); OSL then uses the client count. None when usage was trusted or absent."""
    bytes_sent: int = 0
    bytes_received: int = 0
    error: RequestError | None = None
    cancelled: bool = False
    client_lag_ns: int = 0
    """The client's own lateness: from the moment the request could go (its scheduled time, or the moment
    a ``--concurrency`` slot came free if it had to wait for one) to the moment the worker handed it to its
    transport. Excludes the slot wait and connection set-up, which the server and network control."""
    slot_wait_ns: int = 0
    """Rate mode with a ``--concurrency`` cap: how long the request waited past its scheduled time for a
    free slot (0 when one was free), i.e. the server's answers, not the client, held it back."""
    server_timing_ms: dict[str, float] | None = None
    """Durations the server reported for this request, in ms, by name (e.g. Ollama's ``eval_duration``);
    None when it reported none. Metric plugins of that dialect read them beside the client's figures."""
    usage_cached_tokens: int | None = None
    """Prompt tokens the server served from its prefix cache (``usage.prompt_tokens_details.cached_tokens``,
    as vLLM and OpenAI report it); None when the server did not say."""
    session_id: str | None = None
    """Multi-turn runs: the session this request belongs to (one id per session started, also sent as
    the affinity header); None for single-turn requests."""
    turn_index: int | None = None
    """Multi-turn runs: the turn's position in its session, 0 for the first."""
    documents: int | None = None
    """Documents the response scored (rerank endpoints: one result per document ranked); None elsewhere."""
    read_delay_ns: int | None = None
    """The longest any body read of this response waited in the socket before the worker read it: the
    user-space read time minus the read's timestamp, the kernel's receive time (docs/metrics.md, "When a
    chunk is timestamped"). None when the transport stamped in user space (the two are one time then)."""

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def output_tokens(self) -> int | None:
        """Output sequence length (OSL, docs/metrics.md): the server's ``usage.completion_tokens`` (which
        includes reasoning tokens) when reported and not contradicted by the stream (no ``usage_note``),
        else :attr:`client_output_total`. The one definition every metric plugin uses."""
        if self.usage_completion_tokens is not None and self.usage_note is None:
            return self.usage_completion_tokens
        if self.client_output_tokens is None:  # inlined: this runs per record for several metrics
            return None
        return self.client_output_tokens + (self.client_reasoning_tokens or 0)

    @property
    def client_output_total(self) -> int | None:
        """The client-side count of answer plus reasoning tokens, or None when the client did not count."""
        if self.client_output_tokens is None:
            return None
        return self.client_output_tokens + (self.client_reasoning_tokens or 0)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as the constructor and a tuple of every field, read by one C-level attrgetter: about
        # half the time (both ends) and 30% fewer bytes than the slots dataclass's Python-level
        # __getstate__/__setstate__. A worker pickles batches on its event loop, which timestamps chunks,
        # so this is hot-path time.
        return RequestRecord, _record_fields(self)


_error_fields = attrgetter(*(f.name for f in fields(RequestError)))
_record_fields = attrgetter(*(f.name for f in fields(RequestRecord)))


_ERROR_INDEX = [f.name for f in fields(RequestRecord)].index("error")
_pack_rows = msgspec.msgpack.Encoder().encode
_unpack_rows = msgspec.msgpack.Decoder().decode
_PICKLE_PROTO = 0x80
"""The first byte of every pickle of protocol 2 or later (its ``PROTO`` opcode). A MessagePack batch, an
array, starts with 0x90-0x9F, 0xDC or 0xDD, so the first byte tells the two formats apart."""


def pack_records(records: list[Any]) -> bytes:
    """A batch of records as the bytes a worker sends and the parent stores unchanged; :func:`unpack_records`
    gives the list back, every field of its declared type exactly as it was (value and type).

    Plain records (the class itself, a list of chunk times, a plain :class:`RequestError` or none) go as
    MessagePack field rows (msgspec, in C): 0.73 µs a record against pickle's 1.23 with the field-tuple
    :class:`RecordRows` (bench/bench_worker_path.py's ``batch encode``), on the worker's event loop,
    which stamps chunks. What MessagePack cannot carry exactly — an integer beyond 64 bits, a string with a
    lone surrogate, a tuple of chunk times — sends the batch as a pickle instead (field rows when the
    records are plain, else the list as it is: a subclass unpickles as a ``RequestRecord``, as it always
    did). A value of a type no field declares (a set, an enum member, a tuple inside ``server_timing_ms``)
    comes back as MessagePack has it (a list, its str or int)."""
    plain = all(
        type(record) is RequestRecord
        and type(record.chunk_ns) is list
        and (record.error is None or type(record.error) is RequestError)
        for record in records
    )
    if not plain:
        return pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL)
    try:
        return _pack_rows(list(map(_record_fields, records)))
    except (OverflowError, UnicodeEncodeError, TypeError):
        return pickle.dumps(RecordRows(records), protocol=pickle.HIGHEST_PROTOCOL)


def unpack_records(data: bytes) -> list[Any]:
    """The list of records :func:`pack_records` made ``data`` of (either of its formats, or any pickled
    list of records: what the parent stores of a batch it got as records)."""
    if data[0] == _PICKLE_PROTO:
        return pickle.loads(data)
    at = _ERROR_INDEX
    return [RequestRecord(*row) if row[at] is None else _record_with_error(row) for row in _unpack_rows(data)]


def _record_with_error(row: list[Any]) -> RequestRecord:
    """A failed request's record from its MessagePack row, its error a map of the error's fields."""
    row[_ERROR_INDEX] = RequestError(**row[_ERROR_INDEX])
    return RequestRecord(*row)


def records_from_rows(rows: list[tuple[Any, ...]]) -> list[RequestRecord]:
    """Records from their field tuples (in field order): what a pickled :class:`RecordRows` unpickles to."""
    return [RequestRecord(*row) for row in rows]


class RecordRows:
    """A batch of records that pickles as one list of field tuples and unpickles to the list of records.

    ``pickle.loads`` of it gives ``list[RequestRecord]``, as a pickled list of records does, so readers
    of stored batches need not know; the pickling side makes one C-level pass over the records instead
    of a Python ``__reduce__`` call and a ``REDUCE`` per record: 1.60 -> 1.20 µs per record in the worker
    (bench/bench_client.py notes), the parent's unpickling unchanged (0.93 -> 0.92 µs)."""

    __slots__ = ("records",)

    def __init__(self, records: list[RequestRecord]) -> None:
        self.records = records

    def __reduce__(self) -> tuple[Any, ...]:
        return records_from_rows, (list(map(_record_fields, self.records)),)
