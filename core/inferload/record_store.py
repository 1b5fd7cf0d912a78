"""The run's records on disk: appended batch by batch as they arrive, read back as often as needed.

The parent never keeps a run's records in memory. Each batch from a worker is stored on the end of an
anonymous temporary file (deleted by the OS when closed, or when the process ends however it ends) as the
bytes the worker sent, unchanged (:func:`inferload.records.pack_records`); readers iterate
over the file a batch at a time, so memory is one batch whatever the run's length. Exporters and the
post-run checks read ``RecordStore`` where they used to read a list: it iterates in arrival order, has
``len()`` and can be iterated again.

Beside each batch the store can keep what the parent worked out once, when the batch arrived, so that no
reader computes it again at the end of the run:

- the per-record metric values (:meth:`RecordStore.measured`): one tuple per record, aligned with the
  run's record metrics (``MetricsAccumulator.record_specs``), None for a record with none (an error);
- the records' ``profile_export.jsonl`` lines (:meth:`RecordStore.copy_lines`), so the JSONL export is a
  copy of bytes, O(N) with a small constant, instead of a recomputation of every metric per record;
- the same values and the records' times, phase, outcome and turn as fixed-width columns
  (:attr:`RecordStore.columns`, :mod:`inferload.record_columns`), so a reader that selects a subset of the
  records (steady-state window, load segments, turns) computes its statistics with numpy over a mask.

A disk that refuses a write (full, over quota or the file-size limit) never leaves a half-written batch:
:meth:`RecordStore.append` cuts every spool back to where the batch began and raises the
:class:`~inferload.spool_write.SpoolWriteError` naming the spool (``unstored`` counts the batch's records);
every batch stored before stays readable and the JSONL lines whole. A failed write of the columns stops
the columns only (``write_error``; ``columns`` is then None and readers use the records).

MessagePack field rows (pickle where they cannot carry a value exactly) because the records are ours and
never leave the run: a batch round-trips exactly (every field, errors included) in well under 1 µs per
record each way, where JSON would cost several times that and lose types. The metric values beside them
are pickled (numbers of any kind, tuples kept as tuples).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from inferload.record_columns import RecordColumns
from inferload.records import RequestRecord, pack_records, unpack_records
from inferload.spool_write import describe, write_all

MeasuredValues = tuple[Any, ...] | None
"""One record's metric values, aligned with the run's record metrics (None where a metric does not apply);
None for a record that has none (an error, or a record stored without values)."""


class _Spool:
    """One append-only anonymous temporary file of blobs, and its size and blob count: nothing per blob
    in memory (an offset per batch grew the parent by ~10 MB an hour at 7 k requests/s, one 64-record
    batch each ~9 ms). ``framed``: each blob is stored after its length (8 bytes, little-endian), so the
    blobs are read back in order (:meth:`read_at`); unframed, the file is the blobs' bytes end to end (the
    JSONL lines, linked or copied whole). ``linkable``: on Linux, made an unnamed file that can later be
    given a name (:meth:`link`) instead of copied."""

    def __init__(
        self, spool_dir: Path | str | None, prefix: str, *, framed: bool = True, linkable: bool = False
    ) -> None:
        self.spool_dir, self.prefix, self.framed, self.linkable = spool_dir, prefix, framed, linkable
        self.file: Any = None
        self.size = 0
        """Bytes in the file."""
        self.count = 0
        """Blobs in the file."""

    def append(self, data: bytes) -> None:
        if self.file is None:
            self.file = self._open()
        if self.framed:
            data = len(data).to_bytes(_FRAME, "little") + data
        # positional: readers never share an offset; all of it or a SpoolWriteError naming the spool
        write_all(self.file.fileno(), data, self.size, describe(f"the record store's temporary file "
                                                                f"({self.prefix})", self.spool_dir))
        self.size += len(data)
        self.count += 1

    def truncate(self, size: int, count: int) -> None:
        """Cut the file back to ``size`` bytes holding ``count`` blobs (undo a batch's appends)."""
        if self.file is not None and self.size != size:
            os.ftruncate(self.file.fileno(), size)
        self.size, self.count = size, count

    def _open(self) -> Any:
        """An anonymous file, deleted by the OS when closed or when the process ends."""
        if self.linkable and hasattr(os, "O_TMPFILE"):
            directory = self.spool_dir if self.spool_dir is not None else tempfile.gettempdir()
            try:  # no O_EXCL, unlike tempfile's: the file may be linked into place later
                return os.fdopen(os.open(directory, os.O_TMPFILE | os.O_RDWR, 0o600), "w+b")
            except OSError:
                self.linkable = False  # a filesystem without unnamed files
        return tempfile.TemporaryFile(prefix=self.prefix, dir=self.spool_dir)

    def link(self, path: Path) -> bool:
        """Give the file the name ``path`` (a hard link: the same bytes, no copy); False where the OS or
        the filesystem cannot (not Linux, another filesystem, no /proc)."""
        if not self.linkable or self.file is None:
            return False
        fd = self.file.fileno()
        try:
            os.link(f"/proc/self/fd/{fd}", path, follow_symlinks=True)
        except OSError:
            return _link_by_descriptor(fd, path)
        return True

    def read_at(self, offset: int) -> tuple[bytes, int]:
        """The framed blob at ``offset`` (0 or an offset this returned) and the offset of the next one."""
        fd = self.file.fileno()
        length = int.from_bytes(os.pread(fd, _FRAME, offset), "little")
        return os.pread(fd, length, offset + _FRAME), offset + _FRAME + length

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        self.file = None
        self.size = self.count = 0


_FRAME = 8
"""Bytes of the length stored before each blob of a framed spool."""


def _link_by_descriptor(fd: int, path: Path) -> bool:
    """``linkat(fd, "", AT_FDCWD, path, AT_EMPTY_PATH)``: what the ``/proc/self/fd`` link does where
    ``/proc`` cannot (some sandboxes); needs ``CAP_DAC_READ_SEARCH``. False when it fails."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        at_fdcwd, at_empty_path = -100, 0x1000
        return libc.linkat(fd, b"", at_fdcwd, os.fsencode(path), at_empty_path) == 0
    except (OSError, AttributeError):
        return False


class RecordStore:
    """Append-only store of :class:`~inferload.records.RequestRecord` on disk (see the module docstring).

    ``spool_dir``: where the temporary files are created (None: the system's temporary directory).
    ``append`` is for one writer thread; iteration may happen on any thread and sees the batches that
    were complete when it reached them.
    """

    def __init__(self, records: Iterable[RequestRecord] = (), spool_dir: Path | str | None = None) -> None:
        self.spool_dir = spool_dir
        self._records = _Spool(spool_dir, "inferload-records-")
        self._values = _Spool(spool_dir, "inferload-values-")
        self._lines = _Spool(spool_dir, "inferload-lines-", framed=False, linkable=True)
        self._measured_batches = 0  # batches stored with their values, a prefix of all batches
        self._lined_batches = 0  # batches stored with their lines, likewise
        self._columned_batches = 0  # batches stored in the columns, likewise
        self._columns: RecordColumns | None = None
        self._count = 0
        self._lock = threading.Lock()
        self.unstored = 0
        """Records :meth:`append` could not write (a full disk): not in the store, counted by whoever
        computed statistics from them."""
        self.write_error: OSError | None = None
        """The first failed write of the columns (a full disk): the batch was stored, the columns stopped.
        A failed write of the records, values or lines is raised by :meth:`append` instead, the batch not
        stored."""
        self.value_tags: tuple[str, ...] | None = None
        """The record metrics the stored values are aligned with (``MetricsAccumulator.record_tags``)."""
        batch = list(records)
        if batch:
            self.append(batch)

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def append(
        self,
        records: Sequence[RequestRecord],
        *,
        data: bytes | None = None,
        values: Sequence[MeasuredValues] | None = None,
        lines: bytes | None = None,
    ) -> None:
        """Add one batch (in order) at the end of the store.

        ``data``: the batch's :func:`~inferload.records.pack_records` bytes when the caller has them (as a
        worker sent them), stored as they are; otherwise ``records`` are encoded here. ``values``: one
        :data:`MeasuredValues` per record; ``lines``: the batch's ``profile_export.jsonl`` lines, each
        ending in ``\\n``. A batch without ``values`` (or ``lines``) makes the store say it has none from
        then on (:attr:`has_values`, :attr:`has_lines`), so a reader never gets a partial set.
        """
        if not records:
            return
        if data is None:
            data = pack_records(list(records))
        extra = None if values is None else pickle.dumps(list(values), protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            batches = self._records.count
            before = [(spool, spool.size, spool.count)
                      for spool in (self._records, self._values, self._lines)]
            measured, lined = self._measured_batches, self._lined_batches
            try:
                self._records.append(data)
                if extra is not None and self._measured_batches == batches:
                    self._values.append(extra)
                    self._measured_batches += 1
                if lines is not None and self._lined_batches == batches:
                    self._lines.append(lines)
                    self._lined_batches += 1
            except OSError:  # a full disk: the batch is not stored at all, what was stored stays whole
                for spool, size, count in before:
                    with contextlib.suppress(OSError):
                        spool.truncate(size, count)
                self._measured_batches, self._lined_batches = measured, lined
                self.unstored += len(records)
                raise
            self._count += len(records)
            if values is not None and self.value_tags is not None and self._columned_batches == batches:
                if self._columns is None:
                    self._columns = RecordColumns(self.value_tags, self.spool_dir)
                try:
                    self._columns.append(records, values)
                except OSError as exc:  # the columns stay behind the records for good (``columns``:
                    self.write_error = self.write_error or exc  # None, readers use the records)
                else:
                    self._columned_batches += 1

    @property
    def has_values(self) -> bool:
        """Whether every batch was stored with its records' metric values (:meth:`measured`)."""
        return bool(self._records.count) and self._measured_batches == self._records.count

    @property
    def columns(self) -> RecordColumns | None:
        """Every record as fixed-width columns (:mod:`inferload.record_columns`) with its metric values
        aligned with :attr:`value_tags`, or None unless every batch was stored with its values (and
        ``value_tags`` was set before the first). Read it after the last append, from the writer's thread
        or once the run is over."""
        if not self._records.count or self._columned_batches != self._records.count:
            return None
        return self._columns

    @property
    def has_lines(self) -> bool:
        """Whether every batch was stored with its JSONL lines (:meth:`copy_lines`)."""
        return bool(self._records.count) and self._lined_batches == self._records.count

    def batches(self) -> Iterator[list[RequestRecord]]:
        """The stored batches in order, one in memory at a time."""
        offset = 0
        for _ in range(self._records.count):
            with self._lock:
                if self._records.file is None:
                    return
                data, offset = self._records.read_at(offset)
            yield unpack_records(data)

    def measured(self) -> Iterator[tuple[list[RequestRecord], list[MeasuredValues]]]:
        """Each batch with its records' stored metric values; ValueError unless :attr:`has_values`."""
        if not self.has_values:
            raise ValueError("this record store holds no metric values for some of its batches")
        offset = extra_offset = 0
        for _ in range(self._records.count):
            with self._lock:
                if self._records.file is None:
                    return
                data, offset = self._records.read_at(offset)
                extra, extra_offset = self._values.read_at(extra_offset)
            yield unpack_records(data), pickle.loads(extra)

    def copy_lines(self, handle: IO[bytes]) -> int:
        """Write every stored JSONL line, in arrival order, to the binary ``handle``; returns the bytes
        written. ValueError unless :attr:`has_lines`."""
        if not self.has_lines:
            raise ValueError("this record store holds no JSONL lines for some of its batches")
        with self._lock:
            size, fd = self._lines.size, self._lines.file.fileno()
        offset = 0
        while offset < size:  # the size when asked: a batch appended meanwhile is not half-copied
            block = os.pread(fd, min(size - offset, 1 << 20), offset)
            if not block:
                break
            handle.write(block)
            offset += len(block)
        return offset

    def link_lines(self, path: Path) -> bool:
        """Make ``path`` (which must not exist) a hard link to the stored JSONL lines: the file itself, in
        O(1), no byte copied. False where that cannot be done (see ``copy_lines``). ValueError unless
        :attr:`has_lines`. No batch may be appended afterwards: it would change the linked file."""
        if not self.has_lines:
            raise ValueError("this record store holds no JSONL lines for some of its batches")
        with self._lock:
            return self._lines.link(path)

    def __iter__(self) -> Iterator[RequestRecord]:
        for batch in self.batches():
            yield from batch

    def close(self) -> None:
        """Delete the files; the store is empty afterwards."""
        with self._lock:
            for spool in (self._records, self._values, self._lines):
                spool.close()
            if self._columns is not None:
                self._columns.close()
            self._columns = None
            self._measured_batches = self._lined_batches = self._columned_batches = 0
            self._count = self.unstored = 0



READ_BATCH = 4096
"""Records per batch :func:`batches_with_values` yields from a plain iterable."""


def batches_with_values(
    records: Iterable[RequestRecord], tags: tuple[str, ...]
) -> Iterator[tuple[list[RequestRecord], list[MeasuredValues]]]:
    """``records`` in batches, each with one :data:`MeasuredValues` per record, for a reader whose
    accumulator has the record metrics ``tags``: the values stored when the batch arrived where ``records``
    is a :class:`RecordStore` holding them for these tags, else None per record (the metrics are then
    computed by whoever uses them, e.g. ``MetricsAccumulator.add(batch, measured=values)``)."""
    if isinstance(records, RecordStore) and records.has_values and records.value_tags == tags:
        yield from records.measured()
        return
    batch: list[RequestRecord] = []
    for record in records:
        batch.append(record)
        if len(batch) >= READ_BATCH:
            yield batch, [None] * len(batch)
            batch = []
    if batch:
        yield batch, [None] * len(batch)
