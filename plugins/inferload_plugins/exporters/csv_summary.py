"""profile_export.csv: AIPerf's CSV layout — one table of per-request metrics (``Metric,avg,min,max,sum,
p1…p99,std``), a blank line, then ``Metric,Value`` for run-level metrics; rows sorted by label, values
with two decimals, counts (requests, tokens) that are whole numbers as integers."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from inferload import hookimpl
from inferload.export import format_stat, metric_label
from inferload.metrics_engine import is_aggregate
from inferload.types import ExporterSpec

FILENAME = "profile_export.csv"
RECORD_COLUMNS = ("avg", "min", "max", "sum", "p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99",
                  "std")


def _number(block: dict[str, Any], column: str) -> str:
    return format_stat(block.get(column), block.get("unit"), column, grouping=False)


def export_csv(context: Any) -> list[Path]:
    records = sorted((metric_label(t, b), b) for t, b in context.metrics.items() if not is_aggregate(b))
    aggregates = sorted((metric_label(t, b), b) for t, b in context.metrics.items() if is_aggregate(b))
    with context.open(FILENAME, newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["Metric", *RECORD_COLUMNS])
        for label, block in records:
            writer.writerow([label, *(_number(block, column) for column in RECORD_COLUMNS)])
        writer.writerow([])
        writer.writerow(["Metric", "Value"])
        for label, block in aggregates:
            writer.writerow([label, _number(block, "avg")])
    return [context.artifact_dir / FILENAME]


@hookimpl
def register_exporters() -> list[ExporterSpec]:
    return [ExporterSpec(name="csv", description="Summary statistics as CSV (AIPerf layout)",
                         filenames=(FILENAME,), export=export_csv)]
