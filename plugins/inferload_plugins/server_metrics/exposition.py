"""Prometheus text exposition -> families of samples, through prometheus-client's parser; the one place a
scraped body is read. A body that is not Prometheus text raises :class:`ScrapeError` (a gap, never the
run's end).
"""

from __future__ import annotations

from typing import Any


class ScrapeError(Exception):
    """A scrape that yielded no samples: connection refused, timeout, HTTP status, unparsable body."""


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
