"""One metric's per-request values in bounded memory: a small in-memory tail, the rest on disk in sorted
runs, and exact statistics computed from them.

Values arrive in an ``array('d')`` tail. When the tail holds :data:`SPILL_VALUES` values it is sorted and
appended to the column's file (raw little-endian float64, an anonymous temporary file in ``spool_dir``)
as one *run*; memory per column is therefore at most one tail, whatever the length of the run.

Exact statistics (:meth:`ValueColumn.stats`) equal :func:`inferload.stats.compute_stats` over every value
bit for bit:

- count, min, max and every percentile rank are values of the data, found from the memory-mapped runs
  by sampling, exact counts with ``searchsorted`` and a selection among the few values around each rank
  (:func:`rank_values`), never a sort of the whole column;
- sum and std come from exact fixed-point sums of ``x`` and ``x²`` kept as the runs are written
  (:func:`inferload.stats.exact_moments`), so they need no pass over the file either.

NaN values are counted, never written to a run: like numpy's sort, they rank after every other value.

A spill the disk refuses (:class:`~inferload.spool_write.SpoolWriteError`, kept in ``write_error``) leaves
the file as it was and the values in the tail, whose threshold doubles before the next try: the statistics
stay exact, memory grows until the run, told by ``write_error``, stops.

The file format was chosen by measurement (see the commit that added it): numpy raw appends and an Arrow IPC
stream wrote 10 M sorted values equally fast (~1 s), but reading one rank back costs ~0.15 ms from a
memory map against ~90 ms to open and read the Arrow stream, which loads every batch.
"""

from __future__ import annotations

import contextlib
import tempfile
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inferload.spool_write import describe, write_all
from inferload.stats import ExactMoments, interpolate, percentile_ranks

if TYPE_CHECKING:
    import numpy as np

SPILL_VALUES = 1 << 16
"""Values held in memory per column before they go to disk as one sorted run (512 KiB of float64). A run
has some 15 columns: with 2 MiB tails they showed as a ~30 MB sawtooth in the parent's RSS; more, smaller
runs cost the final statistics little (64 bisection steps, one ``searchsorted`` per run each)."""

_SIGN = 1 << 63
_MASK = (1 << 64) - 1


class ValueColumn:
    """Append-only float64 values with exact final statistics; see the module docstring.

    ``spool_dir`` is where the run file is created (None: the system's temporary directory);
    ``spill_values`` is the in-memory tail's size (default :data:`SPILL_VALUES`, read when the column is
    made). Not thread-safe: one writer; readers
    (:meth:`stats`, :meth:`tail_since`) are serialised with it by the caller.
    """

    def __init__(
        self,
        spool_dir: Path | str | None = None,
        spill_values: int | None = None,
        *,
        lock: Any = None,
        before_spill: Callable[[], None] | None = None,
    ) -> None:
        if spill_values is None:
            spill_values = SPILL_VALUES
        if spill_values < 1:
            raise ValueError(f"spill_values must be at least 1, not {spill_values!r}")
        self.spool_dir = spool_dir
        self.spill_values = spill_values
        self._lock = lock if lock is not None else contextlib.nullcontext()
        """Held while the tail is handed to disk, so a reader never sees ``tail`` and ``spilled`` disagree."""
        self._before_spill = before_spill
        """Called (lock held) just before the tail leaves memory: the last chance to read it (sketch feed)."""
        self.tail = array("d")
        """Values not yet on disk, in arrival order."""
        self.spilled = 0
        """Values on disk (NaNs included in the count, not in the file)."""
        self._runs: list[tuple[int, int]] = []  # (first value index in the file, length)
        self._file: Any = None
        self._stored = 0  # non-NaN values in the file
        self._nan = 0
        self.moments = ExactMoments()
        """Exact sums of the spilled values (the tail is added when stats are asked for)."""
        self.write_error: OSError | None = None
        """The first failed spill (a full disk, :class:`~inferload.spool_write.SpoolWriteError`): the
        values it held stayed in memory, none were lost."""

    def __len__(self) -> int:
        return self.spilled + len(self.tail)

    def append(self, value: float) -> None:
        self.tail.append(value)
        if len(self.tail) >= self.spill_values:
            self.spill()

    def extend(self, values: Any) -> None:
        room = self.spill_values - len(self.tail)
        if len(values) < room:
            self.tail.extend(values)
            return
        start = 0
        while start < len(values):  # room is read again each time: a failed spill raises the threshold
            self.tail.extend(values[start:start + room])
            start += room
            if len(self.tail) >= self.spill_values:
                self.spill()
            room = self.spill_values - len(self.tail)

    def extend_array(self, values: np.ndarray) -> None:
        """Append a float64 numpy array: what :meth:`extend` does, at numpy speed (no Python float per
        value)."""
        import numpy as np

        values = np.ascontiguousarray(values, dtype=np.float64)
        while values.size:
            room = self.spill_values - len(self.tail)
            self.tail.frombytes(values[:room].tobytes())
            values = values[room:]
            if len(self.tail) >= self.spill_values:
                self.spill()

    def spill(self) -> None:
        """Write the tail to disk as one sorted run and empty it."""
        import numpy as np

        if not self.tail:
            return
        with self._lock:
            if self._before_spill is not None:
                self._before_spill()
            everything = np.frombuffer(self.tail, dtype=np.float64).copy()
            nan = np.isnan(everything)
            values = everything[~nan] if nan.any() else everything
            if values.size:
                values.sort()
                try:
                    if self._file is None:
                        # anonymous, deleted by the OS when closed or when the process ends
                        self._file = tempfile.TemporaryFile(  # noqa: SIM115 - lives as long as the column
                            prefix="inferload-values-", dir=self.spool_dir
                        )
                    write_all(self._file.fileno(), values.astype("<f8", copy=False).tobytes(),
                              self._stored * 8, describe("a metric's value column (inferload-values-)",
                                                         self.spool_dir))
                except OSError as exc:
                    # a full disk: the values stay in memory (exact statistics still see them) and the
                    # next try waits until the tail has doubled; the run's writer stops the run
                    self.write_error = self.write_error or exc
                    self.spill_values = 2 * max(self.spill_values, len(self.tail))
                    return
                self._runs.append((self._stored, int(values.size)))
                self._stored += int(values.size)
            self.moments.add(everything)
            self._nan += int(nan.sum())
            self.spilled += len(self.tail)
            self.tail = array("d")

    def close(self) -> None:
        """Delete the file (the column is empty afterwards)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self.tail = array("d")
        self.spilled = self._stored = self._nan = 0
        self._runs = []
        self.moments = ExactMoments()

    def stats(self) -> dict[str, Any]:
        """The exact stats block of every value so far, equal to ``compute_stats(values)``."""
        import numpy as np

        count = len(self)
        if count == 0:
            return {"count": 0}
        tail = np.frombuffer(self.tail[:], dtype=np.float64)  # a copy: the tail may grow meanwhile
        moments = self.moments.copy()
        moments.add(tail)
        nan_tail = np.isnan(tail)
        nan = self._nan + int(nan_tail.sum())
        tail = np.sort(tail[~nan_tail]) if nan_tail.any() else np.sort(tail)
        runs = self._run_arrays()
        runs.append(tail)
        wanted = _wanted_ranks(count)
        values = dict(zip(wanted, rank_values(runs, wanted, count - nan), strict=True))
        return _stats_block(count, moments, values)

    def stats_without(self, excluded: np.ndarray) -> dict[str, Any] | None:
        """The exact stats block of every value so far less the values ``excluded`` (a sub-multiset of
        them, finite: e.g. the values of the requests outside a window), equal to ``compute_stats`` over
        what remains; None when ``excluded`` holds an inf or NaN (compute the rest another way).

        Costs about what :meth:`stats` does, whatever the column's length, plus a sort of ``excluded``:
        the sums are the column's exact ones less those of ``excluded``, each rank is found by bisection
        over the float order counting, per sorted run, the values at or below a candidate less those of
        ``excluded``."""
        import numpy as np

        removed = np.sort(np.asarray(excluded, dtype=np.float64).ravel())
        if not np.isfinite(removed).all():
            return None
        count = len(self) - int(removed.size)
        if count <= 0:
            return {"count": 0}
        tail = np.frombuffer(self.tail[:], dtype=np.float64)
        moments = self.moments.copy()
        moments.add(tail)
        less = ExactMoments()
        less.add(removed)
        moments.subtract(less)
        nan_tail = np.isnan(tail)
        valid = count - self._nan - int(nan_tail.sum())
        runs = [*self._run_arrays(), np.sort(tail[~nan_tail])]
        wanted = _wanted_ranks(count)
        inside = [r for r in wanted if r < valid]
        values = {r: float("nan") for r in wanted if r >= valid}
        values.update(zip(inside, _bisect_rank_values(runs, inside, removed), strict=True))
        return _stats_block(count, moments, values)

    def values_at(self, ranks: list[int]) -> list[float]:
        """The values at 0-based ``ranks`` of every value so far in sorted order (NaN last, as numpy
        sorts), each exact, without sorting the column (see :func:`rank_values`)."""
        import numpy as np

        tail = np.frombuffer(self.tail[:], dtype=np.float64)
        nan_tail = np.isnan(tail)
        runs = [*self._run_arrays(), np.sort(tail[~nan_tail])]
        return rank_values(runs, ranks, len(self) - self._nan - int(nan_tail.sum()))

    def mean(self) -> float:
        """The mean of every value so far (0.0 when empty)."""
        count = len(self)
        if not count:
            return 0.0
        moments = self.moments.copy()
        moments.add(self.tail[:])
        return moments.sum / count

    def count_below(self, threshold: float) -> int:
        """How many values so far are below ``threshold`` (NaN never counts): a binary search per sorted
        run on disk plus a scan of the tail."""
        import numpy as np

        tail = np.frombuffer(self.tail[:], dtype=np.float64)
        below = int((tail < threshold).sum())
        return below + sum(int(np.searchsorted(run, threshold, side="left")) for run in self._run_arrays())

    def _run_arrays(self) -> list[np.ndarray]:
        import numpy as np

        if self._file is None or not self._stored:
            return []
        mapped = np.memmap(self._file, dtype="<f8", mode="r", shape=(self._stored,))
        return [mapped[start:start + length] for start, length in self._runs]



def _wanted_ranks(count: int) -> list[int]:
    """The 0-based ranks a stats block of ``count`` values reads: min, max, and each percentile's two."""
    return sorted({0, count - 1, *(r for _, low, high, _ in percentile_ranks(count) for r in (low, high))})


def _stats_block(count: int, moments: ExactMoments, values: dict[int, float]) -> dict[str, Any]:
    """The stats block of ``count`` values with these exact ``moments`` and ``values`` at
    :func:`_wanted_ranks` (NaN past the non-NaN ones), keys in ``compute_stats`` order."""
    total = moments.sum
    stats: dict[str, Any] = {"avg": total / count}
    for p, low, high, fraction in percentile_ranks(count):
        stats[f"p{p}"] = interpolate(values[low], values[high], fraction)
    stats["min"] = values[0]
    stats["max"] = values[count - 1]
    stats["std"] = moments.std
    stats["count"] = count
    stats["sum"] = total
    return stats


def _key(value: float) -> int:
    """An unsigned 64-bit key that orders like the float (``-0.0`` just below ``0.0``); NaN excluded."""
    import struct

    bits = struct.unpack("<Q", struct.pack("<d", value))[0]
    return bits ^ _MASK if bits & _SIGN else bits | _SIGN


def _float(key: int) -> float:
    import struct

    bits = key ^ _SIGN if key & _SIGN else key ^ _MASK
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


SAMPLE_STRIDE = 128
"""Every this-many-th value of each run is sampled to bracket a rank (see :func:`rank_values`)."""
GATHER_LIMIT = 1 << 22
"""Values gathered between one rank's brackets at most before :func:`rank_values` bisects instead."""


def rank_values(runs: list[np.ndarray], ranks: list[int], valid: int) -> list[float]:
    """The values at 0-based ``ranks`` of the union of the sorted ``runs`` (``valid`` non-NaN values; a
    rank at or past it is NaN, as numpy sorts NaN last).

    Bracket, then select: every :data:`SAMPLE_STRIDE`-th value of each run, sorted, brackets a rank ``r``
    between two samples about ``runs * stride`` ranks either side; exact counts (``searchsorted`` in each
    run) confirm the bracket, the values inside it are gathered (a few hundred thousand) and
    ``np.partition`` picks rank ``r`` among them. A bracket that does not hold (heavy ties) widens to the
    whole data; one that would gather more than :data:`GATHER_LIMIT` values falls back to a bisection.
    """
    import numpy as np

    runs = [run for run in runs if run.size]
    out: dict[int, float] = {r: float("nan") for r in ranks if r >= valid}
    inside = sorted({r for r in ranks if r < valid})
    if not inside:
        return [out[r] for r in ranks]
    stride = SAMPLE_STRIDE
    samples = np.sort(np.concatenate([run[stride - 1::stride] for run in runs]))
    margin = len(runs) + 1
    low_at = [r // stride - margin for r in inside]
    high_at = [r // stride + margin for r in inside]
    lows = np.array([samples[i] if 0 <= i < samples.size else -np.inf for i in low_at])
    highs = np.array([samples[i] if 0 <= i < samples.size else np.inf for i in high_at])
    below = np.zeros(len(inside), dtype=np.int64)  # values < low
    upto = np.zeros(len(inside), dtype=np.int64)  # values <= high
    starts, ends = [], []
    for run in runs:
        first = np.searchsorted(run, lows, side="left")
        last = np.searchsorted(run, highs, side="right")
        below += first
        upto += last
        starts.append(first)
        ends.append(last)
    hard: list[int] = []
    for i, rank in enumerate(inside):
        if not below[i] <= rank < upto[i]:  # ties around a sample: no bracket, take everything
            begin = [0] * len(runs)
            finish = [run.size for run in runs]
            offset = 0
        else:
            begin = [int(first[i]) for first in starts]
            finish = [int(last[i]) for last in ends]
            offset = int(below[i])
        if sum(finish) - sum(begin) > GATHER_LIMIT:
            hard.append(rank)
            continue
        gathered = np.concatenate([run[b:f] for run, b, f in zip(runs, begin, finish, strict=True)])
        out[rank] = float(np.partition(gathered, rank - offset)[rank - offset]) + 0.0
    if hard:
        out.update(zip(hard, _bisect_rank_values(runs, hard), strict=True))
    return [out[r] for r in ranks]


def _bisect_rank_values(
    runs: list[np.ndarray], ranks: list[int], less: np.ndarray | None = None
) -> list[float]:
    """The values at ``ranks`` (all below the non-NaN count) by one bisection over the float order for
    all ranks at once: each step counts, per run, the values at or below every candidate. Memory O(runs);
    64 steps. ``less`` (sorted): values taken out of the runs' union (counted, then subtracted)."""
    import numpy as np

    inside = ranks
    out: dict[int, float] = {}
    if inside:
        lows = [_key(float("-inf"))] * len(inside)
        highs = [_key(float("inf"))] * len(inside)
        while any(lo < hi for lo, hi in zip(lows, highs, strict=True)):
            mids = [(lo + hi) // 2 for lo, hi in zip(lows, highs, strict=True)]
            candidates = np.array([_float(m) for m in mids], dtype=np.float64)
            counts = np.zeros(len(inside), dtype=np.int64)
            for run in runs:
                if run.size:
                    counts += np.searchsorted(run, candidates, side="right")
            if less is not None and less.size:
                counts -= np.searchsorted(less, candidates, side="right")
            for i, rank in enumerate(inside):
                if lows[i] >= highs[i]:
                    continue
                if counts[i] > rank:
                    highs[i] = mids[i]
                else:
                    lows[i] = mids[i] + 1
        for rank, key in zip(inside, lows, strict=True):
            out[rank] = _float(key) + 0.0  # -0.0 and 0.0 compare equal; report numpy's 0.0 either way
    return [out[r] for r in ranks]
