"""server_metrics.jsonl: every scrape of every server-metrics and GPU telemetry source, on the run's clock.

One line per scrape attempt, in time order: ``timestamp_ns`` (wall clock), ``t_sec`` (seconds since the
run's first request went out, the client's timeline), ``phase`` (the phase running then, or null before /
after), ``source`` (redacted URL), ``kind`` (``server``/``gpu``), ``ok``, ``error`` (failed scrapes: a
gap), and ``series``: per series ``family``, ``type``, ``labels``, and ``value`` (gauge), ``rate`` and
``total`` (counter), or the interval's ``count``, ``avg``, ``p50``, ``p90``, ``p99``, ``sum`` and bucket
deltas (histogram); known families add ``concept`` and ``unit`` (docs/server-metrics.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from inferload import hookimpl
from inferload.export import json_safe
from inferload.types import ExporterSpec

FILENAME = "server_metrics.jsonl"


def export_server_metrics(context: Any) -> list[Path]:
    """Write the scrapes the store spooled, streamed in time order; nothing when no source was scraped."""
    state = context.state
    store = state.plugin_state("server-metrics")
    if store is None or not store.sources:
        return []
    phases = [(p.start_ns, p.requests_end_ns, p.phase) for p in state.phases.values() if p.start_ns]
    origin = state.started_ns or 0
    with context.open(FILENAME) as out:
        for scrape in store.scrapes_in_time_order():
            at = scrape["timestamp_ns"]
            phase = next((name for start, end, name in phases if start <= at <= (end or at)), None)
            line = {"timestamp_ns": at, "t_sec": (at - origin) / 1e9, "phase": phase, **scrape}
            out.write(json.dumps(json_safe(line), allow_nan=False) + "\n")
    return [context.artifact_dir / FILENAME]


@hookimpl
def register_exporters() -> list[ExporterSpec]:
    return [ExporterSpec(name="server-metrics", description="server_metrics.jsonl: every server-metrics and "
                         "GPU telemetry scrape on the run's timeline", filenames=(FILENAME,),
                         export=export_server_metrics)]
