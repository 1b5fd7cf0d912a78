"""The metrics engine: turns the stream of RequestRecords into live and final statistics.

Metric *definitions* are plugins (:class:`~inferload.types.MetricSpec`, looked up once through
``registry.all("metric")``); this module only calls them. Per record it calls each applicable record
metric's ``compute(record)`` directly — pluggy is never involved — and appends the value to a per-metric
:class:`~inferload.value_column.ValueColumn`: O(1) amortised per record, and bounded memory however long
the run (each column keeps at most a small tail in memory; the rest goes to disk in sorted runs).

Two kinds of statistics come out of those columns:

- **live** (:meth:`MetricsAccumulator.snapshot`, every half second for ``/api/metrics``): each column
  also feeds a :class:`~inferload.sketch.QuantileSketch`, in numpy batches of the values appended since
  the previous feed (when enough are pending after an ``add``, and at each snapshot). A snapshot reads
  the sketches, so its cost depends on the values that arrived since the last one and on the sketches'
  bucket counts, not on the length of the run. count, sum, avg, min and max are exact, std exact up to
  float rounding, percentiles within the sketch's relative accuracy (0.5 %).
- **final** (:meth:`MetricsAccumulator.final`): exact, from the columns on disk — percentile ranks by
  selection over their sorted runs, sum and std from exact running sums — equal bit for bit to
  :func:`inferload.stats.compute_stats` over every value held in memory.

Which records count: warmup records are ignored entirely; records with an error are counted (and grouped
for the error summary) but never feed a per-request metric; every other record feeds every record metric
whose ``requires`` the run satisfies. A ``compute`` that returns ``None`` means "not applicable to this
request" (e.g. time to second token of a one-chunk answer); a metric with no values is absent from the
results rather than reported as zeros.

A record metric may return a list (inter-chunk latency): each element is one value of its distribution.

``add`` must be called from one thread (the engine's). ``snapshot`` and ``final`` may run on another
thread: they copy each column in one GIL-atomic slice before handing it to numpy, so a concurrent ``add``
never meets an exported buffer, and a lock serialises the sketches' feeding and reading (held for a
feed or a column's spill to disk, never for a record). Readers get the finished dicts, never the columns.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inferload.errors import UsageError
from inferload.record_columns import MeasuredBatch, flatten_values
from inferload.record_store import MeasuredValues
from inferload.records import (
    ERROR_METRIC,
    ERROR_REQUEST_CANCELLED,
    PROFILING,
    WARMUP,
    RequestError,
    RequestRecord,
)
from inferload.stats import ns_to, per_second
from inferload.types import MetricSpec
from inferload.value_column import ValueColumn

if TYPE_CHECKING:
    import numpy as np

    from inferload.record_columns import RecordChunk
    from inferload.registry import PluginRegistry

log = logging.getLogger(__name__)

STREAMING, TOKENS, REASONING = "streaming", "tokens", "reasoning"
RUN_CAPABILITIES: tuple[str, ...] = (STREAMING, TOKENS)
"""Requirements decided once per run from the configuration. Any other ``requires`` entry (``reasoning``)
is judged per request by the metric itself, which returns None where it does not apply."""

SKETCH_FEED_VALUES = 65_536
"""``add`` feeds a column's pending values to its sketch once this many have accumulated: big enough for
numpy batches to be cheap per value, small enough that a snapshot has little left to feed. (A column also
feeds whatever is pending just before its values go to disk, see :mod:`inferload.value_column`.)"""

SCHEDULE_LAG_WARN_MS = 1.0
"""Client overload: warn only when the p99 of the client's own lag exceeds this (ms) ..."""
SCHEDULE_LAG_WARN_SHARE = 0.05
"""... and is at least this share of the mean request latency (1 ms matters to a 2 ms request, not to a 2 s
one) ..."""
SCHEDULE_LAG_MIN_SAMPLE = 100
"""... over at least this many profiling requests: below 100 the p99 is simply the largest value, and one
late timer wake-up is not an overloaded client."""
RATE_SHORTFALL_WARN = 0.95
"""Client overload: warn when requests went out at less than this fraction of the scheduled rate."""
MERGED_GAP_MS = 0.05
"""An inter-chunk gap under this (ms, 50 µs) is a merged read: two chunks the client read in one socket read
and so stamped (almost) alike; no server streams tokens 50 µs apart."""
MERGED_GAP_WARN_SHARE = 0.01
"""Warn when at least this share of the run's inter-chunk gaps are merged reads ..."""
MERGED_GAP_MIN_SAMPLE = 100
"""... over at least this many gaps."""
READ_DELAY_WARN_MS = 5.0
"""Warn when the p99 of the requests' longest socket wait (``client_health.read_delay``) exceeds this (ms),
over at least :data:`READ_DELAY_MIN_SAMPLE` requests: the wait is inside every TTFT and ITL it touches."""
READ_DELAY_MIN_SAMPLE = 20
_READ_ADVICE = ("lower --concurrency, give more --workers, or run the client on a quieter machine "
                "(docs/metrics.md, \"Merged reads\")")


@dataclass(frozen=True)
class RunSummary:
    """What ``aggregate`` and ``derived`` metrics compute from: run-level counts and the stats so far.

    ``metrics`` holds the finished stats blocks of every metric computed before this one (record metrics
    first, then aggregates in display order, then derived), keyed by tag, in reported units.
    """

    request_count: int
    """Successful profiling requests (warmup and errors excluded)."""
    error_count: int
    """Profiling requests that ended with an error (including cancelled ones)."""
    benchmark_duration_ns: int | None
    """First profiling request start to last profiling response end, or the engine's figure at the end."""
    metrics: Mapping[str, Mapping[str, Any]]
    good_count: int | None = None
    """Successful requests meeting every goodput SLO; None when no SLO was given."""
    cancelled_count: int = 0
    """Profiling requests the client cancelled on purpose (``--request-cancellation-rate``): counted in
    neither ``request_count`` nor ``error_count``."""
    slos: Mapping[str, float] = field(default_factory=dict)
    final: bool = False
    """True for the end-of-run results, False for a live snapshot."""

    def total(self, tag: str) -> float | None:
        """The sum of per-request metric ``tag`` over the run's successful requests, or None without it."""
        block = self.metrics.get(tag)
        return None if block is None else block["sum"]


def parse_goodput(value: str | Mapping[str, Any] | Sequence[str] | None) -> dict[str, float]:
    """``--goodput "time_to_first_token:200 inter_token_latency:10"`` -> ``{tag: threshold}``.

    Accepts the string form (pairs separated by spaces or commas, ``:`` or ``=`` between tag and value),
    a list of such strings, or a mapping. Thresholds are in the metric's reported unit (ms for latencies)
    and must be finite and greater than 0; anything else is a UsageError naming the entry.
    """
    if value is None or value == "":
        return {}
    if isinstance(value, Mapping):
        items = [(str(k), v) for k, v in value.items()]
    else:
        parts = [value] if isinstance(value, str) else list(value)
        items = []
        for part in parts:
            for token in re.split(r"[\s,]+", str(part).strip()):
                if not token:
                    continue
                tag, sep, number = token.replace("=", ":").partition(":")
                if not sep or not tag:
                    raise UsageError(
                        f"--goodput entry {token!r} is not TAG:VALUE; e.g. --goodput "
                        "'time_to_first_token:200 inter_token_latency:10'"
                    )
                items.append((tag.strip(), number.strip()))
    slos: dict[str, float] = {}
    for tag, number in items:
        try:
            threshold = float(number)
        except (TypeError, ValueError):
            raise UsageError(f"--goodput {tag}:{number!r}: the threshold must be a number") from None
        if threshold != threshold or threshold in (float("inf"), float("-inf")):
            raise UsageError(f"--goodput {tag}:{number}: the threshold must be a finite number")
        if threshold <= 0:
            raise UsageError(f"--goodput {tag}:{number}: the threshold must be greater than 0 (no request "
                             "can meet a latency SLO of 0 or less)")
        slos[tag] = threshold
    return slos


def run_capabilities(config: Any = None, registry: PluginRegistry | None = None) -> frozenset[str]:
    """What the run's records can carry: ``streaming`` and/or ``tokens``.

    Read from ``config.streaming`` and the endpoint named by ``config.endpoint_type`` (its spec says
    whether it streams and produces tokens: embeddings do not). Without a config both are assumed, and the
    metrics themselves skip requests that lack chunks or token counts.
    """
    if config is None:
        return frozenset(RUN_CAPABILITIES)
    streaming = bool(getattr(config, "streaming", True))
    tokens = True
    endpoint_type = getattr(config, "endpoint_type", None)
    if endpoint_type is not None and registry is not None:
        spec = registry.all("endpoint").get(str(getattr(endpoint_type, "value", endpoint_type)))
        if spec is not None:
            streaming = streaming and bool(spec.streaming)
            tokens = bool(spec.produces_tokens)
    return frozenset(name for name, on in ((STREAMING, streaming), (TOKENS, tokens)) if on)


class MetricsAccumulator:
    """Collects records as they arrive and computes statistics for the API (live) and the exports (final).

    ``registry`` provides the metric plugins; ``config`` (optional) decides which apply (streaming, token
    producing endpoint) and may carry ``goodput``; ``goodput`` overrides it (string or mapping, see
    :func:`parse_goodput`). ``capabilities`` overrides what would be read from the config. ``spool_dir``
    is where the columns' files are created (anonymous temporary files; None: the system's temporary
    directory). ``live=False``: for final statistics only (a summary section's subset of the records), no
    streaming sketch is fed, so :meth:`snapshot` has no percentiles.
    """

    def __init__(
        self,
        registry: PluginRegistry,
        config: Any = None,
        goodput: str | Mapping[str, Any] | Sequence[str] | None = None,
        *,
        capabilities: Iterable[str] | None = None,
        spool_dir: Path | str | None = None,
        live: bool = True,
    ) -> None:
        self._registry = registry
        self._config = config
        self.capabilities = (
            frozenset(capabilities) if capabilities is not None else run_capabilities(config, registry)
        )
        specs: list[MetricSpec] = sorted(registry.all("metric").values(), key=lambda s: s.display_order)
        self.specs: dict[str, MetricSpec] = {s.name: s for s in specs}
        self.record_specs = [s for s in specs if s.kind == "record" and self._applies(s)]
        self.aggregate_specs = [s for s in specs if s.kind == "aggregate" and self._applies(s)]
        self.derived_specs = [s for s in specs if s.kind == "derived" and self._applies(s)]
        self._sketch_lock = threading.Lock()
        self._live = live
        self._columns: dict[str, ValueColumn] = {
            s.name: ValueColumn(spool_dir, lock=self._sketch_lock, before_spill=partial(self._feed, s.name))
            for s in self.record_specs
        }
        self._tag_units = [(s.name, s.unit) for s in self.record_specs]
        self._computers: list[tuple[str, Callable[[RequestRecord], Any], ValueColumn]] = [
            (s.name, s.compute, self._columns[s.name]) for s in self.record_specs
        ]
        from inferload.sketch import QuantileSketch  # numpy: only once an accumulator exists

        self._sketches: dict[str, QuantileSketch] = {s.name: QuantileSketch() for s in self.record_specs}
        self._fed: dict[str, int] = {s.name: 0 for s in self.record_specs}
        """Per column: how many of its values the sketch has taken in (a prefix of the column)."""
        if goodput is None:
            goodput = getattr(config, "goodput", None)
        self.slos = parse_goodput(goodput)
        self._slo_checks = self._build_slo_checks()

        self.request_count = 0
        self.error_count = 0
        self.cancelled_count = 0
        """Profiling requests the client cancelled on purpose (``--request-cancellation-rate``)."""
        self.warmup_count = 0
        self.good_count = 0
        self._errors: Counter[tuple[int | None, str, str]] = Counter()
        self._first_start_ns: int | None = None
        self._last_end_ns: int | None = None
        self._first_scheduled_ns: int | None = None
        self._last_scheduled_ns: int | None = None
        self._last_start_ns: int | None = None
        self._schedule_lag_ms = ValueColumn(spool_dir)
        self._read_delay_ms = ValueColumn(spool_dir)
        """Per profiling request with kernel receive stamps: its longest socket wait (``read_delay_ns``)."""
        self._slot_waits = 0
        """Profiling requests a --concurrency cap held past their scheduled time (rate mode)."""
        self._slot_wait_max_ns = 0
        self._compute_failures: Counter[str] = Counter()
        self.usage_distrusted = 0
        """Successful requests whose usage.completion_tokens contradicted the stream (OSL from the client)."""

    # -- ingestion ---------------------------------------------------------------------------------

    def add(
        self, records: Iterable[RequestRecord], measured: Sequence[MeasuredValues] | None = None
    ) -> list[MeasuredValues]:
        """Take in one batch of finished records (any phase, ok or failed); return each record's metric
        values (:data:`~inferload.record_store.MeasuredValues`: a tuple aligned with :attr:`record_tags`,
        None for a warmup or failed record), for whoever stores them beside the record.

        ``measured``: the values a previous ``add`` returned for these same records (read back from a
        :class:`~inferload.record_store.RecordStore`), used instead of calling the metric plugins again;
        only valid for an accumulator with the same :attr:`record_tags`."""
        computers = self._computers
        out: list[MeasuredValues] = []
        rows: list[tuple[Any, ...]] = []  # the successful records' values, appended per column at the end
        lags: list[float] = []
        kept_cancelled: list[int] = []  # where in ``out`` a cancelled record's values are: kept, not counted
        for index, record in enumerate(records):
            values: MeasuredValues = None
            if record.phase == WARMUP:
                self.warmup_count += 1
                out.append(None)
                continue
            self._track_times(record)
            lags.append(ns_to(record.client_lag_ns, "ms"))
            if record.read_delay_ns is not None:
                self._read_delay_ms.append(ns_to(record.read_delay_ns, "ms"))
            if record.slot_wait_ns > 0:
                self._slot_waits += 1
                self._slot_wait_max_ns = max(self._slot_wait_max_ns, record.slot_wait_ns)
            error = record.error
            if error is None:
                values = measured[index] if measured is not None else None
                if values is None:
                    values = self._measure(record, computers)
                if values is not None:
                    rows.append(values)
                error = record.error
            elif record.cancelled and record.phase == PROFILING:
                values = measured[index] if measured is not None else None
                if values is None:
                    values = self._measure_cancelled(record, computers)
                if values is not None:
                    kept_cancelled.append(len(out))
            out.append(values)
            if error is not None and error.type == ERROR_REQUEST_CANCELLED:
                self.cancelled_count += 1  # abandoned on purpose: neither a success nor an error
                continue
            if error is not None:
                self.error_count += 1
                self._errors[(error.code, error.type, error.message)] += 1
                continue
            self.request_count += 1
            if record.usage_note is not None:
                self.usage_distrusted += 1
        if lags:
            self._schedule_lag_ms.extend(lags)
        out = MeasuredBatch(out)
        out.columns = flatten_values(out, len(computers))
        if rows:
            counted = out.columns
            if kept_cancelled:  # a cancelled request's values stay in its record only, out of every statistic
                successful = list(out)
                for position in kept_cancelled:
                    successful[position] = None
                counted = flatten_values(successful, len(computers))
            self._take(rows, counted, computers)
        fed = self._fed
        for tag, _, column in computers:
            if len(column) - fed[tag] >= SKETCH_FEED_VALUES:
                with self._sketch_lock:
                    self._feed(tag)
        return out

    def add_rows(self, chunk: RecordChunk, mask: np.ndarray, *, values: bool = True) -> int:
        """Take in the records of ``chunk`` (:class:`~inferload.record_columns.RecordChunk`, columns
        aligned with :attr:`record_tags`) that ``mask`` selects, as :meth:`add` would take them in,
        at numpy speed: warmup rows ignored, failed rows counted as errors, cancelled ones as
        cancelled, the metric values and the goodput of the successful ones. Only what :meth:`final` reads
        is kept (no error grouping, client lag or read delays). Returns the profiling rows selected.
        ``values=False``: the counts, span and goodput only, not the metric values (their statistics are
        then given to :meth:`final` as ``record_stats``)."""
        import numpy as np

        from inferload.record_columns import CANCELLED, FAILED, OK, PROFILING

        mask = mask & chunk.has(PROFILING)
        selected = int(np.count_nonzero(mask))
        if not selected:
            return 0
        ok = mask & chunk.has(OK)
        self.error_count += int(np.count_nonzero(mask & chunk.has(FAILED)))
        self.cancelled_count += int(np.count_nonzero(mask & chunk.has(CANCELLED)))
        self.request_count += int(np.count_nonzero(ok))
        starts, ends = chunk.start_ns[mask], chunk.end_ns[mask]
        self._track_span(int(starts.min()), int(ends.max()))
        for position, (tag, _, column) in enumerate(self._computers if values else ()):
            taken = chunk.values(position, ok)
            if taken.size:
                column.extend_array(taken)
                if len(column) - self._fed[tag] >= SKETCH_FEED_VALUES:
                    with self._sketch_lock:
                        self._feed(tag)
        if self._slo_checks:
            self.good_count += int(np.count_nonzero(self._good_rows(chunk, ok)))
        return selected

    def _good_rows(self, chunk: RecordChunk, ok: np.ndarray) -> np.ndarray:
        """The rows of ``ok`` that meet every SLO (:meth:`_is_good`, per row, with numpy)."""
        import numpy as np

        good = ok.copy()
        tags = self.record_tags
        for tag, threshold, higher_is_better in self._slo_checks:
            position = tags.index(tag)
            good &= chunk.present(position)
            values = chunk.values(position)
            missed = values < threshold if higher_is_better else values > threshold
            # per row: how many of its values miss, from the running count at each row's first value
            ends = np.concatenate(([0], np.cumsum(missed, dtype=np.int64)))
            bounds = np.concatenate(([0], np.cumsum(chunk.counts(position), dtype=np.int64)))
            good &= ends[bounds[1:]] == ends[bounds[:-1]]
        return good

    @property
    def tag_units(self) -> list[tuple[str, str]]:
        """``(tag, unit)`` of the run's record metrics, in :attr:`record_tags` order."""
        return self._tag_units

    @property
    def record_tags(self) -> tuple[str, ...]:
        """The run's record metrics, in the order of every :data:`MeasuredValues` tuple."""
        return tuple(spec.name for spec in self.record_specs)

    def _measure(
        self, record: RequestRecord, computers: list[tuple[str, Any, ValueColumn]]
    ) -> MeasuredValues:
        """Every record metric's value of a successful record (None where one does not apply); a metric
        that raises makes the request a ``metric_error`` (set on the record) and returns None: none of
        its values count."""
        values = []
        for tag, compute, _ in computers:
            try:
                values.append(compute(record))
            except Exception as exc:  # noqa: BLE001 - one bad value costs one request, never the run
                self._note_failure(tag, exc)
                record.error = RequestError(
                    ERROR_METRIC, f"metric {tag!r} failed on this response: {type(exc).__name__}: {exc}"
                )
                return None
        return tuple(values)

    def _measure_cancelled(
        self, record: RequestRecord, computers: list[tuple[str, Any, ValueColumn]]
    ) -> MeasuredValues:
        """What a cancelled request (the user's stop, a grace cut, --request-cancellation-rate) did deliver
        before the cut: each record metric's value on the partial record, None where it is not defined
        (no first token yet) or its plugin cannot take a cut-short response. Kept in the request's record
        only: a cancelled request enters no run statistic (docs/metrics.md, "Cancelled requests")."""
        if record.status is None or not record.chunk_ns:  # nothing arrived: nothing was measured
            return None
        values = []
        for _, compute, _ in computers:
            try:
                values.append(compute(record))
            except Exception:  # noqa: BLE001 - a partial response lacks what some metrics need: not defined
                values.append(None)
        return tuple(values) if any(value is not None for value in values) else None

    def _take(
        self,
        rows: list[tuple[Any, ...]],
        flat: list[tuple[Any, Any]],
        computers: list[tuple[str, Any, ValueColumn]],
    ) -> None:
        """Append a batch's values to their columns, one ``extend`` per column from the batch's values per
        metric (``flat``, :func:`~inferload.record_columns.flatten_values`; the statistics do not depend
        on the order of the values), and count the successful records (``rows``) against the SLOs."""
        for (_, numbers), (_, _, column) in zip(flat, computers, strict=True):
            if numbers:
                column.extend(numbers)
        if self._slo_checks:
            tags = [tag for tag, _, _ in computers]
            for row in rows:
                present = {tag: value for tag, value in zip(tags, row, strict=True) if value is not None}
                if self._is_good(present):
                    self.good_count += 1

    def metrics_of(self, record: RequestRecord, values: MeasuredValues) -> dict[str, dict[str, Any]]:
        """One request's ``{tag: {"value", "unit"}}`` as :meth:`record_metrics` gives it, from its
        :data:`MeasuredValues` when they are known (``add`` returned them), without calling a metric
        again; computed when ``values`` is None."""
        if values is None:
            return self.record_metrics(record)
        return {tag: {"value": value, "unit": unit}
                for (tag, unit), value in zip(self._tag_units, values, strict=True) if value is not None}

    def write_error(self) -> OSError | None:
        """The first failed spill of a value column (a full disk; its values stayed in memory), or None."""
        for column in (*self._columns.values(), self._schedule_lag_ms, self._read_delay_ms):
            if column.write_error is not None:
                return column.write_error
        return None

    def _feed(self, tag: str) -> None:
        """Pass the values appended to ``tag``'s column since the last feed to its sketch (lock held)."""
        if not self._live:
            return
        start = self._fed[tag]
        column = self._columns[tag]
        pending = column.tail[start - column.spilled:]  # a copy, taken in one GIL-atomic step
        if pending:
            self._sketches[tag].add(pending)
            self._fed[tag] = start + len(pending)

    def _track_span(self, first_start_ns: int, last_end_ns: int) -> None:
        if self._first_start_ns is None or first_start_ns < self._first_start_ns:
            self._first_start_ns = first_start_ns
        if self._last_end_ns is None or last_end_ns > self._last_end_ns:
            self._last_end_ns = last_end_ns

    def _track_times(self, record: RequestRecord) -> None:
        if self._first_start_ns is None or record.start_ns < self._first_start_ns:
            self._first_start_ns = record.start_ns
        if self._last_start_ns is None or record.start_ns > self._last_start_ns:
            self._last_start_ns = record.start_ns
        if self._last_end_ns is None or record.end_ns > self._last_end_ns:
            self._last_end_ns = record.end_ns
        if self._first_scheduled_ns is None or record.scheduled_ns < self._first_scheduled_ns:
            self._first_scheduled_ns = record.scheduled_ns
        if self._last_scheduled_ns is None or record.scheduled_ns > self._last_scheduled_ns:
            self._last_scheduled_ns = record.scheduled_ns

    def _note_failure(self, tag: str, exc: Exception) -> None:
        """Counted here, reported under the one rule for plugin failures (once, naming the plugin)."""
        self._compute_failures[tag] += 1
        self._registry.hooks.report(self._registry.provider("metric", tag), f"metric {tag!r}", exc,
                                    consequence="that request is counted as a metric_error")

    # -- results -----------------------------------------------------------------------------------

    @property
    def observed_duration_ns(self) -> int | None:
        """First profiling request start to the last response end seen so far."""
        if self._first_start_ns is None or self._last_end_ns is None:
            return None
        return max(0, self._last_end_ns - self._first_start_ns)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Live stats of everything seen so far, for ``state.live_metrics`` (tag -> stats block).

        Read from the streaming sketches: count, sum, avg, min and max exact, std exact up to float
        rounding, percentiles within 0.5 % (:mod:`inferload.sketch`). Costs a feed of the values that
        arrived since the last one plus O(buckets) per metric, however long the run.
        """
        return self._results(self.observed_duration_ns, final=False)

    def final(
        self, benchmark_duration_ns: int | None = None,
        record_stats: Mapping[str, dict[str, Any]] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """The end-of-run results, tag -> stats block, in display order.

        ``benchmark_duration_ns`` is the engine's measure of the profiling phase; by default it is the
        span from the first request's start to the last response's end. ``record_stats``: each record
        metric's exact stats computed elsewhere (:meth:`stats_without` of another accumulator), used
        instead of this one's columns.
        """
        duration = self.observed_duration_ns if benchmark_duration_ns is None else benchmark_duration_ns
        return self._results(duration, final=True, record_stats=record_stats)

    def value_count(self, tag: str) -> int:
        """How many values record metric ``tag`` holds (NaN included; a list metric counts each)."""
        return len(self._columns[tag])

    def stats_without(self, excluded: Mapping[str, np.ndarray]) -> dict[str, dict[str, Any]] | None:
        """Each record metric's exact final stats (tag -> stats as ``ValueColumn.stats`` gives them) of
        this run's values less ``excluded`` (tag -> values, a sub-multiset of that metric's values: those
        of the requests a subset leaves out), for :meth:`final`'s ``record_stats``; None when a metric's
        excluded values hold an inf or NaN. Costs about what :meth:`final` does, whatever the run's length."""
        import numpy as np

        out: dict[str, dict[str, Any]] = {}
        for tag, column in self._columns.items():
            with self._sketch_lock:
                stats = column.stats_without(excluded.get(tag, np.zeros(0)))
            if stats is None:
                return None
            out[tag] = stats
        return out

    def _results(
        self, duration_ns: int | None, *, final: bool,
        record_stats: Mapping[str, dict[str, Any]] | None = None,
    ) -> dict[str, dict[str, Any]]:
        results: dict[str, dict[str, Any]] = {}
        for spec in self.record_specs:
            tag = spec.name
            with self._sketch_lock:
                self._feed(tag)
                sketch = self._sketches[tag]
                # final: exact, from the column's sorted runs on disk and its tail (the values the
                # sketch holds, as the feed just took them all)
                if record_stats is not None:
                    stats = record_stats.get(tag, {"count": 0})
                else:
                    stats = self._columns[tag].stats() if final else sketch.stats()
            if not stats["count"]:
                continue
            results[tag] = record_block(spec, stats)
        for specs in (self.aggregate_specs, self.derived_specs):
            for spec in specs:
                summary = RunSummary(
                    request_count=self.request_count,
                    error_count=self.error_count,
                    cancelled_count=self.cancelled_count,
                    benchmark_duration_ns=duration_ns,
                    metrics=results,
                    good_count=self.good_count if self.slos else None,
                    slos=self.slos,
                    final=final,
                )
                try:
                    value = spec.compute(summary)
                except Exception as exc:  # noqa: BLE001 - a broken metric is reported, not fatal
                    self._note_failure(spec.name, exc)
                    continue
                if value is not None:
                    results[spec.name] = aggregate_block(spec, value)
        return results

    def record_metrics(self, record: RequestRecord) -> dict[str, dict[str, Any]]:
        """One request's own metric values, ``{tag: {"value", "unit"}}`` (for profile_export.jsonl).

        Failed requests have none; warmup requests get theirs computed like any other (the export marks
        their phase).
        """
        if record.error is not None:
            return {}
        values: dict[str, dict[str, Any]] = {}
        for spec in self.record_specs:
            try:
                value = spec.compute(record)
            except Exception as exc:  # noqa: BLE001 - same isolation as during the run
                self._note_failure(spec.name, exc)
                continue
            if value is not None:
                values[spec.name] = {"value": value, "unit": spec.unit}
        return values

    def error_summary(self, scrub: Callable[[str], str] | None = None) -> list[dict[str, Any]]:
        """Profiling errors grouped by (code, type, message with ids normalised), most frequent first, in
        AIPerf's layout, plus a ``hint`` (likely cause and flag to change) where one fits.

        ``scrub`` (e.g. secret redaction) is applied to each message *before* its ids are normalised, so
        a secret is still recognised whole."""
        from inferload.hints import hint_for

        grouped: Counter[tuple[int | None, str, str]] = Counter()
        for (code, kind, message), count in self._errors.items():
            grouped[(code, kind, normalise_message(scrub(message) if scrub else message))] += count
        counts = sorted(grouped.items(), key=lambda item: -item[1])  # ties keep first-seen order
        summary = []
        for (code, kind, message), count in counts:
            entry: dict[str, Any] = {
                "error_details": {"code": code, "type": kind, "message": message}, "count": count
            }
            hint = hint_for(kind, code, message)
            if hint is not None:
                entry["hint"] = hint
            summary.append(entry)
        return summary

    def schedule_lag_stats(self) -> dict[str, Any] | None:
        """Stats (ms) of the client's own lateness per profiling request (``RequestRecord.client_lag_ns``:
        ready to hand-over, without slot waits or connection set-up)."""
        stats = self._schedule_lag_ms.stats()
        if not stats["count"]:
            return None
        return {"unit": "ms", **stats}

    def read_delay_stats(self) -> dict[str, Any] | None:
        """Stats (ms) over profiling requests of how long response bytes waited in the socket before the
        worker read them (``RequestRecord.read_delay_ns``, the longest per request); None when no request
        was stamped with kernel receive times."""
        stats = self._read_delay_ms.stats()
        if not stats["count"]:
            return None
        return {"unit": "ms", **stats}

    def client_warnings(self, lag_stats: Mapping[str, Any] | None = None) -> list[str]:
        """Plain-language warnings when the client, not the server, limited the run.

        Two signs: the client handed requests to its transport well after they could go (p99 of its own
        lag above :data:`SCHEDULE_LAG_WARN_MS`), or they went out slower than the schedule asked
        (:data:`RATE_SHORTFALL_WARN`). Either means the reported latencies and rates understate the load.
        A shortfall caused by a ``--concurrency`` cap waiting for the server's answers is reported as that,
        not as client overload.
        """
        warnings: list[str] = []
        lag = lag_stats if lag_stats is not None else self.schedule_lag_stats()
        if lag and self._lag_matters(lag):
            warnings.append(
                f"client overloaded: requests started {lag['p99']:.2f} ms (p99 of {lag['count']:,}) after "
                f"they could go, {lag['p99'] / self._mean_latency_ms():.0%} of the mean request latency; "
                f"{self._overload_advice()}"
            )
        if (
            self._first_scheduled_ns is not None
            and self._last_scheduled_ns is not None
            and self._first_start_ns is not None
            and self._last_start_ns is not None
        ):
            sent = self.request_count + self.error_count + self.cancelled_count
            scheduled_rate = per_second(sent - 1, self._last_scheduled_ns - self._first_scheduled_ns)
            achieved_rate = per_second(sent - 1, self._last_start_ns - self._first_start_ns)
            if sent >= 10 and scheduled_rate and achieved_rate is not None and \
                    achieved_rate < RATE_SHORTFALL_WARN * scheduled_rate:
                if self._slot_waits:
                    held_ms = ns_to(self._slot_wait_max_ns, "ms")
                    warnings.append(
                        f"requests went out at {achieved_rate:,.1f}/s against a schedule of "
                        f"{scheduled_rate:,.1f}/s because the --concurrency cap held {self._slot_waits} of "
                        f"{sent} until a slot came free (up to {held_ms:,.1f} ms): "
                        "the server answered slower than the schedule, not the client; raise --concurrency "
                        f"or {self._slower_schedule()}"
                    )
                else:
                    warnings.append(
                        f"client could not keep up: requests went out at {achieved_rate:,.1f}/s against a "
                        f"schedule of {scheduled_rate:,.1f}/s; {self._overload_advice()}"
                    )
        warnings.extend(self._itl_distortion_warnings())
        return warnings

    def _itl_distortion_warnings(self) -> list[str]:
        """Warnings when the client's reads distorted the gaps between chunks (docs/metrics.md, "Merged
        reads"): a share of inter-chunk gaps under :data:`MERGED_GAP_MS` (two chunks read in one socket
        read share one stamp) at or above :data:`MERGED_GAP_WARN_SHARE`, or response bytes that waited in
        the socket (``read_delay`` p99) beyond :data:`READ_DELAY_WARN_MS`."""
        warnings = []
        gaps = self._columns.get("inter_chunk_latency")
        total = len(gaps) if gaps is not None else 0
        delay = self.read_delay_stats()
        if total >= MERGED_GAP_MIN_SAMPLE and gaps is not None:
            merged = gaps.count_below(MERGED_GAP_MS)
            if merged / total >= MERGED_GAP_WARN_SHARE:
                warnings.append(
                    f"merged reads: {merged:,} of {total:,} inter-chunk gaps ({merged / total:.1%}) are "
                    f"under {MERGED_GAP_MS * 1000:.0f} µs: chunks that reached the client in one socket read "
                    "share one stamp, so ITL and inter-chunk latency are distorted (a 0 gap, then a long "
                    f"one); {self._merged_cause(gaps, merged, delay)}"
                )
        if delay and delay["count"] >= READ_DELAY_MIN_SAMPLE and delay["p99"] > READ_DELAY_WARN_MS:
            warnings.append(
                f"slow reads: response bytes waited up to {delay['p99']:.1f} ms (p99 of {delay['count']:,} "
                "requests) in the socket before the client read them; their kernel receive stamps keep "
                "that wait out of TTFT and ITL, but chunks that arrive closer together than it share one "
                f"read and one stamp (docs/metrics.md, \"Merged reads\"); {_READ_ADVICE}"
            )
        return warnings

    def _merged_cause(self, gaps: Any, merged: int, delay: Mapping[str, Any] | None) -> str:
        """Which side merged the chunks, by what the run measured (docs/metrics.md, "Merged reads").

        With kernel receive stamps (``read_delay`` measured) the client read late when its reads waited
        (``read_delay`` p99) at least as long as the median gap between chunks that were not merged: a wait
        that long holds two chunks. A shorter wait cannot merge chunks spaced like the rest, so the server
        sent them together (several events per write or segment, or writes microseconds apart). With
        user-space stamps nothing tells the two apart, and the line says both."""
        if delay is None or not delay.get("count"):
            return ("either the client read late or the server sent them together (this transport stamps "
                    "reads in user space and cannot tell: the protocol transport over http:// on Linux "
                    f"can); if the client was busy, {_READ_ADVICE}")
        wait = float(delay["p99"])
        apart = len(gaps) - merged
        if apart and (gaps.count_below(wait) - merged) * 2 >= apart:
            return (f"the client read late: received bytes waited up to {wait:.2f} ms (read delay p99) in "
                    f"the socket, at least the median gap between chunks; {self._overload_advice()}")
        return (f"the client read promptly (read delay p99 {wait:.2f} ms, under the median gap between "
                "chunks), so the server sent these chunks together (several events per write, or writes "
                "microseconds apart): ITL here measures how the server writes, not its token steps, and no "
                "client setting changes it")

    def _slower_schedule(self) -> str:
        """How to send on a slower schedule, by what timed this run: ``lower --request-rate`` or what the
        timed arrival pattern says (a replay: ``lower --fixed-schedule-speedup``)."""
        timed = getattr(self._config, "timed_load", None)
        return "lower --request-rate" if timed is None else str(timed.slower)

    def _lag_matters(self, lag: Mapping[str, Any]) -> bool:
        """The overload rule (see :data:`SCHEDULE_LAG_WARN_MS` and the two after it)."""
        p99 = float(lag.get("p99", 0.0))
        mean = self._mean_latency_ms()
        return (int(lag.get("count", 0)) >= SCHEDULE_LAG_MIN_SAMPLE and p99 > SCHEDULE_LAG_WARN_MS
                and mean > 0 and p99 >= SCHEDULE_LAG_WARN_SHARE * mean)

    def _mean_latency_ms(self) -> float:
        column = self._columns.get("request_latency")
        return column.mean() if column is not None else 0.0

    def _overload_advice(self) -> str:
        """What to do about a late client, by cause: a machine busy with other work, too few workers for
        the cores, or a client already on every core."""
        from inferload.engine.schedule import default_workers, usable_cpus

        cores = usable_cpus()
        config = self._config
        cap = getattr(config, "effective_concurrency", None)
        workers = getattr(config, "workers", None) or (default_workers(config) if config is not None else 1)
        workers = min(workers, cap) if cap else workers
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
        if load > cores and load - workers >= 1:
            return (f"the machine is busy (load average {load:.1f} on {cores} cores, {workers} of it "
                    "inferload's workers): other processes take CPU from the client; rerun on a quieter "
                    "machine or lower the load")
        if workers < cores and (cap is None or workers < cap):
            return f"add --workers ({workers} now, {cores} cores) or lower the load"
        return f"every core ({cores}) already runs a worker: lower the load or use a larger machine"

    def measurement_warnings(self) -> list[str]:
        """Plain-language warnings about the figures themselves (not the client): responses whose usage
        contradicted what was streamed, so OSL fell back to the client-side count."""
        warnings: list[str] = []
        if self.usage_distrusted:
            warnings.append(
                f"{self.usage_distrusted} of {self.request_count} successful responses reported "
                "usage.completion_tokens that contradicts the streamed output (zero, or fewer tokens than "
                "output chunks); their output sequence length is the client-side count (gateways often "
                "send zeros or estimates; see usage_note in profile_export.jsonl)"
            )
        return warnings

    @property
    def compute_failures(self) -> dict[str, int]:
        """Metric tag -> how many requests its compute raised on (normally empty)."""
        return dict(self._compute_failures)

    # -- helpers -----------------------------------------------------------------------------------

    def _applies(self, spec: MetricSpec) -> bool:
        return all(req in self.capabilities for req in spec.requires if req in RUN_CAPABILITIES)

    def _build_slo_checks(self) -> list[tuple[str, float, bool]]:
        checks = []
        available = {s.name for s in self.record_specs}
        for tag, threshold in self.slos.items():
            if tag not in available:
                choices = ", ".join(sorted(available)) or "none"
                why = f" ({self._missing_for(self.specs[tag])})" if tag in self.specs else ""
                raise UsageError(
                    f"--goodput names metric {tag!r}{why}; SLOs can use per-request metrics: {choices}"
                )
            checks.append((tag, threshold, self.specs[tag].higher_is_better))
        return checks

    def _missing_for(self, spec: MetricSpec) -> str:
        """Why ``spec`` does not apply to this run, as the fix: ``it needs --streaming``."""
        missing = [req for req in spec.requires if req in RUN_CAPABILITIES and req not in self.capabilities]
        if STREAMING in missing:
            return "it needs --streaming"
        if TOKENS in missing:
            return "it needs token counts, which this endpoint type does not produce"
        return "it does not apply to this run"

    def _is_good(self, row: Mapping[str, Any]) -> bool:
        """A request is good when it has a value for every SLO tag and each value meets its threshold:
        at least the threshold for higher-is-better metrics (throughput), at most it for the rest."""
        for tag, threshold, higher_is_better in self._slo_checks:
            value = row.get(tag)
            if value is None:
                return False
            values = value if isinstance(value, list) else (value,)
            if higher_is_better:
                if any(v < threshold for v in values):
                    return False
            elif any(v > threshold for v in values):
                return False
        return True


_ID_PATTERNS = (
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<id>"),
    (re.compile(r"(?<=[-_:=])(?=[A-Za-z_-]*[0-9])[A-Za-z0-9_]{6,}"), "<id>"),
    (re.compile(r"\b(?=[a-zA-Z]*[0-9])(?=[0-9]*[a-zA-Z])[A-Za-z0-9]{12,}\b"), "<id>"),
    (re.compile(r"(?i)(?<![\w-])((?:request|req|trace|span|session|seq|sequence|chunk|call|conversation)"
                r"[ _-]?(?:id|number|no)?|id|#)([ :=#]*)[0-9]+\b"), r"\1\2<n>"),
)


def normalise_message(message: str) -> str:
    """An error message with its per-request ids replaced, so ``error_summary`` groups by kind: UUIDs,
    suffixes like ``chatcmpl-3f9a1c07`` or ``req_8842a1``, long alphanumeric tokens with digits, and a
    number that follows an id word (``request 1234``, ``id=77``, ``#12``) become ``<id>``/``<n>``. Plain
    numbers stay, whatever their size: sizes, limits, status codes and token counts are the same for every
    request and tell the user what went wrong (``larger than 16777216 bytes``)."""
    for pattern, placeholder in _ID_PATTERNS:
        message = pattern.sub(placeholder, message)
    return message


def record_block(spec: MetricSpec, stats: Mapping[str, Any]) -> dict[str, Any]:
    """A per-request metric's stats in AIPerf's live layout: unit, avg, p1…p99, min, max, std, count, sum,
    header."""
    return {"unit": spec.unit, **stats, "header": spec.header}


def aggregate_block(spec: MetricSpec, value: float) -> dict[str, Any]:
    """A run-level metric in AIPerf's live layout: unit, avg (the value), count 1, header."""
    return {"unit": spec.unit, "avg": float(value), "count": 1, "header": spec.header}


def is_aggregate(block: Mapping[str, Any]) -> bool:
    """True for a run-level value (no distribution): its block has an ``avg`` but no ``min``."""
    return "min" not in block
