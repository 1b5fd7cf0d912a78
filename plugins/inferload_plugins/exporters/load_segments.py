"""The load segments of a run whose load changed (ramps, --load-schedule, the control routes): one row per
segment on the terminal, after the results table, and in ``load_segments.csv`` (docs/control.md; the
figures' definitions: docs/metrics.md, "Load segments"). Runs with a fixed load write nothing."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from inferload import hookimpl
from inferload.number_text import plain_number
from inferload.types import ExporterSpec

FILENAME = "load_segments.csv"
LATENCIES = (("TTFT", "time_to_first_token"), ("ITL", "inter_token_latency"),
             ("latency", "request_latency"))
"""The per-request metrics shown per segment, p50 and p99 (ms), where the run has them."""
TERMINAL_OMITS = ("source", "duration (s)", "latency p50 (ms)", "latency p99 (ms)")
"""Columns only the CSV has, so the terminal table fits in :data:`FILE_WIDTH` columns."""
FILE_WIDTH = 120


def rows(segments: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and one row per segment: index, start (s after the first), target, paused, source, duration,
    requests sent, errors, achieved rate, mean in flight, then p50/p99 of :data:`LATENCIES`."""
    shown = [(label, tag) for label, tag in LATENCIES if any(tag in s["metrics"] for s in segments)]
    header = ["segment", "start (s)", "target", "paused", "source", "duration (s)", "sent", "errors",
              "achieved req/s", "mean in flight"]
    header += [f"{label} {stat} (ms)" for label, _ in shown for stat in ("p50", "p99")]
    first = segments[0]["start_ns"]
    table = []
    for s in segments:
        target = (f"{plain_number(s['request_rate'], 6)} req/s" if "request_rate" in s
                  else f"{s['concurrency']} in flight")
        row = [str(s["index"]), f"{(s['start_ns'] - first) / 1e9:.2f}", target, "yes" if s["paused"] else "",
               s["source"], f"{s['duration_sec']:.2f}", str(s["requests_sent"]), str(s["error_count"]),
               _number(s["achieved_request_rate"]), _number(s["average_concurrency"])]
        for _, tag in shown:
            block = s["metrics"].get(tag) or {}
            row += [_number(block.get("p50")), _number(block.get("p99"))]
        table.append(row)
    return header, table


def _number(value: Any) -> str:
    return "" if value is None else f"{float(value):.2f}"


def export_load_segments(context: Any) -> list[Path]:
    """Print the segments table to the run's console and write it as CSV; nothing without segments."""
    segments = context.summary.get("load_segments")
    if not segments:
        return []
    from rich.console import Console
    from rich.table import Table

    header, table = rows(segments)
    view = Table(title="Load segments")
    shown = [i for i, column in enumerate(header) if column not in TERMINAL_OMITS]
    for i in shown:
        view.add_column(header[i], justify="left" if header[i] in ("target", "source") else "right",
                        no_wrap=header[i] == "target")
    for row in table:
        view.add_row(*(row[i] for i in shown))
    target = context.console
    console = target if isinstance(target, Console) else Console(file=target)
    if not console.is_terminal and console.width < FILE_WIDTH:  # a pipe: no terminal width to fit
        console = Console(file=console.file, width=FILE_WIDTH, force_terminal=False, color_system=None)
    console.print(view)
    with context.open(FILENAME, newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(table)
    return [context.artifact_dir / FILENAME]


@hookimpl
def register_exporters() -> list[ExporterSpec]:
    return [ExporterSpec(name="load-segments", description="Per-segment figures of a run whose load changed: "
                         "a terminal table and load_segments.csv", filenames=(FILENAME,),
                         export=export_load_segments)]
