"""The PNG charts of `inferload plot`, drawn with matplotlib's headless Agg backend (no display needed).

Inputs are read from artifacts only: a run directory's ``profile_export.json`` and ``profile_export.jsonl``
and a sweep directory's ``sweep_summary.json``. Each chart function writes one PNG and returns its path,
or None when the data it needs is absent (e.g. TTFT of a non-streaming run). Definitions: docs/report.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

CDF_METRICS = (("time_to_first_token", "TTFT"), ("inter_token_latency", "ITL"),
               ("request_latency", "request latency"))


@dataclass
class RunData:
    """One run read back from its artifacts."""

    name: str
    path: Path
    summary: dict[str, Any]
    records: list[dict[str, Any]] = field(default_factory=list)

    def values(self, tag: str) -> list[float]:
        """Per-request scalar values of ``tag``, profiling phase, successful requests."""
        out = []
        for record in self.profiling():
            metric = (record.get("metrics") or {}).get(tag)
            value = metric.get("value") if isinstance(metric, dict) else None
            if record.get("error") is None and isinstance(value, (int, float)):
                out.append(float(value))
        return out

    def profiling(self) -> list[dict[str, Any]]:
        return [r for r in self.records if (r.get("metadata") or {}).get("benchmark_phase") == "profiling"]

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
    records = []
    jsonl = path / "profile_export.jsonl"
    if jsonl.is_file():
        with jsonl.open(encoding="utf-8") as lines:
            records = [json.loads(line) for line in lines if line.strip()]
    return RunData(name, path, summary, records)


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
    series = [(run, np.sort(run.values(tag))) for run in runs]
    series = [(run, values) for run, values in series if values.size]
    if not series:
        return None
    fig, ax = _figure(f"{label} CDF", f"{label} (ms)", "share of requests")
    for run, values in series:
        ax.step(values, np.arange(1, values.size + 1) / values.size, where="post", label=run.label,
                linestyle="-" if run.incomplete_reason is None else "--")
    return _write(_finish(fig, ax, legend=True, notes=_run_notes([run for run, _ in series])), out,
                  f"cdf_{tag}.png")


def per_second(run: RunData) -> dict[str, np.ndarray]:
    """Per-second series of one run, seconds since its first profiling request start: ``second``,
    ``output_tokens`` (tokens of requests completed in that second, i.e. output token throughput),
    ``ttft_ms`` (mean TTFT of requests that started in it; NaN when none) and ``errors`` (failed requests
    ending in it)."""
    records = run.profiling()
    starts = [r["metadata"]["request_start_ns"] for r in records if r["metadata"].get("request_start_ns")]
    if not starts:
        return {}
    t0 = min(starts)
    ends = [r["metadata"].get("request_end_ns") or t0 for r in records]
    seconds = math.ceil((max(ends) - t0) / 1e9) or 1
    tokens = np.zeros(seconds)
    errors = np.zeros(seconds)
    ttft_sum = np.zeros(seconds)
    ttft_n = np.zeros(seconds)
    for record, end in zip(records, ends, strict=True):
        meta, metrics = record["metadata"], record.get("metrics") or {}
        end_s = min(seconds - 1, int((end - t0) // 1e9))
        if record.get("error") is not None:
            errors[end_s] += 1
            continue
        osl = (metrics.get("output_sequence_length") or {}).get("value")
        tokens[end_s] += osl or 0
        ttft = (metrics.get("time_to_first_token") or {}).get("value")
        if ttft is not None and meta.get("request_start_ns"):
            start_s = min(seconds - 1, int((meta["request_start_ns"] - t0) // 1e9))
            ttft_sum[start_s] += ttft
            ttft_n[start_s] += 1
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
