"""What the results commands (`inferload plot`, report.html, `inferload compare`, the sweep summary) say
about incomplete data, on a real sweep Ctrl+C'd mid-way through the CLI as typed: an incomplete point is
marked wherever it is shown, with why, and the variations that never ran are named, never left out
silently."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from tests.test_plot_report import assert_drawn, png_caption

WHY = "request_count400 (incomplete): interrupted before its load finished"


@pytest.fixture(scope="module")
def cut_sweep(tmp_path_factory: pytest.TempPathFactory, inferload_exe: Path) -> Path:
    """A real three-point sweep with --report, Ctrl+C'd during its second point (``request_count400``)
    once that point has measured a request: the first point complete, the second incomplete with
    figures, the third never run."""
    from tests.conftest import build_env

    from profile_fixtures import interrupted_sweep

    root, stdout, stderr = interrupted_sweep(
        inferload_exe, build_env(None, ()), tmp_path_factory.mktemp("cut"), "--request-count", "3,400,5",
        "--concurrency", "2", "--osl", "20", "--isl", "8", "--streaming", "--goodput",
        "time_to_first_token:1000", "--report", after_requests=5)
    assert "variation 1 (request_count400) is incomplete: interrupted" in stderr, stderr
    assert "(sweep): 2 of 3 variations ran (the sweep was interrupted) (incomplete)" in stdout, stdout
    # the cut run's own table says so in its title; the complete run's does not
    titles = [line.strip() for line in stdout.splitlines() if "inferload | LLM Metrics" in line]
    assert titles == ["inferload | LLM Metrics", "inferload | LLM Metrics (incomplete: interrupted before "
                      "its load finished (was_cancelled: true))"], titles
    return root


def test_plot_marks_an_interrupted_sweep_point_hollow_with_a_caption_saying_why(
    run_cli: Any, cut_sweep: Path, tmp_path: Path
) -> None:
    result = run_cli("plot", cut_sweep, "-o", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    why = WHY
    for name in ("sweep_throughput_latency.png", "sweep_goodput.png"):
        assert_drawn(tmp_path / "out" / name)
        assert why in png_caption(tmp_path / "out" / name), name
        assert "request_count3 " not in png_caption(tmp_path / "out" / name)
    for page in (tmp_path / "out" / "report.html", cut_sweep / "report.html"):  # plot, and profile --report
        report = page.read_text()
        # under each chart: the two sweep charts, and the three CDFs and the time series of the runs
        assert report.count(f'<figcaption class="incomplete">{why}') == 6, page
        row = re.search(r"<tr><td>request_count400 \(incomplete\)</td>.*?</tr>", report)
        assert row is not None and "<b>no</b>: interrupted before its load finished" in row.group(0)
        assert re.search(r"<tr><td>request_count3</td>.*?<td>yes</td></tr>", report)


def test_an_incomplete_sweep_point_is_hollow_and_never_on_the_pareto_front(cut_sweep: Path) -> None:
    from inferload_plugins.plotting.charts import INCOMPLETE_LEGEND, goodput_figure, load, sweep_curve_figure

    sweep = load(cut_sweep)
    cut = next(row for row in sweep.summary["variations"] if not row["is_complete"])
    x = cut["metrics"]["output_token_throughput.avg"]["mean"]
    for fig, xs in ((sweep_curve_figure(sweep), [x]), (goodput_figure(sweep), [400])):
        lines = [line for ax in fig.axes for line in ax.get_lines()]
        hollow = [line for line in lines if line.get_markerfacecolor() == "white"]
        assert hollow and all(list(line.get_xdata()) == xs for line in hollow)
        assert any(line.get_label() == INCOMPLETE_LEGEND for line in hollow)
    front = next(line for line in sweep_curve_figure(sweep).axes[0].get_lines()
                 if line.get_label() == "Pareto front")
    assert x not in list(front.get_xdata())


def test_the_sweep_summary_says_which_variations_never_ran(cut_sweep: Path) -> None:
    summary = json.loads((cut_sweep / "sweep_summary.json").read_text())
    assert summary["variation_count"] == 3 and len(summary["variations"]) == 2
    assert summary["is_complete"] is False
    assert summary["warnings"][0].startswith("the sweep is incomplete: 2 of 3 variations ran (the sweep was "
                                             "interrupted)")


def test_plot_names_the_variations_that_never_ran_and_dashes_incomplete_runs(
    run_cli: Any, cut_sweep: Path, tmp_path: Path
) -> None:
    result = run_cli("plot", cut_sweep, "-o", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    gap = "sweep (incomplete): 2 of 3 variations ran (the sweep was interrupted)"
    for name in ("sweep_throughput_latency.png", "sweep_goodput.png"):
        assert gap in png_caption(out / name), name
    for name in ("cdf_time_to_first_token.png", "cdf_request_latency.png", "timeseries.png"):
        assert WHY in png_caption(out / name) and "dashed: incomplete run" in png_caption(out / name), name
        assert "request_count3 (incomplete)" not in png_caption(out / name)
        assert_drawn(out / name)
    report = (out / "report.html").read_text()
    assert '<p class="incomplete">(incomplete): 2 of 3 variations ran (the sweep was interrupted)' in report
    assert "<h2>run request_count400 (incomplete)</h2>" in report and "<h2>run request_count3</h2>" in report
    assert re.search(r'complete: <b class="incomplete">no: interrupted before its load finished', report)


def test_compare_of_an_interrupted_sweep_exits_3_and_names_what_was_not_compared(
    run_cli: Any, cut_sweep: Path, tmp_path: Path
) -> None:
    other = run_cli("profile", "--request-count", "3,5", "--concurrency", "2", "--osl", "20", "--isl", "8",
                    "--streaming", "--ui", "none", "--artifact-dir", tmp_path)
    assert other.returncode == 0, other.stderr
    whole = tmp_path / "inferload-sim-chat-sweep"
    result = run_cli("compare", cut_sweep, whole)
    assert result.returncode == 3, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "inferload: warning: variation request_count400 is only in the baseline: not compared",
        "inferload: warning: variation request_count5 is only in the candidate: not compared",
        f"inferload: error: baseline sweep {cut_sweep} is incomplete: 2 of 3 variations ran (the sweep was "
        "interrupted); re-run it, or give --allow-incomplete to compare it anyway",
    ], result.stderr
    assert "variation request_count3:" in result.stdout
    assert run_cli("compare", cut_sweep, whole, "--allow-incomplete").returncode == 0


def test_an_interrupted_search_says_so_instead_of_a_max_load(
    inferload_exe: Path, cli_env: Any, tmp_path: Path
) -> None:
    from profile_fixtures import interrupted_sweep

    root, stdout, _ = interrupted_sweep(inferload_exe, cli_env(), tmp_path, "--search-max-load", "--goodput",
                                        "time_to_first_token:1000", "--request-count", "400", "--osl", "20",
                                        "--isl", "8", "--streaming", after_requests=2)
    summary = json.loads((root / "sweep_summary.json").read_text())
    assert summary["search"]["interrupted"] is True and summary["is_complete"] is False
    assert summary["search"]["max_load"] is None and summary["search"]["first_failing_load"] is None
    lines = stdout.splitlines()
    at = lines.index("the search was interrupted (incomplete): no max load found; so far none passed")
    assert lines[at - 1].startswith("  --concurrency 1 ") and lines[at - 1].endswith(
        "interrupted (incomplete): neither pass nor fail"), lines[at - 1]
    assert lines[at - 2].startswith("max load search over --concurrency")
