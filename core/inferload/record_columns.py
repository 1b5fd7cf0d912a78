"""The run's records as fixed-width columns on disk, one row per record in arrival order: what every
reader that selects a subset of the records (the steady-state window, load segments, turns of a session)
needs, so it computes exact statistics with numpy over a mask instead of reading every record back.

Written as each batch arrives (:meth:`RecordColumns.append`, beside the pickled records of
:class:`~inferload.record_store.RecordStore`), read back in chunks of :data:`CHUNK_ROWS` rows
(:meth:`RecordColumns.chunks`), so memory is one chunk whatever the run's length. Per record:

- ``start_ns``, ``end_ns``: the request's start and end on the worker's monotonic clock
  (``perf_counter_ns``, int64); ``start_wall_ns``, ``end_wall_ns``: the same on the wall clock (the end is
  the wall start plus the monotonic duration, as :func:`inferload.steady_window.record_span` gives it);
- ``flags`` (uint8): :data:`PROFILING`, :data:`OK` (no error: its metric values count),
  :data:`FAILED` (an error the run counts as one), :data:`CANCELLED` (abandoned on purpose,
  ``--request-cancellation-rate``: neither), :data:`IN_SESSION` (has a ``session_id``);
- ``turn_index`` (int32, -1 for none); ``requested_output_tokens`` and ``output_tokens`` (the OSL,
  :attr:`~inferload.records.RequestRecord.output_tokens`), int64, -1 for none; :data:`SERVER_USAGE` in
  ``flags`` when the server reported ``usage.completion_tokens``;
- per record metric (the run's ``MetricsAccumulator.record_tags``): ``count`` (int32: -1 when the metric
  has no value for the record, else how many values it gave, 1 for a number, the length for a list) and
  the values themselves, float64, flat, in record order.

Beside the columns, per error type: how many records had it and the first one's message
(:attr:`RecordColumns.error_counts`, :attr:`RecordColumns.first_errors`), for post-run lines such as the
timeouts' count.

Each column is an append-only anonymous temporary file (deleted by the OS when closed or when the process
ends) behind a small in-memory buffer of :data:`BUFFER_ROWS` entries.
"""

from __future__ import annotations

import os
import tempfile
from array import array
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inferload.records import ERROR_REQUEST_CANCELLED, RequestRecord
from inferload.records import PROFILING as PROFILING_PHASE
from inferload.spool_write import describe, write_all

if TYPE_CHECKING:
    import numpy as np

PROFILING, OK, FAILED, CANCELLED, IN_SESSION, SERVER_USAGE = 1, 2, 4, 8, 16, 32
"""The bits of the ``flags`` column."""
CHUNK_ROWS = 1 << 16
"""Rows per chunk :meth:`RecordColumns.chunks` yields (512 KiB per int64 column): big enough for numpy
to cost little per row, small enough that a chunk of every column stays a few MB."""
BUFFER_ROWS = 1 << 13
"""Entries a column holds in memory before they are written to its file."""
TIMES = ("start_ns", "end_ns", "start_wall_ns", "end_wall_ns")
"""The int64 time columns, ns."""
LENGTHS = ("requested_output_tokens", "output_tokens")
"""The int64 token-count columns (-1: none)."""


class _Column:
    """One append-only column: an ``array`` buffer in front of an anonymous temporary file."""

    def __init__(self, typecode: str, spool_dir: Path | str | None) -> None:
        self.typecode, self.spool_dir = typecode, spool_dir
        self.buffer = array(typecode)
        self.file: Any = None
        self.stored = 0  # entries in the file

    def extend(self, values: Any) -> None:
        self.buffer.extend(values)
        if len(self.buffer) >= BUFFER_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        if self.file is None:
            self.file = tempfile.TemporaryFile(prefix="inferload-columns-", dir=self.spool_dir)  # noqa: SIM115
        data = self.buffer.tobytes()
        write_all(self.file.fileno(), data, self.stored * self.buffer.itemsize,
                  describe("a record column's temporary file (inferload-columns-)", self.spool_dir))
        self.stored += len(self.buffer)
        self.buffer = array(self.typecode)

    def read(self, first: int, count: int) -> np.ndarray:
        """Entries ``[first, first + count)`` (flushed ones only) as a numpy array of the column's type."""
        import numpy as np

        size = array(self.typecode).itemsize
        if count <= 0 or self.file is None:
            return np.zeros(0, dtype=np.dtype(self.typecode))
        data = os.pread(self.file.fileno(), count * size, first * size)
        return np.frombuffer(data, dtype=np.dtype(self.typecode))

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        self.file, self.stored, self.buffer = None, 0, array(self.typecode)


class RecordChunk:
    """Rows ``[first, first + rows)`` of the columns: ``start_ns``, ``end_ns``, ``start_wall_ns``,
    ``end_wall_ns``, ``requested_output_tokens``, ``output_tokens`` (int64 arrays), ``flags`` (uint8),
    ``turn_index`` (int32), each read from its file when first used, and each metric's values on demand
    (:meth:`values`, :meth:`present`, :meth:`counts`)."""

    start_ns: np.ndarray
    end_ns: np.ndarray
    start_wall_ns: np.ndarray
    end_wall_ns: np.ndarray
    requested_output_tokens: np.ndarray
    output_tokens: np.ndarray
    flags: np.ndarray
    turn_index: np.ndarray

    def __init__(self, columns: RecordColumns, first: int, rows: int, offsets: _ValueOffsets) -> None:
        self._columns, self.first, self.rows = columns, first, rows
        self._offsets = offsets
        self._counts: dict[int, np.ndarray] = {}  # read when first asked for
        self._clipped: dict[int, np.ndarray] = {}
        self._flat: dict[int, np.ndarray] = {}

    def __getattr__(self, name: str) -> np.ndarray:
        """A row column read when first used (then an attribute like any other)."""
        column = self._columns._named.get(name)
        if column is None:
            raise AttributeError(name)
        values = column.read(self.first, self.rows)
        setattr(self, name, values)
        return values

    def has(self, flag: int) -> np.ndarray:
        """A boolean mask of the rows with ``flag`` set."""
        return (self.flags & flag) != 0

    def present(self, tag_index: int) -> np.ndarray:
        """A boolean mask of the rows for which metric ``tag_index`` has a value (a list, even empty)."""
        return self._raw_counts(tag_index) >= 0

    def _raw_counts(self, tag_index: int) -> np.ndarray:
        counts = self._counts.get(tag_index)
        if counts is None:
            counts = self._counts[tag_index] = self._columns._counts[tag_index].read(self.first, self.rows)
        return counts

    def counts(self, tag_index: int) -> np.ndarray:
        """How many values metric ``tag_index`` gave per row (0 where it has none)."""
        import numpy as np

        counts = self._clipped.get(tag_index)
        if counts is None:
            counts = self._clipped[tag_index] = np.maximum(self._raw_counts(tag_index), 0)
        return counts

    def values(self, tag_index: int, mask: np.ndarray | None = None) -> np.ndarray:
        """The float64 values of metric ``tag_index`` of the rows in ``mask`` (every row: None), flat, in
        row order (a list metric's values in its order). A metric with no value in the whole run costs
        nothing; otherwise its counts up to this chunk are summed once per pass over the chunks."""
        import numpy as np

        column = self._columns._values[tag_index]
        if not column.stored:
            return np.zeros(0, dtype=np.float64)
        counts = self.counts(tag_index)
        flat = self._flat.get(tag_index)
        if flat is None:
            total = int(counts.sum())
            start = self._offsets.start(tag_index, self.first, self.first + self.rows, total)
            flat = self._flat[tag_index] = column.read(start, total)
        if mask is None:
            return flat
        return flat[np.repeat(mask, counts)]


class _ValueOffsets:
    """Where each metric's values of a row start in its value file, for one pass over the chunks: the
    values before a row are the sum of the counts before it, summed only for the metrics a reader asks
    for, and only over the rows not summed yet."""

    def __init__(self, columns: RecordColumns) -> None:
        self._columns = columns
        self._rows = [0] * len(columns.tags)  # rows summed so far, per metric
        self._values = [0] * len(columns.tags)  # their values

    def start(self, tag_index: int, first: int, end: int, total: int) -> int:
        """The index of the first value of row ``first``; the rows up to ``end`` hold ``total`` values
        from there (the asking chunk's own sum)."""
        import numpy as np

        counts = self._columns._counts[tag_index]
        while self._rows[tag_index] < first:  # rows of chunks that did not ask: summed here
            step = min(first - self._rows[tag_index], CHUNK_ROWS)
            skipped = counts.read(self._rows[tag_index], step)
            self._values[tag_index] += int(np.maximum(skipped, 0).sum())
            self._rows[tag_index] += step
        start = self._values[tag_index]
        self._rows[tag_index], self._values[tag_index] = end, start + total
        return start


class RecordColumns:
    """The per-record columns of a run (see the module docstring); ``tags`` are the record metrics the
    values are aligned with. One writer (:meth:`append`); :meth:`chunks` sees every row appended before
    it was called (it flushes the buffers first: call it from the writer's thread or after the run)."""

    def __init__(self, tags: Sequence[str], spool_dir: Path | str | None = None) -> None:
        self.tags = tuple(tags)
        self.spool_dir = spool_dir
        """Where the column files are (None: the system's temporary directory)."""
        self._times = {name: _Column("q", spool_dir) for name in (*TIMES, *LENGTHS)}
        self._flags = _Column("B", spool_dir)
        self._turns = _Column("i", spool_dir)
        self._counts = [_Column("i", spool_dir) for _ in self.tags]
        self._values = [_Column("d", spool_dir) for _ in self.tags]
        self._named = {**self._times, "flags": self._flags, "turn_index": self._turns}
        self.rows = 0
        self.session_rows = 0
        """Rows with a ``session_id``: 0 means no reader needs to look for sessions."""
        self.error_counts: Counter[str] = Counter()
        """Error type -> records with it (any phase; a metric error as the run counted it)."""
        self.first_errors: dict[str, str] = {}
        """Error type -> the message of the first record with it (unscrubbed: scrub before showing)."""

    def __len__(self) -> int:
        return self.rows

    def append(self, records: Sequence[RequestRecord], values: Sequence[tuple[Any, ...] | None]) -> None:
        """One batch: ``records`` as the run counted them (a metric error already set) and each record's
        metric values (a tuple aligned with :attr:`tags`, or None for a record without any)."""
        starts = [r.start_ns for r in records]
        walls = [r.start_wall_ns for r in records]
        ends = [r.end_ns for r in records]
        self._times["start_ns"].extend(starts)
        self._times["end_ns"].extend(ends)
        self._times["start_wall_ns"].extend(walls)
        self._times["end_wall_ns"].extend([w + e - s for w, e, s in zip(walls, ends, starts, strict=True)])
        self._flags.extend([_flags(r) for r in records])
        self._turns.extend([-1 if r.turn_index is None else r.turn_index for r in records])
        asked = [r.requested_output_tokens for r in records]
        self._times["requested_output_tokens"].extend([-1 if n is None else n for n in asked])
        lengths = [r.output_tokens for r in records]
        self._times["output_tokens"].extend([-1 if n is None else n for n in lengths])
        for record in records:
            if record.error is not None:
                kind = record.error.type
                self.error_counts[kind] += 1
                self.first_errors.setdefault(kind, record.error.message)
        self.session_rows += sum(1 for r in records if r.session_id is not None)
        self.rows += len(records)
        flat = getattr(values, "columns", None)
        if flat is None or len(flat) != len(self.tags):
            flat = flatten_values(values, len(self.tags))
        for (counts, numbers), count_column, value_column in zip(
            flat, self._counts, self._values, strict=True
        ):
            count_column.extend(counts)
            if numbers:
                value_column.extend(numbers)

    def flush(self) -> None:
        """Write every buffered entry to its file."""
        for column in self._all():
            column.flush()

    def chunks(self, rows: int | None = None) -> Iterator[RecordChunk]:
        """The rows so far in chunks of ``rows`` (default :data:`CHUNK_ROWS`), in arrival order."""
        rows = rows or CHUNK_ROWS
        self.flush()
        offsets = _ValueOffsets(self)
        total = self.rows
        for first in range(0, total, rows):
            yield RecordChunk(self, first, min(rows, total - first), offsets)

    def close(self) -> None:
        """Delete the files; no rows afterwards."""
        for column in self._all():
            column.close()
        self.rows = self.session_rows = 0
        self.error_counts.clear()
        self.first_errors.clear()

    def _all(self) -> list[_Column]:
        return [*self._times.values(), self._flags, self._turns, *self._counts, *self._values]


_NO_VALUES = array("d")


class MeasuredBatch(list):  # type: ignore[type-arg]
    """A batch's metric values (a list, one tuple or None per record) that also carries them per metric
    as :func:`flatten_values` gives them (``columns``), so each consumer of the batch (the run's value
    columns, :class:`RecordColumns`) reuses one flattening instead of doing its own."""

    columns: list[tuple[array, array]]


def flatten_values(values: Sequence[tuple[Any, ...] | None], width: int) -> list[tuple[array, array]]:
    """Per metric position (``width`` of them): ``(counts, numbers)``, ``counts`` an ``array('i')`` with
    one entry per record (-1: no value, else how many values), ``numbers`` an ``array('d')`` of the values,
    flat, in record order. A metric with a number for every record that has values (the common case) costs
    one C-level conversion; one with None for every record, a count; others a loop over the batch."""
    rows = [v for v in values if v is not None]
    absent = array("i", [-1]) * len(values)
    if not rows:
        return [(absent, _NO_VALUES)] * width
    present = array("i", [-1 if v is None else 1 for v in values])
    out = []
    for position, column in enumerate(zip(*rows, strict=True)):
        if column.count(None) == len(column):
            out.append((absent, _NO_VALUES))
            continue
        try:
            out.append((present, array("d", column)))
        except TypeError:  # None for some records, or a list
            out.append(_ragged(position, values))
    return out


def _ragged(position: int, values: Sequence[tuple[Any, ...] | None]) -> tuple[array, array]:
    """:func:`flatten_values` of a metric that has None or a list for some records."""
    counts, flat = array("i"), array("d")
    for row in values:
        value = None if row is None else row[position]
        if value is None:
            counts.append(-1)
        elif isinstance(value, list):
            counts.append(len(value))
            flat.extend(value)
        else:
            counts.append(1)
            flat.append(value)
    return counts, flat


def _flags(record: RequestRecord) -> int:
    flags = PROFILING if record.phase == PROFILING_PHASE else 0
    error = record.error
    if record.usage_completion_tokens is not None:
        flags |= SERVER_USAGE
    if error is None:
        return flags | OK | (IN_SESSION if record.session_id is not None else 0)
    flags |= CANCELLED if error.type == ERROR_REQUEST_CANCELLED else FAILED
    return flags | (IN_SESSION if record.session_id is not None else 0)
