"""Server-side metrics beside the client's: scraped Prometheus samples as per-interval values, run stats.

The run-scoped state of the server-metrics family (``state.plugin_state("server-metrics")``, created per
run by ``run_store``): the scraper plugin polls each source off the hot path and hands every exposition
body to :meth:`ServerMetricsStore.ingest`; routers, exporters and the summary section read the store.
What the store keeps for each scrape, per series (family name plus labels):

- counters: the rate over the interval since the previous scrape (per second); a reset starts over;
- gauges (and untyped or unknown families): the value as scraped;
- histograms: the interval's own observations (bucket deltas): count, avg, p50, p90, p99, where a
  quantile is interpolated linearly inside its bucket as Prometheus' ``histogram_quantile`` does;
- summaries: their quantile and sum/count samples as gauges.

Known families carry a *meaning* from a ``server_metric_map`` plugin (what it measures, the unit, the
scale from the exposed unit), e.g. ``vllm:time_to_first_token_seconds`` is ``time_to_first_token`` in ms.
Unknown families are kept raw. Definitions of every figure: ``docs/server-metrics.md``.

Memory stays bounded at any run length: each scrape (ok or failed) is appended to a spool (JSON lines in a
temporary file) as it arrives; memory holds only the per-source status, the per-series state rates and
deltas need, and each source's latest good scrape. Readers that need every scrape (server_metrics.jsonl,
the summary block) stream the spool with :meth:`ServerMetricsStore.scrapes`; :meth:`~ServerMetricsStore.close`
deletes it.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import os
import tempfile
import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from inferload.types import FamilyMeaning, ServerMetricMapSpec
from inferload_plugins.server_metrics.exposition import parse_exposition
from inferload_plugins.server_metrics.histograms import histogram_stats

STATE_NAME = "server-metrics"
"""The run state holding the run's store: ``state.plugin_state(STATE_NAME)`` (the name routers, exporters and
integrations of other families spell out, as they may not import this one)."""


@dataclass
class _Series:
    family: str
    kind: str
    labels: dict[str, str]
    last_value: float | None = None
    last_buckets: dict[float, float] | None = None
    last_sum: float = 0.0
    last_count: float = 0.0


@dataclass
class SourceStatus:
    """One scrape target as the store saw it. Times are wall-clock ns."""

    url: str
    """Redacted URL (userinfo replaced)."""
    kind: str
    """``server`` (Prometheus endpoint of the inference server) or ``gpu`` (DCGM exporter)."""
    discovered: bool
    """True for ``{url}/metrics`` found automatically; False for a URL the user gave."""
    scrapes_ok: int = 0
    scrapes_failed: int = 0
    first_error: str | None = None
    gaps: list[dict[str, Any]] = field(default_factory=list)
    """Runs of failed scrapes: ``{start_ns, end_ns, scrapes_missed, error}``."""
    maps: list[str] = field(default_factory=list)
    """Names of the metric maps whose families this source exported."""

    @property
    def status(self) -> str:
        if not self.scrapes_failed:
            return "ok" if self.scrapes_ok else "not scraped"
        return "unavailable" if not self.scrapes_ok else "gaps"

    def as_dict(self) -> dict[str, Any]:
        return {"url": self.url, "kind": self.kind, "discovered": self.discovered, "status": self.status,
                "scrapes_ok": self.scrapes_ok, "scrapes_failed": self.scrapes_failed,
                "first_error": self.first_error, "maps": list(self.maps), "gaps": list(self.gaps)}


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


class ServerMetricsStore:
    """Every scrape of the run, in arrival order, spooled to a temporary file; thread-safe (scraper threads
    write, readers stream what was written when they started).

    ``maps`` are the ``server_metric_map`` specs that give known families their meaning; ``spool_dir`` is
    where the spool goes (the system's temporary directory when None).
    """

    def __init__(self, maps: Iterable[ServerMetricMapSpec] = (),
                 spool_dir: str | os.PathLike[str] | None = None) -> None:
        self._lock = threading.Lock()
        self._meanings: dict[str, tuple[str, FamilyMeaning]] = {}
        for spec in maps:
            for family, meaning in spec.families.items():
                self._meanings.setdefault(family, (spec.name, meaning))
                # the parser names counter samples `x_total` even when the server exposed `x` (TGI, DCGM)
                if not family.endswith("_total"):
                    self._meanings.setdefault(f"{family}_total", (spec.name, meaning))
        self.sources: dict[str, SourceStatus] = {}
        self._spool_dir = spool_dir
        self._spool: Any = None  # the append handle, opened with the first scrape
        self._spool_path: str | None = None
        self._spool_bytes = 0
        self._count = 0
        self._latest: dict[str, dict[str, Any]] = {}
        self._series: dict[tuple[str, str, tuple[tuple[str, str], ...]], _Series] = {}
        self._last_ok_ns: dict[str, int] = {}

    # -- writing (scraper threads) ---------------------------------------------------------------

    def add_source(self, url: str, kind: str, *, discovered: bool = False) -> None:
        """Declare a target before its first scrape (``url`` already redacted)."""
        with self._lock:
            self.sources.setdefault(url, SourceStatus(url=url, kind=kind, discovered=discovered))

    def meaning(self, family: str) -> tuple[str, FamilyMeaning] | None:
        """(map name, meaning) of a known family, or None for a raw one."""
        return self._meanings.get(family)

    @property
    def meanings(self) -> Mapping[str, tuple[str, FamilyMeaning]]:
        """Every known family name -> (map name, meaning); read-only."""
        return self._meanings

    def ingest(self, url: str, text: str, timestamp_ns: int) -> int:
        """Parse one exposition body of source ``url``; returns the number of series read.

        Raises :class:`ScrapeError` when the body is not Prometheus text (nothing is kept then).
        """
        families = parse_exposition(text)
        with self._lock:
            source = self.sources[url]
            previous_ns = self._last_ok_ns.get(url)
            dt = (timestamp_ns - previous_ns) / 1e9 if previous_ns is not None else None
            rows = []
            maps = set(source.maps)
            for family in families:
                known = self._meanings.get(family["name"])
                if known:
                    maps.add(known[0])
                for row in self._rows(url, family, dt):
                    if known:
                        row["concept"] = known[1].concept
                        row["unit"] = known[1].unit
                    rows.append(row)
            source.maps = sorted(maps)
            source.scrapes_ok += 1
            if source.gaps and source.gaps[-1]["end_ns"] is None:
                source.gaps[-1]["end_ns"] = timestamp_ns
            self._last_ok_ns[url] = timestamp_ns
            scrape = {"timestamp_ns": timestamp_ns, "source": url, "kind": source.kind, "ok": True,
                      "series": rows}
            self._latest[url] = scrape
            self._append(scrape)
        return len(rows)

    def failed(self, url: str, error: str, timestamp_ns: int) -> bool:
        """Record a failed scrape of ``url``; True when it is the source's first failure."""
        with self._lock:
            source = self.sources[url]
            first = source.scrapes_failed == 0
            source.scrapes_failed += 1
            source.first_error = source.first_error or error
            gap = source.gaps[-1] if source.gaps else None
            if gap is None or gap["end_ns"] is not None:
                source.gaps.append({"start_ns": timestamp_ns, "end_ns": None, "scrapes_missed": 1,
                                    "error": error})
            else:
                gap["scrapes_missed"] += 1
            self._append({"timestamp_ns": timestamp_ns, "source": url, "kind": source.kind,
                          "ok": False, "error": error, "series": []})
        return first

    def _append(self, scrape: Mapping[str, Any]) -> None:
        """Spool one scrape (the lock is held)."""
        if self._spool is None:
            fd, self._spool_path = tempfile.mkstemp(prefix="inferload-server-metrics-", suffix=".jsonl",
                                                    dir=self._spool_dir)
            self._spool = os.fdopen(fd, "wb")
            # deleted when the store is collected or the process exits, if close() was never reached
            self._finalizer = weakref.finalize(self, _unlink, self._spool_path)
        data = json.dumps(scrape).encode() + b"\n"
        self._spool.write(data)
        self._spool.flush()
        self._spool_bytes += len(data)
        self._count += 1

    def _rows(self, url: str, family: Mapping[str, Any], dt: float | None) -> list[dict[str, Any]]:
        name, kind = family["name"], family["type"]
        meaning = self._meanings.get(name)
        scale = meaning[1].scale if meaning else 1.0
        rows = []
        for labels, sample in family["series"].items():
            key = (url, name, labels)
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = _Series(family=name, kind=kind, labels=dict(labels))
            row: dict[str, Any] = {"family": name, "type": kind, "labels": dict(labels)}
            if kind == "counter":
                value = sample["value"]
                previous, series.last_value = series.last_value, value
                if previous is None and dt:
                    previous = 0.0  # absent from the source's last good scrape: it counted nothing yet
                row["total"] = value * scale
                if previous is not None and dt:
                    row["rate"] = (value - previous if value >= previous else value) * scale / dt
            elif kind == "histogram":
                buckets, total_sum, count = sample["buckets"], sample["sum"], sample["count"]
                last = series.last_buckets
                if last is not None:
                    reset = count < series.last_count
                    delta = buckets if reset else {le: c - last.get(le, 0.0) for le, c in buckets.items()}
                    d_count = count if reset else count - series.last_count
                    d_sum = total_sum if reset else total_sum - series.last_sum
                    row.update(histogram_stats(delta, d_count, d_sum, scale))
                series.last_buckets, series.last_sum, series.last_count = buckets, total_sum, count
            else:
                row["value"] = sample["value"] * scale
            rows.append(row)
        return rows

    # -- reading ---------------------------------------------------------------------------------

    def source_dicts(self) -> list[dict[str, Any]]:
        """Every source as a dict (:meth:`SourceStatus.as_dict`) — copies, safe to serialise while
        scraping goes on."""
        with self._lock:
            return [s.as_dict() for s in self.sources.values()]

    def mark(self) -> int:
        """Where the spool ends now: pass it to :meth:`scrapes` so that several passes see the same
        scrapes while scraping goes on."""
        with self._lock:
            return self._spool_bytes

    @property
    def scrape_count(self) -> int:
        """How many scrape attempts (ok or failed) were recorded."""
        with self._lock:
            return self._count

    def scrapes(self, mark: int | None = None) -> Iterator[dict[str, Any]]:
        """Every scrape attempt up to ``mark`` (default: those recorded so far), in arrival order, read
        back from the spool one at a time: ``{timestamp_ns, source, kind, ok, error?, series: [...]}``."""
        with self._lock:
            end = self._spool_bytes if mark is None else mark
            path = self._spool_path
        if path is None or not end:
            return
        with open(path, "rb") as spool:
            read = 0
            for line in spool:
                read += len(line)
                if read > end:
                    return
                yield json.loads(line)

    def scrapes_in_time_order(self, mark: int | None = None) -> Iterator[dict[str, Any]]:
        """:meth:`scrapes` ordered by ``timestamp_ns`` (ties in arrival order), streamed: each source's
        scrapes arrive in time order (one poller per source), so this merges one pass per source."""
        end = self.mark() if mark is None else mark
        with self._lock:
            urls = list(self.sources)

        def of(url: str) -> Iterator[tuple[int, int, dict[str, Any]]]:
            for index, scrape in enumerate(self.scrapes(end)):
                if scrape["source"] == url:
                    yield scrape["timestamp_ns"], index, scrape

        for _, _, scrape in heapq.merge(*(of(url) for url in urls)):
            yield scrape

    def latest(self) -> list[dict[str, Any]]:
        """The last successful scrape of each source (held in memory; no spool read)."""
        with self._lock:
            return list(self._latest.values())

    def close(self) -> None:
        """Delete the spool (after the last reader); the sources and latest scrapes stay readable."""
        with self._lock:
            spool, self._spool = self._spool, None
            if spool is not None:
                spool.close()
                self._finalizer()
            self._spool_path, self._spool_bytes = None, 0

    def warnings(self) -> list[str]:
        """One line per source that failed: an explicit one always, a discovered one only when it had
        answered before (a server without ``/metrics`` is not a fault)."""
        lines = []
        for source in self.source_dicts():
            if not source["scrapes_failed"] or (source["discovered"] and not source["scrapes_ok"]):
                continue
            total = source["scrapes_ok"] + source["scrapes_failed"]
            lines.append(f"{'GPU telemetry' if source['kind'] == 'gpu' else 'server metrics'} from "
                         f"{source['url']}: {source['scrapes_failed']} of {total} scrapes failed "
                         f"({source['first_error']}); the gaps are in server_metrics.jsonl")
        return lines
