"""`inferload plot` and `inferload profile --report`: PNG charts that open with content, and a report.html
that loads in headless Chromium (Debian's chromium through Playwright) offline, every image rendered."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from tests.scaled_runs import slower_copy

from headless_chromium import CHROMIUM, LAUNCH_FLAGS, needs_chromium


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory: pytest.TempPathFactory, inferload_exe: Path) -> Path:
    import subprocess

    from tests.conftest import build_env

    root = tmp_path_factory.mktemp("plot")
    result = subprocess.run(
        [str(inferload_exe), "profile", "--concurrency", "1,2,4", "--request-count", "8", "--osl", "8",
         "--isl", "8", "--streaming", "--ui", "none", "--goodput", "time_to_first_token:1000",
         "--artifact-dir", str(root)], env=build_env(None, ()), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return root / "inferload-sim-chat-sweep"


def png_caption(path: Path) -> str:
    """The caption a chart carries as its PNG ``Description`` ("" when it has none)."""
    with Image.open(path) as image:
        return str(image.info.get("Description") or "")


def assert_drawn(path: Path) -> None:
    """The PNG opens, has a plausible size and is not blank: many distinct colours."""
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width >= 300 and image.height >= 200
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
        assert colours is not None and len(colours) > 50, (path, len(colours or []))


def load_in_chromium(report: Path) -> tuple[list[str], list[str], list[int]]:
    """(failed requests, requests that left the page, naturalWidth of every img) in headless Chromium
    with the network off."""
    from playwright.sync_api import sync_playwright

    failed: list[str] = []
    external: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_FLAGS)
        try:
            context = browser.new_context(offline=True)
            page = context.new_page()
            page.on("requestfailed", lambda request: failed.append(request.url[:80]))
            page.on("request", lambda request: None if request.url.startswith(("data:", "file:"))
                    else external.append(request.url))
            page.goto(report.as_uri(), wait_until="load")
            widths = page.eval_on_selector_all(
                "img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)"
            )
        finally:
            browser.close()
    return failed, external, widths


def test_plot_of_a_sweep_writes_charts_that_open_with_content(
    run_cli: Any, sweep_dir: Path, tmp_path: Path
) -> None:
    result = run_cli("plot", sweep_dir, "-o", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert names == ["cdf_inter_token_latency.png", "cdf_request_latency.png", "cdf_time_to_first_token.png",
                     "sweep_goodput.png", "sweep_throughput_latency.png", "timeseries.png"]
    for name in names:
        assert_drawn(tmp_path / "out" / name)
        assert png_caption(tmp_path / "out" / name) == ""  # every point complete: nothing marked


@needs_chromium
def test_report_html_loads_offline_in_chromium_with_every_image_rendered(
    run_cli: Any, sweep_dir: Path, tmp_path: Path
) -> None:
    result = run_cli("plot", sweep_dir, "-o", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    report = tmp_path / "out" / "report.html"
    text = report.read_text()
    assert "concurrency4" in text and "request_throughput" in text  # the sweep table
    failed, external, widths = load_in_chromium(report)
    assert failed == [] and external == []
    assert len(widths) == 6 and all(w > 0 for w in widths)


@needs_chromium
def test_profile_report_flag_writes_the_report_beside_the_run(run_cli: Any, tmp_path: Path) -> None:
    result = run_cli("profile", "--request-count", "6", "--osl", "6", "--isl", "8", "--streaming", "--ui",
                     "none", "--report", "--api-key", "sk-test-secret-123", "--artifact-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    run_dir = tmp_path / "inferload-sim-chat-concurrency1"
    report = run_dir / "report.html"
    assert "sk-test-secret-123" not in report.read_text()
    for png in (run_dir / "plots").glob("*.png"):
        assert_drawn(png)
    failed, external, widths = load_in_chromium(report)
    assert failed == [] and external == [] and len(widths) == 4 and all(w > 0 for w in widths)


def _metric_cells(report: str, tag: str) -> list[str]:
    """The cells (unit, avg, min, p50, ...) of ``tag``'s row in report.html's metric table."""
    row = re.search(rf"<tr><td>{tag}</td>(.*?)</tr>", report)
    assert row is not None, tag
    return re.findall(r"<td>([^<]*)</td>", row.group(1))


def test_report_prints_large_and_small_figures_in_plain_notation(
    run_cli: Any, sweep_dir: Path, tmp_path: Path
) -> None:
    # one of the sweep's runs recorded 1000 times faster: tens of thousands of tokens/s, times in
    # thousandths of a ms — the sizes report.html once printed as 1.235e+04 and 1.235e-05
    first = json.loads((sweep_dir / "sweep_summary.json").read_text())["variations"][0]["run_dirs"][0]
    fast = slower_copy(sweep_dir / first, tmp_path / "fast", 0.001)
    result = run_cli("plot", fast, "-o", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    report = (tmp_path / "out" / "report.html").read_text()
    tables = "".join(re.findall(r"<table>.*?</table>", report, flags=re.S))
    assert tables and not re.search(r"\d[eE][+-]?\d", tables)
    summary = json.loads((fast / "profile_export.json").read_text())
    for tag in ("output_token_throughput", "inter_token_latency"):
        avg = _metric_cells(report, tag)[1]
        assert float(avg.replace(",", "")) == pytest.approx(summary[tag]["avg"], rel=1e-3), (tag, avg)
    assert summary["output_token_throughput"]["avg"] >= 10_000
    assert summary["inter_token_latency"]["avg"] < 0.1


def test_plot_of_a_directory_without_results_is_one_line_and_exit_2(run_cli: Any, tmp_path: Path) -> None:
    result = run_cli("plot", tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "holds no results" in lines[0] and str(tmp_path) in lines[0]
    assert not (tmp_path / "plots").exists()


def test_goodput_chart_starts_at_zero_and_its_legend_hides_no_point(sweep_dir: Path) -> None:
    from inferload_plugins.plotting.charts import goodput_figure, load

    sweep = load(sweep_dir)
    fig = goodput_figure(sweep)
    goodput_ax, ratio_ax = fig.axes
    fig.canvas.draw()
    legend = goodput_ax.get_legend().get_window_extent()
    points = 0
    for row in sweep.summary["variations"]:
        load_value = row["variation_values"]["concurrency"]
        for ax, name in ((goodput_ax, "goodput.avg"), (ratio_ax, "goodput_ratio")):
            x, y = ax.transData.transform((load_value, row["metrics"][name]["mean"]))
            assert not legend.contains(x, y), (row["variation_label"], name)
            points += 1
    assert points == 6  # concurrency 1, 2 and 4, each a goodput and a ratio point
    assert goodput_ax.get_ylim()[0] == 0 and ratio_ax.get_ylim()[0] == 0


def test_timeseries_panels_never_go_below_zero_and_errors_count_whole_requests(sweep_dir: Path) -> None:
    from inferload_plugins.plotting.charts import load, per_second, timeseries_figure

    runs = load(sweep_dir).runs
    assert all(per_second(run)["errors"].sum() == 0 for run in runs)  # a flat zero line: the old -0.05
    fig = timeseries_figure(runs)
    fig.canvas.draw()
    assert [ax.get_ylim()[0] for ax in fig.axes] == [0, 0, 0]
    errors = fig.axes[-1]
    assert errors.get_ylim()[1] >= 1
    ticks = [tick for tick in errors.get_yticks() if errors.get_ylim()[0] <= tick <= errors.get_ylim()[1]]
    assert ticks and all(float(tick).is_integer() and tick >= 0 for tick in ticks)


def test_profile_report_on_a_sweep_writes_the_sweeps_own_report_and_curves(
    run_cli: Any, tmp_path: Path
) -> None:
    result = run_cli("profile", "--concurrency", "1,2", "--request-count", "6", "--osl", "6", "--isl", "8",
                     "--streaming", "--ui", "none", "--goodput", "time_to_first_token:1000", "--report",
                     "--artifact-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    root = tmp_path / "inferload-sim-chat-sweep"
    for variation in ("v00-concurrency1", "v01-concurrency2"):  # each run's own, as before
        assert (root / variation / "report.html").is_file()
    names = sorted(p.name for p in (root / "plots").glob("*.png"))
    assert {"sweep_throughput_latency.png", "sweep_goodput.png", "timeseries.png"} <= set(names), names
    for name in names:
        assert_drawn(root / "plots" / name)
    report = (root / "report.html").read_text()
    assert report.count('<img alt="') == len(names)
    assert "concurrency1" in report and "concurrency2" in report and "(sweep)</h2>" in report
    assert not (root / "plots" / "report.html").exists()  # the page sits beside sweep_summary.json


def _per_second_in_memory(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The per-second series as they were computed before the JSONL was streamed: every record in a list."""
    import math

    import numpy as np

    records = [r for r in records if (r.get("metadata") or {}).get("benchmark_phase") == "profiling"]
    starts = [r["metadata"]["request_start_ns"] for r in records if r["metadata"].get("request_start_ns")]
    t0 = min(starts)
    ends = [r["metadata"].get("request_end_ns") or t0 for r in records]
    seconds = math.ceil((max(ends) - t0) / 1e9) or 1
    tokens, errors, ttft_sum, ttft_n = (np.zeros(seconds) for _ in range(4))
    for record, end in zip(records, ends, strict=True):
        meta, metrics = record["metadata"], record.get("metrics") or {}
        end_s = min(seconds - 1, int((end - t0) // 1e9))
        if record.get("error") is not None:
            errors[end_s] += 1
            continue
        tokens[end_s] += (metrics.get("output_sequence_length") or {}).get("value") or 0
        ttft = (metrics.get("time_to_first_token") or {}).get("value")
        if ttft is not None and meta.get("request_start_ns"):
            start_s = min(seconds - 1, int((meta["request_start_ns"] - t0) // 1e9))
            ttft_sum[start_s] += ttft
            ttft_n[start_s] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        ttft_ms = np.where(ttft_n > 0, ttft_sum / np.maximum(ttft_n, 1), np.nan)
    return {"second": np.arange(seconds), "output_tokens": tokens, "ttft_ms": ttft_ms, "errors": errors}


def test_charts_stream_the_jsonl_and_draw_what_the_records_in_memory_gave(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import random

    import numpy as np

    from inferload_plugins.plotting import charts

    monkeypatch.setattr(charts, "_SPILL_ROWS", 97)  # rows written to the spool file and read back in chunks
    rng = random.Random(7)
    records = []
    for i in range(3000):
        start = 1_790_000_000_000_000_000 + i * 3_333_333 + rng.randrange(10**6)
        metrics = {"time_to_first_token": {"value": rng.uniform(5, 90), "unit": "ms"},
                   "inter_token_latency": {"value": rng.choice([1.5, 2.25, rng.uniform(1, 9)]), "unit": "ms"},
                   "request_latency": {"value": rng.uniform(50, 900), "unit": "ms"},
                   "output_sequence_length": {"value": rng.randrange(1, 64), "unit": "tokens"}}
        if i % 17 == 0:
            del metrics["time_to_first_token"]
        end = None if i % 313 == 0 else start + rng.randrange(10**9)
        phase = "warmup" if i < 20 else "profiling"
        records.append({"metadata": {"benchmark_phase": phase, "request_end_ns": end,
                                     "request_start_ns": None if i % 251 == 0 else start},
                        "metrics": metrics, "error": {"type": "http"} if i % 29 == 0 else None})
    jsonl = tmp_path / "profile_export.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in records) + "\n")
    run = charts.RunData("r", tmp_path, {}, charts.RunSeries.read(jsonl))
    expected = _per_second_in_memory(records)
    got = charts.per_second(run)
    assert got.keys() == expected.keys()
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key])  # bit for bit: summed in the same order
    profiling = [r for r in records if r["metadata"]["benchmark_phase"] == "profiling" and r["error"] is None]
    for tag, _ in charts.CDF_METRICS:
        values = np.sort([r["metrics"][tag]["value"] for r in profiling if tag in r["metrics"]])
        for points in (1 << 20, 100):  # every value; then 100 evenly spaced ranks of them
            monkeypatch.setattr(charts, "CDF_POINTS", points)
            xs, shares = run.cdf(tag)
            ranks = np.unique(np.linspace(0, values.size - 1, min(points, values.size)).round().astype(int))
            np.testing.assert_array_equal(xs, values[ranks])
            np.testing.assert_array_equal(shares, (ranks + 1) / values.size)
    assert charts.RunData("empty", tmp_path, {}).cdf("request_latency")[0].size == 0
