"""Server-side metrics beside the client's: scraped Prometheus samples as per-interval values, run stats.

A scraper plugin (``inferload_plugins.server_metrics.scraper``) polls each source off the hot path and
hands every exposition body to :meth:`ServerMetricsStore.ingest`; routers, exporters and the summary read
the store. What the store keeps for each scrape, per series (family name plus labels):

- counters: the rate over the interval since the previous scrape (per second); a reset starts over;
- gauges (and untyped or unknown families): the value as scraped;
- histograms: the interval's own observations (bucket deltas): count, avg, p50, p90, p99, where a
  quantile is interpolated linearly inside its bucket as Prometheus' ``histogram_quantile`` does;
- summaries: their quantile and sum/count samples as gauges.

Known families carry a *meaning* from a ``server_metric_map`` plugin (what it measures, the unit, the
scale from the exposed unit), e.g. ``vllm:time_to_first_token_seconds`` is ``time_to_first_token`` in ms.
Unknown families are kept raw. Definitions of every figure: ``docs/server-metrics.md``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from inferload.types import FamilyMeaning, ServerMetricMapSpec

QUANTILES: tuple[tuple[str, float], ...] = (("p50", 0.50), ("p90", 0.90), ("p99", 0.99))

COMPARED: tuple[str, ...] = ("time_to_first_token", "inter_token_latency", "request_latency")
"""Concepts the server and the client both measure; compared over the profiling phase (client tag = name)."""


class ScrapeError(Exception):
    """A scrape that yielded no samples: connection refused, timeout, HTTP status, unparsable body."""


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


class ServerMetricsStore:
    """Every scrape of the run, in arrival order; thread-safe (scraper threads write, readers copy).

    ``maps`` are the ``server_metric_map`` specs that give known families their meaning.
    """

    def __init__(self, maps: Iterable[ServerMetricMapSpec] = ()) -> None:
        self._lock = threading.Lock()
        self._meanings: dict[str, tuple[str, FamilyMeaning]] = {}
        for spec in maps:
            for family, meaning in spec.families.items():
                self._meanings.setdefault(family, (spec.name, meaning))
                # the parser names counter samples `x_total` even when the server exposed `x` (TGI, DCGM)
                if not family.endswith("_total"):
                    self._meanings.setdefault(f"{family}_total", (spec.name, meaning))
        self.sources: dict[str, SourceStatus] = {}
        self.scrapes: list[dict[str, Any]] = []
        """One entry per scrape attempt: ``{timestamp_ns, source, kind, ok, error?, series: [...]}``."""
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
            self.scrapes.append({"timestamp_ns": timestamp_ns, "source": url, "kind": source.kind,
                                 "ok": True, "series": rows})
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
            self.scrapes.append({"timestamp_ns": timestamp_ns, "source": url, "kind": source.kind,
                                 "ok": False, "error": error, "series": []})
        return first

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

    def snapshot(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(sources as dicts, scrapes so far) — copies, safe to serialise while scraping goes on."""
        with self._lock:
            return [s.as_dict() for s in self.sources.values()], list(self.scrapes)

    def latest(self) -> list[dict[str, Any]]:
        """The last successful scrape of each source."""
        _, scrapes = self.snapshot()
        last: dict[str, dict[str, Any]] = {}
        for scrape in scrapes:
            if scrape["ok"]:
                last[scrape["source"]] = scrape
        return list(last.values())

    def warnings(self) -> list[str]:
        """One line per source that failed: an explicit one always, a discovered one only when it had
        answered before (a server without ``/metrics`` is not a fault)."""
        lines = []
        sources, _ = self.snapshot()
        for source in sources:
            if not source["scrapes_failed"] or (source["discovered"] and not source["scrapes_ok"]):
                continue
            total = source["scrapes_ok"] + source["scrapes_failed"]
            lines.append(f"{'GPU telemetry' if source['kind'] == 'gpu' else 'server metrics'} from "
                         f"{source['url']}: {source['scrapes_failed']} of {total} scrapes failed "
                         f"({source['first_error']}); the gaps are in server_metrics.jsonl")
        return lines

    def summary(self, windows: Mapping[str, tuple[int, int] | None],
                client_metrics: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
        """The ``server_metrics`` block of profile_export.json.

        ``windows`` maps a window name (``run``, ``profiling``, ``steady_state``) to (start_ns, end_ns) or
        None. Per series and window: gauges and counter rates get avg, min, max, p50, p99 over the
        window's scrapes (counters also ``total``: the increase); histograms get count, avg, p50, p90,
        p99 of the observations made in the window. ``comparison`` puts the server's TTFT/ITL/latency
        beside the client's (``client_metrics``: the final metric blocks) over the profiling window.
        """
        sources, scrapes = self.snapshot()
        families: dict[str, dict[str, Any]] = {}
        for window, bounds in windows.items():
            if bounds is None:
                continue
            for (source, family, labels), stats in _window_stats(scrapes, bounds, self._meanings).items():
                entry = families.setdefault(family, _family_header(family, self._meanings))
                by_labels = entry["series"].setdefault((source, labels), {"source": source,
                                                                           "labels": dict(labels)})
                by_labels[window] = stats
        for entry in families.values():
            entry["series"] = list(entry["series"].values())
        gpu = [s for s in scrapes if s["kind"] == "gpu"]
        block: dict[str, Any] = {
            "interval_count": len(scrapes),
            "sources": sources,
            "windows": {name: _window_dict(bounds) for name, bounds in windows.items()},
            "families": dict(sorted(families.items())),
            "comparison": self._comparison(families, client_metrics or {}),
        }
        if gpu:
            block["gpu"] = gpu_summary(families)
            output_tokens = (client_metrics or {}).get("total_osl", {}).get("avg")
            energy = block["gpu"]["energy_joules"]
            block["gpu"]["energy_per_output_token_joules"] = (
                energy / output_tokens if energy is not None and output_tokens else None)
        return block

    def _comparison(self, families: Mapping[str, Any], client: Mapping[str, Mapping[str, Any]]) -> dict:
        result: dict[str, Any] = {}
        for name, entry in families.items():
            concept = entry.get("concept")
            if concept not in COMPARED or concept in result:
                continue
            server = _merged_histogram(entry["series"], "profiling")
            if server is None:
                continue
            mine = client.get(concept) or {}
            result[concept] = {
                "unit": entry.get("unit"),
                "server_family": name,
                "server": server,
                "client": {k: mine.get(k) for k in ("count", "avg", "p50", "p90", "p99")} if mine else None,
            }
        return result


def gpu_summary(families: Mapping[str, Any]) -> dict[str, Any]:
    """Per GPU (label ``gpu``/``UUID``): avg and max of power, utilisation, memory used and SM clock over
    the profiling window, and the energy used in it (joules) from the energy counter."""
    per_gpu: dict[str, dict[str, Any]] = {}
    for entry in families.values():
        concept = entry.get("concept") or ""
        if not concept.startswith("gpu_"):
            continue
        for series in entry["series"]:
            stats = series.get("profiling")
            if not stats:
                continue
            labels = series["labels"]
            gpu = f"{series['source']}#{labels.get('gpu', labels.get('UUID', '?'))}"
            slot = per_gpu.setdefault(gpu, {"source": series["source"], "gpu": labels.get("gpu"),
                                            "uuid": labels.get("UUID"), "model": labels.get("modelName")})
            if concept == "gpu_energy":
                slot["energy_joules"] = stats.get("total_increase")
            else:
                slot[concept.removeprefix("gpu_")] = {"unit": entry.get("unit"), "avg": stats.get("avg"),
                                                      "max": stats.get("max")}
    return {"gpus": list(per_gpu.values()),
            "energy_joules": _sum_or_none(g.get("energy_joules") for g in per_gpu.values())}


def _sum_or_none(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _family_header(family: str, meanings: Mapping[str, tuple[str, FamilyMeaning]]) -> dict[str, Any]:
    known = meanings.get(family)
    if known is None:
        return {"map": None, "concept": None, "unit": None, "series": {}}
    map_name, meaning = known
    return {"map": map_name, "concept": meaning.concept, "unit": meaning.unit,
            "description": meaning.description, "series": {}}


def _window_dict(bounds: tuple[int, int] | None) -> dict[str, int] | None:
    return None if bounds is None else {"start_ns": bounds[0], "end_ns": bounds[1]}


def _window_stats(scrapes: Sequence[Mapping[str, Any]], bounds: tuple[int, int],
                  meanings: Mapping[str, tuple[str, FamilyMeaning]]) -> dict[tuple, dict[str, Any]]:
    """Per (source, family, labels): the stats of the scrapes whose timestamp lies in ``bounds``."""
    start, end = bounds
    values: dict[tuple, dict[str, Any]] = {}
    # A counter's increase over the window runs from its total in the source's last good scrape at or
    # before the window's start (0 if that scrape lacked the series: it had counted nothing yet), so what
    # was counted between the start and the first scrape inside the window is not lost.
    before: dict[tuple, float] = {}
    sources_before: set[str] = set()
    for scrape in scrapes:
        if scrape["ok"] and scrape["timestamp_ns"] <= start:
            sources_before.add(scrape["source"])
            for row in scrape["series"]:
                if "total" in row:
                    key = (scrape["source"], row["family"], tuple(sorted(row["labels"].items())))
                    before[key] = row["total"]
    for scrape in scrapes:
        if not scrape["ok"] or not start <= scrape["timestamp_ns"] <= end:
            continue
        for row in scrape["series"]:
            key = (scrape["source"], row["family"], tuple(sorted(row["labels"].items())))
            slot = values.setdefault(key, {"type": row["type"], "values": [], "hist": [], "totals": []})
            if "rate" in row:
                slot["values"].append(row["rate"])
            elif "value" in row:
                slot["values"].append(row["value"])
            if "total" in row:
                slot["totals"].append(row["total"])
            if "buckets" in row:
                slot["hist"].append(row)
    result = {}
    for key, slot in values.items():
        if slot["type"] == "histogram":
            known = meanings.get(key[1])
            merged = merge_histograms(slot["hist"], known[1].scale if known else 1.0)
            if merged is not None:
                result[key] = merged
            continue
        stats = sample_stats(slot["values"])
        if slot["totals"]:
            first = before.get(key, 0.0 if key[0] in sources_before else slot["totals"][0])
            stats["total_increase"] = max(0.0, slot["totals"][-1] - first)
        if stats["count"] or slot["totals"]:
            result[key] = stats
    return result


def sample_stats(values: Sequence[float]) -> dict[str, Any]:
    """avg, min, max, p50, p99 and count of sampled values (linear-interpolated percentiles)."""
    finite = sorted(v for v in values if isinstance(v, (int, float)) and math.isfinite(v))
    if not finite:
        return {"count": 0, "avg": None, "min": None, "max": None, "p50": None, "p99": None}
    return {"count": len(finite), "avg": sum(finite) / len(finite), "min": finite[0], "max": finite[-1],
            "p50": _percentile(finite, 0.50), "p99": _percentile(finite, 0.99)}


def _percentile(ordered: Sequence[float], q: float) -> float:
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def histogram_stats(buckets: Mapping[float, float], count: float, total: float, scale: float) -> dict:
    """count, avg and quantiles of observations given as cumulative bucket counts (upper bound -> count),
    scaled into the meaning's unit; ``buckets`` (exposed bounds -> count) is kept so windows can be merged."""
    stats: dict[str, Any] = {"count": count, "avg": total * scale / count if count > 0 else None,
                             "buckets": {str(le): c for le, c in sorted(buckets.items())}}
    for name, q in QUANTILES:
        value = bucket_quantile(buckets, q)
        stats[name] = None if value is None else value * scale
    stats["sum"] = total * scale
    return stats


def bucket_quantile(buckets: Mapping[float, float], q: float) -> float | None:
    """Prometheus' ``histogram_quantile``: the bucket holding rank ``q * count``, linear inside it from its
    lower bound (0 for the first); the +Inf bucket answers with the highest finite bound."""
    ordered = sorted(buckets.items())
    if not ordered or ordered[-1][1] <= 0:
        return None
    rank = q * ordered[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, cumulative in ordered:
        if cumulative >= rank:
            if math.isinf(bound):
                return lower_bound
            inside = cumulative - lower_count
            if inside <= 0:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / inside
        lower_bound, lower_count = bound, cumulative
    return ordered[-1][0]


def merge_histograms(rows: Sequence[Mapping[str, Any]], scale: float) -> dict[str, Any] | None:
    """The histogram stats of several intervals' observations together (their bucket deltas added)."""
    if not rows:
        return None
    buckets: dict[float, float] = {}
    count = total = 0.0
    for row in rows:
        for le, c in row["buckets"].items():
            buckets[float(le)] = buckets.get(float(le), 0.0) + c
        count += row["count"]
        total += row["sum"] / scale if scale else 0.0
    stats = histogram_stats(buckets, count, total, scale)
    stats.pop("buckets")
    return stats


def _merged_histogram(series: Sequence[Mapping[str, Any]], window: str) -> dict[str, Any] | None:
    """One histogram window across label sets (e.g. several models): count-weighted avg; the quantiles of
    the busiest series (bucket sets are not re-derived from stats)."""
    blocks = [s[window] for s in series if s.get(window) and s[window].get("count")]
    if not blocks:
        return None
    count = sum(b["count"] for b in blocks)
    busiest = max(blocks, key=lambda b: b["count"])
    avg = sum(b["sum"] for b in blocks) / count if count else None
    return {"count": count, "avg": avg, **{name: busiest.get(name) for name, _ in QUANTILES}}


def parse_exposition(text: str) -> list[dict[str, Any]]:
    """Prometheus text exposition -> ``[{name, type, series: {labels tuple: sample}}]`` via
    prometheus-client's parser. Counters and summaries are named by their samples (counters always end in
    ``_total``: the parser adds it where a server left it out); histogram series carry ``buckets``
    ({upper bound: cumulative count}), ``sum`` and ``count``. Raises ScrapeError."""
    from prometheus_client.parser import text_string_to_metric_families

    if "\x00" in text:
        raise ScrapeError("the body is binary, not Prometheus text")
    try:
        parsed = list(text_string_to_metric_families(text))
    except Exception as exc:  # noqa: BLE001 - the parser raises ValueError, IndexError, … on garbage
        # the parser's message quotes the body, which may echo a secret: name the failure only
        raise ScrapeError(f"not Prometheus text (the parser raised {type(exc).__name__})") from None
    if text.strip() and not parsed:
        raise ScrapeError("not Prometheus text: no metric family in the body")
    families = []
    for family in parsed:
        kind = family.type if family.type in ("counter", "gauge", "histogram", "summary") else "untyped"
        name = family.name
        series: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
        if kind == "histogram":
            for sample in family.samples:
                labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
                slot = series.setdefault(labels, {"buckets": {}, "sum": 0.0, "count": 0.0})
                if sample.name.endswith("_bucket"):
                    slot["buckets"][float(sample.labels["le"])] = float(sample.value)
                elif sample.name.endswith("_sum"):
                    slot["sum"] = float(sample.value)
                elif sample.name.endswith("_count"):
                    slot["count"] = float(sample.value)
            families.append({"name": name, "type": kind, "series": series})
            continue
        by_name: dict[str, dict[tuple, dict[str, Any]]] = {}
        for sample in family.samples:
            if kind == "counter" and sample.name.endswith("_created"):
                continue  # creation timestamps are not counts
            labels = tuple(sorted(sample.labels.items()))
            by_name.setdefault(sample.name if kind != "gauge" else name, {})[labels] = {
                "value": float(sample.value)}
        for sample_name, samples in by_name.items():
            families.append({"name": sample_name, "type": "gauge" if kind == "summary" else kind,
                             "series": samples})
    return families
