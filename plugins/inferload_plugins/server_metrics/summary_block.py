"""The ``server_metrics`` block of profile_export.json, from a :class:`ServerMetricsStore`'s scrapes: per
family and series the stats over each named window (``run``, ``profiling``, ``steady_state``), the
server's TTFT/ITL/latency beside the client's, and the GPUs' power and energy. Definitions:
docs/server-metrics.md; the steady-state window is the one of docs/metrics.md ("Steady state").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from inferload_plugins.server_metrics.histograms import QUANTILES, merge_histograms, sample_stats

if TYPE_CHECKING:
    from inferload.types import FamilyMeaning
    from inferload_plugins.server_metrics.store import ServerMetricsStore

COMPARED: tuple[str, ...] = ("time_to_first_token", "inter_token_latency", "request_latency")
"""Concepts the server and the client both measure; compared over the profiling phase (client tag = name)."""


def server_metrics_block(store: ServerMetricsStore, windows: Mapping[str, tuple[int, int] | None],
                         client_metrics: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The ``server_metrics`` block of profile_export.json from ``store``.

    ``windows`` maps a window name (``run``, ``profiling``, ``steady_state``) to (start_ns, end_ns) or
    None. Per series and window: gauges and counter rates get avg, min, max, p50, p99 over the
    window's scrapes (counters also ``total``: the increase); histograms get count, avg, p50, p90,
    p99 of the observations made in the window. ``comparison`` puts the server's TTFT/ITL/latency
    beside the client's (``client_metrics``: the final metric blocks) over the profiling window.
    """
    mark = store.mark()  # every pass reads the same scrapes while scraping may go on
    sources = store.source_dicts()

    def scrapes() -> Iterator[dict[str, Any]]:
        return store.scrapes(mark)

    short, count = _short_intervals(scrapes())  # once: it does not depend on the window

    families: dict[str, dict[str, Any]] = {}
    for window, bounds in windows.items():
        if bounds is None:
            continue
        for (source, family, labels), stats in _window_stats(scrapes, short, bounds,
                                                                    store.meanings).items():
            entry = families.setdefault(family, _family_header(family, store.meanings))
            by_labels = entry["series"].setdefault((source, labels), {"source": source,
                                                                       "labels": dict(labels)})
            by_labels[window] = stats
    for entry in families.values():
        entry["series"] = list(entry["series"].values())
    gpu = any(s["kind"] == "gpu" and s["scrapes_ok"] + s["scrapes_failed"] for s in sources)
    block: dict[str, Any] = {
        "interval_count": count,
        "sources": sources,
        "windows": {name: _window_dict(bounds) for name, bounds in windows.items()},
        "families": dict(sorted(families.items())),
        "comparison": _comparison(families, client_metrics or {}),
    }
    if gpu:
        block["gpu"] = gpu_summary(families)
        output_tokens = (client_metrics or {}).get("total_osl", {}).get("avg")
        energy = block["gpu"]["energy_joules"]
        block["gpu"]["energy_per_output_token_joules"] = (
            energy / output_tokens if energy is not None and output_tokens else None)
    return block


def _comparison(families: Mapping[str, Any], client: Mapping[str, Mapping[str, Any]]) -> dict:
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


MIN_RATE_INTERVAL_SHARE = 0.5
"""A counter's per-interval rate enters a window's min/max/p50/p99 only when its interval (the time since
the source's previous good scrape) is at least this share of the source's median scrape interval: a final
scrape 15 ms after the previous one divides a few counts by 15 ms, which is noise, not a rate."""


def _short_intervals(scrapes: Iterable[Mapping[str, Any]]) -> tuple[set[int], int]:
    """Indexes (into ``scrapes``) of good scrapes that end an interval too short for a rate
    (:data:`MIN_RATE_INTERVAL_SHARE` of the source's median interval), and how many scrapes there are."""
    previous: dict[str, int] = {}
    intervals: dict[str, list[tuple[int, int]]] = {}
    count = 0
    for index, scrape in enumerate(scrapes):
        count = index + 1
        if not scrape["ok"]:
            continue
        source, stamp = scrape["source"], scrape["timestamp_ns"]
        if source in previous:
            intervals.setdefault(source, []).append((index, stamp - previous[source]))
        previous[source] = stamp
    short: set[int] = set()
    for pairs in intervals.values():
        lengths = sorted(length for _, length in pairs)
        median = lengths[len(lengths) // 2] if len(lengths) % 2 else (
            lengths[len(lengths) // 2 - 1] + lengths[len(lengths) // 2]) / 2
        short.update(index for index, length in pairs if length < MIN_RATE_INTERVAL_SHARE * median)
    return short, count


def _window_stats(scrapes: Callable[[], Iterable[Mapping[str, Any]]], short: set[int],
                  bounds: tuple[int, int], meanings: Mapping[str, tuple[str, FamilyMeaning]]
                  ) -> dict[tuple, dict[str, Any]]:
    """Per (source, family, labels): the stats of the scrapes whose timestamp lies in ``bounds``;
    ``scrapes()`` streams every scrape in arrival order (called once per pass); ``short`` are the indexes
    of :func:`_short_intervals`.

    A counter's ``avg`` is exact: its increase over the window divided by the seconds between the two
    scrapes that measured it (docs/server-metrics.md, "Counter rates"), not a mean of interval rates."""
    start, end = bounds
    values: dict[tuple, dict[str, Any]] = {}
    # A counter's increase over the window runs from its total in the source's last good scrape at or
    # before the window's start (0 if that scrape lacked the series: it had counted nothing yet), so what
    # was counted between the start and the first scrape inside the window is not lost.
    before: dict[tuple, float] = {}
    sources_before: dict[str, int] = {}  # source -> timestamp of its last good scrape at or before start
    for scrape in scrapes():
        if scrape["ok"] and scrape["timestamp_ns"] <= start:
            sources_before[scrape["source"]] = scrape["timestamp_ns"]
            for row in scrape["series"]:
                if "total" in row:
                    key = (scrape["source"], row["family"], tuple(sorted(row["labels"].items())))
                    before[key] = row["total"]
    for index, scrape in enumerate(scrapes()):
        if not scrape["ok"] or not start <= scrape["timestamp_ns"] <= end:
            continue
        for row in scrape["series"]:
            key = (scrape["source"], row["family"], tuple(sorted(row["labels"].items())))
            slot = values.setdefault(key, {"type": row["type"], "values": [], "hist": [], "totals": [],
                                           "stamps": []})
            if "rate" in row:
                if index not in short:
                    slot["values"].append(row["rate"])
            elif "value" in row:
                slot["values"].append(row["value"])
            if "total" in row:
                slot["totals"].append(row["total"])
                slot["stamps"].append(scrape["timestamp_ns"])
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
            stats["total_increase"] = counter_increase(first, slot["totals"])
            since = sources_before.get(key[0], slot["stamps"][0])
            seconds = (slot["stamps"][-1] - since) / 1e9
            if slot["type"] == "counter" and seconds > 0:
                stats["avg"] = stats["total_increase"] / seconds
        if stats["count"] or slot["totals"]:
            result[key] = stats
    return result


def counter_increase(first: float, totals: Iterable[float]) -> float:
    """How much a counter counted from ``first`` through ``totals`` (its successive scraped values), as
    Prometheus' ``increase()`` reckons it: a drop is a reset (the server restarted), so the value after
    the drop is what it counted since, and nothing is ever negative.

    >>> counter_increase(10.0, [15.0, 3.0, 7.0])
    12.0
    """
    increase, previous = 0.0, first
    for total in totals:
        increase += total - previous if total >= previous else total
        previous = total
    return increase


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
