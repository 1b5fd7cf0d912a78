"""The run's records on disk: appended batch by batch as they arrive, read back as often as needed.

The parent never keeps a run's records in memory. Each batch from a worker is pickled onto the end of an
anonymous temporary file (deleted by the OS when closed, or when the process ends however it ends);
readers iterate over the file a batch at a time, so memory is one batch whatever the run's length.
Exporters and the post-run checks read ``RecordStore`` where they used to read a list: it iterates in
arrival order, has ``len()`` and can be iterated again.

Pickle because the records are ours and never leave the process: a batch round-trips exactly (every field,
errors included) at ~1 µs per record each way, where JSON would cost several times that and lose types.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import threading
from array import array
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from inferload.records import RequestRecord


class RecordStore:
    """Append-only store of :class:`~inferload.records.RequestRecord` on disk (see the module docstring).

    ``spool_dir``: where the temporary file is created (None: the system's temporary directory).
    ``append`` is for one writer thread; iteration may happen on any thread and sees the batches that
    were complete when it reached them.
    """

    def __init__(self, records: Iterable[RequestRecord] = (), spool_dir: Path | str | None = None) -> None:
        self.spool_dir = spool_dir
        self._file: Any = None
        self._ends = array("q")  # end offset of each batch: 8 bytes per batch, ~0.1 byte per record
        self._count = 0
        self._lock = threading.Lock()
        batch = list(records)
        if batch:
            self.append(batch)

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def append(self, records: list[RequestRecord]) -> None:
        """Add one batch (in order) at the end of the store."""
        if not records:
            return
        data = pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            if self._file is None:
                # anonymous, deleted by the OS when closed or when the process ends
                self._file = tempfile.TemporaryFile(  # noqa: SIM115 - lives as long as the store
                    prefix="inferload-records-", dir=self.spool_dir
                )
            start = self._ends[-1] if self._ends else 0
            os.pwrite(self._file.fileno(), data, start)  # positional: readers never share an offset
            self._ends.append(start + len(data))
            self._count += len(records)

    def batches(self) -> Iterator[list[RequestRecord]]:
        """The stored batches in order, one in memory at a time."""
        start = 0
        for index in range(len(self._ends)):
            with self._lock:
                if self._file is None:
                    return
                end = self._ends[index]
                data = os.pread(self._file.fileno(), end - start, start)
            yield pickle.loads(data)
            start = end

    def __iter__(self) -> Iterator[RequestRecord]:
        for batch in self.batches():
            yield from batch

    def close(self) -> None:
        """Delete the file; the store is empty afterwards."""
        with self._lock:
            if self._file is not None:
                self._file.close()
            self._file = None
            self._ends = array("q")
            self._count = 0
