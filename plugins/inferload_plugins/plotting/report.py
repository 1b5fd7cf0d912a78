"""report.html: one self-contained page (every image a data: URI, styles inline, no script, no external
request) with each run's identity, configuration, metric table and the charts. It opens offline."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inferload.export import compact_stat
from inferload_plugins.plotting.charts import RunData, SweepData
from inferload_plugins.shared.completeness import INCOMPLETE_MARK, missing_variations, row_reason
from inferload_plugins.shared.sweep_summary import table_rows

STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;
margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}img{max-width:100%;display:block;margin:1em 0}
pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:12px}figure{margin:1em 0}
figcaption.incomplete,.incomplete{color:#a00}figcaption{font-size:13px}"""

_STATS = ("avg", "min", "p50", "p90", "p99", "max", "std")


def _fmt(value: Any, unit: str | None = None, stat: str = "avg") -> str:
    if isinstance(value, float):
        return compact_stat(value, unit, stat)
    return "" if value is None else html.escape(str(value))


def metric_table(summary: dict[str, Any]) -> str:
    """The run's metric blocks as an HTML table (tag, unit and the stats it has)."""
    rows = ["<table><tr><th>metric</th><th>unit</th>" + "".join(f"<th>{s}</th>" for s in _STATS) + "</tr>"]
    for tag, block in summary.items():
        if isinstance(block, dict) and "unit" in block and "avg" in block:
            cells = "".join(f"<td>{_fmt(block.get(s), block['unit'], s)}</td>" for s in _STATS)
            rows.append(f"<tr><td>{html.escape(tag)}</td><td>{html.escape(str(block['unit']))}</td>{cells}</tr>")
    return "\n".join([*rows, "</table>"])


def sweep_table(summary: dict[str, Any]) -> str:
    """One row per variation: label and each headline figure's mean (± interval half width), and whether
    its runs are complete (an incomplete one is marked beside its label, with why in the last column)."""
    rows = table_rows(summary)
    names = list(rows[0]["metrics"]) if rows else []
    out = ["<table><tr><th>variation</th>" + "".join(f"<th>{html.escape(n)}</th>" for n in names)
           + "<th>complete</th></tr>"]
    for row in rows:
        reason = row_reason(row)
        cells = []
        for name in names:
            block = row["metrics"].get(name) or {}
            text = _fmt(block.get("mean"))
            if block.get("ci_high") is not None:
                text += f" ± {_fmt(block['ci_high'] - block['mean'])}"
            cells.append(f"<td>{text}</td>")
        label = row["variation_label"] + ("" if reason is None else f" {INCOMPLETE_MARK}")
        complete = "yes" if reason is None else f"<b>no</b>: {html.escape(reason)}"
        out.append(f"<tr><td>{html.escape(label)}</td>{''.join(cells)}<td>{complete}</td></tr>")
    return "\n".join([*out, "</table>"])


def image(path: Path) -> str:
    """The chart as an inline ``<figure>``; the caption the chart carries (its PNG ``Description``: which
    points are incomplete and why) is repeated as text under it."""
    from PIL import Image

    data = base64.b64encode(path.read_bytes()).decode("ascii")
    with Image.open(path) as png:
        notes = str(png.info.get("Description") or "")
    img = f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'
    if not notes:
        return img
    lines = "<br>".join(html.escape(line) for line in notes.splitlines())
    return f'<figure>{img}<figcaption class="incomplete">{lines}</figcaption></figure>'


def run_section(run: RunData) -> str:
    """One run: identity, times and whether it is complete (why not, when not), metrics, errors, config."""
    summary = run.summary
    identity = summary.get("run_info") or {}
    reason = run.incomplete_reason
    complete = "yes" if reason is None else f'<b class="incomplete">no: {html.escape(reason)}</b>'
    parts = [f"<h2>run {html.escape(run.label)}</h2>",
             "<h3>identity</h3><pre>" + html.escape(json.dumps(identity, indent=2)) + "</pre>",
             f"<p>start {_fmt(summary.get('start_time'))}, end {_fmt(summary.get('end_time'))}, "
             f"complete: {complete}</p>",
             "<h3>metrics</h3>", metric_table(summary)]
    errors = summary.get("error_summary") or []
    if errors:
        parts.append("<h3>errors</h3><pre>" + html.escape(json.dumps(errors, indent=2)) + "</pre>")
    parts.append("<h3>configuration</h3><pre>"
                 + html.escape(json.dumps(summary.get("input_config") or {}, indent=2)) + "</pre>")
    return "\n".join(parts)


def runs_without_requests(items: Sequence[RunData | SweepData]) -> list[str]:
    """A line per run that has no per-request values (no ``profile_export.jsonl``: a run at
    ``--export-level summary``, or with the JSONL exporter disabled), left out of the per-request charts."""
    runs = [run for item in items for run in (item.runs if isinstance(item, SweepData) else [item])]
    return [f"{run.name}: not in the per-request charts (CDFs, time series): it has no profile_export.jsonl "
            "(a run at --export-level summary, or with the JSONL exporter disabled)"
            for run in runs if run.series is None]


def build_report(items: Sequence[RunData | SweepData], images: Sequence[Path]) -> str:
    """The whole page: title, charts, then each sweep's table and each run's section. Everything the page
    shows comes from the artifacts, whose secrets the run already redacted."""
    body = ["<h1>inferload report</h1>", "<h2>charts</h2>", *(image(p) for p in images)]
    body.extend(f'<p class="incomplete">{html.escape(line)}</p>' for line in runs_without_requests(items))
    for item in items:
        if isinstance(item, SweepData):
            body.append(f"<h2>sweep {html.escape(str(item.summary.get('sweep_id')))} "
                        f"({html.escape(str(item.summary.get('kind')))})</h2>")
            cut = missing_variations(item.summary)
            if cut is not None:
                body.append(f'<p class="incomplete">{INCOMPLETE_MARK}: {html.escape(cut)}; the table, the '
                            "charts and the runs below cover those only</p>")
            body.append(sweep_table(item.summary))
            search = item.summary.get("search")
            if search:
                body.append("<h3>max load search</h3><pre>" + html.escape(json.dumps(search, indent=2))
                            + "</pre>")
            body.extend(run_section(run) for run in item.runs)
        else:
            body.append(run_section(item))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>inferload report</title>"
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


REPORT = "report.html"
PLOTS = "plots"


def write_report(
    items: Sequence[RunData | SweepData], out: Path, *, page_dir: Path | None = None
) -> list[Path]:
    """Every chart ``items`` allow into ``out``, then :data:`REPORT` into ``page_dir`` (default ``out``;
    its images are inline, so it opens anywhere); returns every path written, the page last."""
    from inferload.artifact_files import write_artifact
    from inferload_plugins.plotting.charts import draw_all

    images = draw_all(items, out)
    return [*images, write_artifact(page_dir or out, REPORT, build_report(items, images))]


def write_sweep_report(directory: Path) -> list[Path]:
    """``inferload profile --report`` on a sweep, search or trials: the sweep's own charts (what
    ``inferload plot DIR`` draws) in ``DIR/plots``, its report.html in ``DIR``."""
    from inferload_plugins.plotting.charts import load

    return write_report([load(directory)], directory / PLOTS, page_dir=directory)
