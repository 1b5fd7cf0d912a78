"""The PNG charts of `inferload plot`, drawn with matplotlib's headless Agg backend (no display needed).

Inputs are read from artifacts only: a run directory's ``profile_export.json`` and ``profile_export.jsonl``
and a sweep directory's ``sweep_summary.json``. Each chart function writes one PNG and returns its path,
or None when the data it needs is absent (e.g. TTFT of a non-streaming run). Definitions: docs/report.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from inferload.errors import UsageError
from inferload.number_text import plain_number
from inferload_plugins.shared.completeness import (
    INCOMPLETE_MARK,
    incomplete_reason,
    missing_variations,
    row_reason,
)
from inferload_plugins.shared.sweep_summary import read_sweep_summary

if TYPE_CHECKING:
    from inferload.record_columns import RecordColumns

CDF_METRICS = (("time_to_first_token", "TTFT"), ("inter_token_latency", "ITL"),
               ("request_latency", "request latency"))


CDF_POINTS = 4096
"""Steps drawn per CDF line at most: a run with more requests is drawn at this many evenly spaced ranks
(each an exact value of the run), so a chart costs the same at any run length."""
_SPILL_ROWS = 1 << 16
"""Requests of the per-second rows held in memory before they go to the run's spool file."""
_ROW = np.dtype([("start", "<i8"), ("end", "<i8"), ("failed", "u1"), ("osl", "<f8"), ("ttft", "<f8")])
"""One profiling request as the per-second series need it: start and end (ns, 0 when absent), failed,
output tokens (0 when absent) and TTFT (NaN when absent)."""


class RunSeries:
    """What the charts read of a run's ``profile_export.jsonl``, taken in one streamed pass: the CDF
    metrics' values of the successful profiling requests (disk-backed, exact) and one fixed-width row per
    profiling request for the per-second series (an anonymous temporary file). Memory is a few buffers,
    whatever the run's length."""

    def __init__(self) -> None:
        from inferload.value_column import ValueColumn

        self.values = {tag: ValueColumn() for tag, _ in CDF_METRICS}
        self.rows = 0
        self._pending: list[tuple[int, int, bool, float, float]] = []
        self._file: Any = None

    @classmethod
    def read(cls, jsonl: Path) -> RunSeries:
        """The series of the JSONL file ``jsonl``, one line at a time."""
        series = cls()
        with jsonl.open(encoding="utf-8") as lines:
            for line in lines:
                if line.strip():
                    series.add(json.loads(line))
        series.flush()
        return series

    @classmethod
    def from_columns(cls, columns: RecordColumns) -> RunSeries:
        """The series of a run still in progress of its end, from its record columns
        (:class:`inferload.record_columns.RecordColumns`, the same requests in the same order as its
        JSONL): equal to :meth:`read` of the JSONL, with no line parsed."""
        from inferload.record_columns import OK, PROFILING

        series = cls()
        tags = columns.tags
        where = {tag: tags.index(tag) for tag in (*series.values, "output_sequence_length",
                                                  "time_to_first_token") if tag in tags}
        for chunk in columns.chunks():
            profiling = chunk.has(PROFILING)
            if not profiling.any():
                continue
            ok = profiling & chunk.has(OK)
            for tag, column in series.values.items():
                if tag in where:
                    column.extend_array(chunk.values(where[tag], ok & chunk.present(where[tag])))
            rows = np.zeros(int(np.count_nonzero(profiling)), dtype=_ROW)
            rows["start"], rows["end"] = chunk.start_wall_ns[profiling], chunk.end_wall_ns[profiling]
            rows["failed"] = ~ok[profiling]
            rows["ttft"] = math.nan
            for tag, field_name in (("output_sequence_length", "osl"), ("time_to_first_token", "ttft")):
                if tag in where:
                    present = profiling & chunk.present(where[tag])
                    rows[field_name][present[profiling]] = chunk.values(where[tag], present)
            series._write(rows)
        return series

    def add(self, record: dict[str, Any]) -> None:
        """Take in one JSONL record (any phase)."""
        meta = record.get("metadata") or {}
        if meta.get("benchmark_phase") != "profiling":
            return
        metrics = record.get("metrics") or {}
        failed = record.get("error") is not None
        if not failed:
            for tag, column in self.values.items():
                metric = metrics.get(tag)
                value = metric.get("value") if isinstance(metric, dict) else None
                if isinstance(value, (int, float)):
                    column.append(float(value))
        osl = (metrics.get("output_sequence_length") or {}).get("value")
        ttft = (metrics.get("time_to_first_token") or {}).get("value")
        self._pending.append((meta.get("request_start_ns") or 0, meta.get("request_end_ns") or 0, failed,
                              osl or 0, math.nan if ttft is None else ttft))
        if len(self._pending) >= _SPILL_ROWS:
            self.flush()

    def flush(self) -> None:
        """Write the rows held in memory to the spool file."""
        if self._pending:
            self._write(np.array(self._pending, dtype=_ROW))
            self._pending = []

    def _write(self, rows: np.ndarray) -> None:
        """Append ``rows`` (of :data:`_ROW`) to the spool file."""
        if self._file is None:
            import tempfile

            self._file = tempfile.TemporaryFile(prefix="inferload-plot-")  # noqa: SIM115 - lives with us
        self._file.seek(self.rows * _ROW.itemsize)
        rows.tofile(self._file)
        self._file.flush()
        self.rows += len(rows)

    def chunks(self) -> Any:
        """The rows in file order, :data:`_SPILL_ROWS` at a time (structured arrays of :data:`_ROW`)."""
        self.flush()
        for first in range(0, self.rows, _SPILL_ROWS):
            self._file.seek(first * _ROW.itemsize)
            yield np.fromfile(self._file, dtype=_ROW, count=min(_SPILL_ROWS, self.rows - first))


@dataclass
class RunData:
    """One run read back from its artifacts; ``series`` None when it has no ``profile_export.jsonl``."""

    name: str
    path: Path
    summary: dict[str, Any]
    series: RunSeries | None = None

    def cdf(self, tag: str) -> tuple[np.ndarray, np.ndarray]:
        """The empirical CDF of ``tag`` (a :data:`CDF_METRICS` tag) over the successful profiling
        requests: the sorted values and the share of requests at or below each, every value when there
        are at most :data:`CDF_POINTS`, else the values at that many evenly spaced ranks."""
        column = None if self.series is None else self.series.values.get(tag)
        count = 0 if column is None else len(column)
        if column is None or not count:
            return np.zeros(0), np.zeros(0)
        ranks = np.arange(count) if count <= CDF_POINTS else np.unique(
            np.linspace(0, count - 1, CDF_POINTS).round().astype(np.int64))
        return np.array(column.values_at(ranks.tolist())), (ranks + 1) / count

    @property
    def incomplete_reason(self) -> str | None:
        """Why the run's figures cover part of its load (its summary says ``is_complete: false``)."""
        return incomplete_reason(self.summary)

    @property
    def label(self) -> str:
        """The run's name in a legend: marked :data:`INCOMPLETE_MARK` when it is incomplete."""
        return self.name if self.incomplete_reason is None else f"{self.name} {INCOMPLETE_MARK}"


def _run_notes(runs: Sequence[RunData]) -> list[str]:
    """Caption lines of the incomplete runs among ``runs`` (drawn dashed): name and why."""
    notes = [f"{run.label}: {run.incomplete_reason}" for run in runs if run.incomplete_reason is not None]
    return [*notes, "dashed: incomplete run (cut short or failed: its lines cover part of its load)"] \
        if notes else []


@dataclass
class SweepData:
    """A sweep (or trials) directory: its summary and the runs of its variations' first trials."""

    name: str
    path: Path
    summary: dict[str, Any]
    runs: list[RunData]


def load(path: Path, name: str | None = None) -> RunData | SweepData:
    """A run or sweep directory (named ``name``, default its directory name); a UsageError (exit 2)
    naming ``path`` when it holds no results. A sweep's runs are its variations' first trials, named by
    variation label (and ``(trial 1 of N)`` with trials); a sweep variation's directory of ``trialNN/``
    reads as a trials directory."""
    name = name or path.name
    summary = read_sweep_summary(path)
    if summary is not None:
        runs = [load_run(path / row["run_dirs"][0], _first_trial_name(row))
                for row in summary.get("variations", []) if row.get("run_dirs")]
        return SweepData(name, path, summary, runs)
    return load_run(path, name)


def _first_trial_name(row: dict[str, Any]) -> str:
    """A variation's run as the per-run charts name it: its label, and with several trials which one it
    is (``concurrency4 (trial 1 of 3)``): the charts draw the first trial only, never the variation."""
    trials = len(row["run_dirs"])
    return row["variation_label"] + (f" (trial 1 of {trials})" if trials > 1 else "")


def load_run(path: Path, name: str) -> RunData:
    export = path / "profile_export.json"
    if not path.is_dir() or not export.is_file():
        raise UsageError(f"{path} holds no results (no profile_export.json or sweep_summary.json); "
                         "give a run or sweep directory written by `inferload profile`")
    try:
        summary = json.loads(export.read_text(encoding="utf-8"))
    except ValueError:
        raise UsageError(f"{export} is not valid JSON; re-run the benchmark") from None
    jsonl = path / "profile_export.jsonl"
    return RunData(name, path, summary, RunSeries.read(jsonl) if jsonl.is_file() else None)


def _figure(title: str, xlabel: str, ylabel: str) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _finish(fig: Any, ax: Any, legend: bool, notes: Sequence[str] = ()) -> Any:
    """Legend (when asked), plain-notation ticks and the layout of a drawn figure; ``notes`` (what the
    reader must know about the data, e.g. which points are incomplete) as a caption under the plot and
    as the PNG's ``Description`` (:func:`caption`); returns ``fig``."""
    from matplotlib.ticker import FuncFormatter

    if legend:
        ax.legend(fontsize=8)
    plain = FuncFormatter(lambda value, _position: plain_number(value, 6))
    for axes in fig.axes:  # tick labels in plain notation: 20,000 tokens/s, never 2e4 or an offset
        axes.xaxis.set_major_formatter(plain)
        axes.yaxis.set_major_formatter(plain)
    fig.tight_layout()
    if notes:
        fig.inferload_notes = list(notes)
        lines = sum(note.count("\n") + 1 for note in notes)
        room = (0.16 * lines + 0.1) / fig.get_figheight()  # the caption's inches as a share of the figure
        fig.subplots_adjust(bottom=fig.subplotpars.bottom + room)
        fig.text(0.01, 0.01, "\n".join(notes), fontsize=7, va="bottom", ha="left")
    return fig


def caption(fig: Any) -> list[str]:
    """The notes :func:`_finish` drew under a figure (empty when it has none)."""
    return list(getattr(fig, "inferload_notes", []))


def _write(fig: Any, out: Path, name: str) -> Path:
    """Write a finished figure as ``out/name`` (PNG) and close it."""
    from matplotlib import pyplot as plt

    path = out / name
    notes = caption(fig)
    fig.savefig(path, format="png", metadata={"Description": "\n".join(notes)} if notes else None)
    plt.close(fig)
    return path


def cdf_chart(runs: Sequence[RunData], tag: str, label: str, out: Path) -> Path | None:
    """Empirical CDF of one per-request latency, one line per run."""
    series = [(run, *run.cdf(tag)) for run in runs]
    series = [(run, values, shares) for run, values, shares in series if values.size]
    if not series:
        return None
    fig, ax = _figure(f"{label} CDF", f"{label} (ms)", "share of requests")
    for run, values, shares in series:
        ax.step(values, shares, where="post", label=run.label,
                linestyle="-" if run.incomplete_reason is None else "--")
    return _write(_finish(fig, ax, legend=True, notes=_run_notes([run for run, _, _ in series])), out,
                  f"cdf_{tag}.png")


def per_second(run: RunData) -> dict[str, np.ndarray]:
    """Per-second series of one run, seconds since its first profiling request start: ``second``,
    ``output_tokens`` (tokens of requests completed in that second, i.e. output token throughput),
    ``ttft_ms`` (mean TTFT of requests that started in it; NaN when none) and ``errors`` (failed requests
    ending in it)."""
    if run.series is None:
        return {}
    t0 = end_max = None
    for rows in run.series.chunks():  # the first start and the last end (an absent end counts as t0)
        starts = rows["start"][rows["start"] != 0]
        if starts.size:
            t0 = int(starts.min()) if t0 is None else min(t0, int(starts.min()))
        ends = rows["end"][rows["end"] != 0]
        if ends.size:
            end_max = int(ends.max()) if end_max is None else max(end_max, int(ends.max()))
    if t0 is None:
        return {}
    seconds = math.ceil((max(t0, end_max if end_max is not None else t0) - t0) / 1e9) or 1
    tokens = np.zeros(seconds)
    errors = np.zeros(seconds)
    ttft_sum = np.zeros(seconds)
    ttft_n = np.zeros(seconds)
    for rows in run.series.chunks():  # summed in file order, as one loop over the records would
        end = np.where(rows["end"] != 0, rows["end"], t0)
        end_s = np.minimum(seconds - 1, ((end - t0).astype(np.float64) // 1e9).astype(np.int64))
        failed = rows["failed"] != 0
        np.add.at(errors, end_s[failed], 1)
        np.add.at(tokens, end_s[~failed], rows["osl"][~failed])
        timed = ~failed & ~np.isnan(rows["ttft"]) & (rows["start"] != 0)
        start_s = np.minimum(seconds - 1, ((rows["start"][timed] - t0).astype(np.float64) // 1e9)
                             .astype(np.int64))
        np.add.at(ttft_sum, start_s, rows["ttft"][timed])
        np.add.at(ttft_n, start_s, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ttft = np.where(ttft_n > 0, ttft_sum / np.maximum(ttft_n, 1), np.nan)
    return {"second": np.arange(seconds), "output_tokens": tokens, "ttft_ms": ttft, "errors": errors}


def timeseries_chart(runs: Sequence[RunData], out: Path) -> Path | None:
    """:func:`timeseries_figure` as ``timeseries.png`` in ``out``; None without data."""
    fig = timeseries_figure(runs)
    return None if fig is None else _write(fig, out, "timeseries.png")


def timeseries_figure(runs: Sequence[RunData]) -> Any:
    """Three stacked panels per second: output token throughput, mean TTFT, errors; one line per run.
    Every panel starts at 0 (none of them can be negative); the errors panel counts in whole requests
    and reaches at least 1. None without data."""
    import matplotlib
    from matplotlib.ticker import MaxNLocator

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    data = [(run, per_second(run)) for run in runs]
    data = [(run, series) for run, series in data if series]
    if not data:
        return None
    fig, axes = plt.subplots(3, 1, figsize=(7, 7), dpi=100, sharex=True)
    panels = (("output_tokens", "output tokens/s"), ("ttft_ms", "TTFT mean (ms)"), ("errors", "errors/s"))
    for ax, (key, label) in zip(axes, panels, strict=True):
        for run, series in data:
            ax.plot(series["second"], series[key], marker="o", markersize=3, label=run.label,
                    linestyle="-" if run.incomplete_reason is None else "--")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.set_ylim(bottom=0)
    errors = axes[-1]
    errors.yaxis.set_major_locator(MaxNLocator(integer=True))
    errors.set_ylim(0, max(1.0, errors.get_ylim()[1]))
    axes[0].set_title("per second since the first request")
    axes[-1].set_xlabel("second")
    return _finish(fig, axes[0], legend=True, notes=_run_notes([run for run, _ in data]))


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both axes (higher throughput x, lower latency y)."""
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any(x2 >= x and y2 <= y and (x2, y2) != (x, y) for x2, y2 in points)
        if not dominated:
            front.append(i)
    return front


def _row_mean(row: dict[str, Any], name: str) -> float | None:
    block = row["metrics"].get(name)
    return None if not block else block.get("mean")


INCOMPLETE_LEGEND = "hollow: incomplete run (cut short or failed: figures cover part of its load)"
"""The legend line of the hollow markers that mark incomplete sweep points."""


def _point_label(row: dict[str, Any]) -> str:
    """A sweep point's annotation: its variation label, marked when the point is incomplete."""
    return row["variation_label"] + ("" if row.get("is_complete", True) else f" {INCOMPLETE_MARK}")


def _incomplete_notes(summary: dict[str, Any], drawn: Sequence[dict[str, Any]]) -> list[str]:
    """Caption lines: each incomplete variation with why, the variations that never ran (an interrupted
    sweep) and those left out for lack of figures."""
    rows = summary["variations"]
    notes = [f"{row['variation_label']} {INCOMPLETE_MARK}: {row_reason(row)}" for row in rows
             if not row.get("is_complete", True)]
    cut = missing_variations(summary)
    if cut is not None:
        notes.append(f"sweep {INCOMPLETE_MARK}: {cut}; the variations that did not run are not drawn")
    shown = {id(row) for row in drawn}
    absent = [row["variation_label"] for row in rows if id(row) not in shown]
    if absent:
        notes.append(f"not drawn (no figures to plot): {', '.join(absent)}")
    return notes


def _points(ax: Any, xs: Sequence[float], ys: Sequence[float], complete: Sequence[bool], style: str,
            color: str, label: str) -> None:
    """A series of sweep points joined in order: complete points filled, incomplete ones hollow and
    larger, with their own legend line (:data:`INCOMPLETE_LEGEND`)."""
    ax.plot(xs, ys, style, color=color, label=label, markevery=[i for i, c in enumerate(complete) if c])
    marker = style[0]
    cut = [(x, y) for x, y, c in zip(xs, ys, complete, strict=True) if not c]
    if cut:
        ax.plot(*zip(*cut, strict=True), marker, linestyle="none", color=color, markerfacecolor="white",
                markeredgewidth=1.5, markersize=9, label=INCOMPLETE_LEGEND)


def sweep_curve_chart(sweep: SweepData, out: Path) -> Path | None:
    """:func:`sweep_curve_figure` as ``sweep_throughput_latency.png`` in ``out``; None without data."""
    fig = sweep_curve_figure(sweep)
    return None if fig is None else _write(fig, out, "sweep_throughput_latency.png")


def sweep_curve_figure(sweep: SweepData) -> Any:
    """Output token throughput (x) against p99 request latency (y), one point per variation, labelled,
    with the Pareto front drawn and marked. An incomplete variation's point is hollow, named in the
    caption with why, and never on the Pareto front (its figures cover part of its load); a variation
    without those figures is named in the caption as not drawn. None when no variation has them."""
    variations = sweep.summary["variations"]
    rows = [(row, _row_mean(row, "output_token_throughput.avg"), _row_mean(row, "request_latency.p99"))
            for row in variations]
    rows = [(row, x, y) for row, x, y in rows if x is not None and y is not None]
    if not rows:
        return None
    fig, ax = _figure("throughput vs latency", "output token throughput (tokens/s)",
                      "request latency p99 (ms)")
    xs, ys = [x for _, x, _ in rows], [y for _, _, y in rows]
    complete = [row.get("is_complete", True) for row, _, _ in rows]
    _points(ax, xs, ys, complete, "o-", "tab:blue", "variations")
    for row, x, y in rows:
        ax.annotate(_point_label(row), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    whole = [i for i, c in enumerate(complete) if c]
    front = sorted((whole[i] for i in pareto_front([(xs[i], ys[i]) for i in whole])), key=lambda i: xs[i])
    if front:
        ax.plot([xs[i] for i in front], [ys[i] for i in front], "s--", color="tab:red", label="Pareto front")
    return _finish(fig, ax, legend=True, notes=_incomplete_notes(sweep.summary, [row for row, _, _ in rows]))


def goodput_chart(sweep: SweepData, out: Path) -> Path | None:
    """:func:`goodput_figure` as ``sweep_goodput.png`` in ``out``; None when it draws nothing."""
    fig = goodput_figure(sweep)
    return None if fig is None else _write(fig, out, "sweep_goodput.png")


def goodput_figure(sweep: SweepData) -> Any:
    """Goodput (requests/s) and, on a second axis, the goodput ratio against the load of a one-axis
    sweep; None without --goodput or with several axes. Both axes start at 0; the legend sits below
    the plot, where it hides no point. Incomplete variations are hollow and named in the caption."""
    axes = sweep.summary.get("axes") or []
    if len(axes) != 1:
        return None
    axis = axes[0]
    variations = sweep.summary["variations"]
    rows = [(row["variation_values"][axis], _row_mean(row, "goodput.avg"), _row_mean(row, "goodput_ratio"),
             row) for row in variations]
    rows = sorted(((load, g, r, row) for load, g, r, row in rows if g is not None), key=lambda p: p[0])
    if not rows:
        return None
    fig, ax = _figure("goodput vs load", f"--{axis.replace('_', '-')}", "goodput (requests/s)")
    loads = [r[0] for r in rows]
    complete = [r[3].get("is_complete", True) for r in rows]
    _points(ax, loads, [r[1] for r in rows], complete, "o-", "tab:blue", "goodput")
    ratio_ax = ax.twinx()
    _points(ratio_ax, loads, [r[2] for r in rows], complete, "^:", "tab:green", "goodput ratio")
    ratio_ax.set_ylabel("goodput ratio")
    ratio_ax.set_ylim(0, 1.05)
    ax.set_ylim(bottom=0)
    handles, labels = ax.get_legend_handles_labels()
    more, more_labels = ratio_ax.get_legend_handles_labels()
    legend: dict[str, Any] = {}
    for name, handle in zip([*labels, *more_labels], [*handles, *more], strict=True):
        legend.setdefault(name, handle)  # the hollow markers' line once
    ax.legend(handles=list(legend.values()), labels=list(legend), fontsize=8, loc="upper center",
              bbox_to_anchor=(0.5, -0.18), ncol=2)
    return _finish(fig, ax, legend=False, notes=_incomplete_notes(sweep.summary, [r[3] for r in rows]))


def draw_all(items: Sequence[RunData | SweepData], out: Path) -> list[Path]:
    """Every chart the inputs allow, in ``out``; returns the PNG paths in report order."""
    out.mkdir(parents=True, exist_ok=True)
    runs: list[RunData] = []
    sweeps = [item for item in items if isinstance(item, SweepData)]
    for item in items:
        runs.extend(item.runs if isinstance(item, SweepData) else [item])
    paths: list[Path | None] = []
    for sweep in sweeps:
        paths += [sweep_curve_chart(sweep, out), goodput_chart(sweep, out)]
    paths += [cdf_chart(runs, tag, label, out) for tag, label in CDF_METRICS]
    paths.append(timeseries_chart(runs, out))
    return [p for p in paths if p is not None]
