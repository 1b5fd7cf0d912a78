"""Sweeps, repeated trials and the SLA search (`inferload profile` with list-valued flags,
--num-profile-runs, --search-max-load) against the embedded simulator, through the CLI as typed."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
from tests.conftest import build_env

from scripted_server import ScriptedServer, json_response

TINY = ("--request-count", "8", "--osl", "8", "--isl", "16", "--streaming", "--ui", "none")


def _summary(root: Path) -> dict[str, Any]:
    return json.loads((root / "sweep_summary.json").read_text())


def test_concurrency_sweep_writes_three_variations_and_a_summary_rising_in_throughput(
    run_cli: Any, tmp_path: Path
) -> None:
    result = run_cli("profile", "--concurrency", "1,2,4", *TINY, "--run-label", "knee",
                     "--artifact-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    root = tmp_path / "inferload-sim-chat-sweep"
    dirs = sorted(p.name for p in root.iterdir() if p.is_dir())
    assert dirs == ["v00-concurrency1", "v01-concurrency2", "v02-concurrency4"]
    summary = _summary(root)
    throughput = [row["metrics"]["request_throughput.avg"]["mean"] for row in summary["variations"]]
    assert throughput == sorted(throughput) and throughput[0] < throughput[-1]
    infos = [json.loads((root / d / "profile_export.json").read_text())["run_info"] for d in dirs]
    assert {info["sweep_id"] for info in infos} == {summary["sweep_id"]}
    assert [info["variation_index"] for info in infos] == [0, 1, 2]
    assert [info["variation_values"] for info in infos] == [{"concurrency": c} for c in (1, 2, 4)]
    assert {info["run_label"] for info in infos} == {"knee"}
    assert len({info["benchmark_id"] for info in infos}) == 3
    rows = list(csv.DictReader((root / "sweep_summary.csv").open()))
    assert [row["concurrency"] for row in rows] == ["1", "2", "4"]
    assert float(rows[2]["request_throughput.avg"]) == throughput[2]


def test_two_axes_sweep_runs_the_cartesian_product_first_axis_slowest(run_cli: Any, tmp_path: Path) -> None:
    result = run_cli("profile", "--concurrency", "1,2", "--isl", "8,16", "--request-count", "2", "--osl",
                     "4", "--ui", "none", "--artifact-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    labels = [row["variation_label"] for row in _summary(tmp_path / "inferload-sim-chat-sweep")["variations"]]
    assert labels == ["concurrency1-isl8", "concurrency1-isl16", "concurrency2-isl8", "concurrency2-isl16"]


def test_num_profile_runs_writes_trials_and_student_t_intervals(run_cli: Any, tmp_path: Path) -> None:
    result = run_cli("profile", "--concurrency", "2", "--num-profile-runs", "3", *TINY,
                     "--confidence-level", "0.9", "--artifact-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    root = tmp_path / "inferload-sim-chat-concurrency2"
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == ["trial00", "trial01", "trial02"]
    trials = [json.loads((root / f"trial0{t}" / "profile_export.json").read_text()) for t in range(3)]
    assert [t["run_info"]["trial"] for t in trials] == [0, 1, 2]
    block = _summary(root)["variations"][0]["metrics"]["time_to_first_token.avg"]
    values = [t["time_to_first_token"]["avg"] for t in trials]
    assert block["n"] == 3 and block["confidence_level"] == 0.9
    assert abs(block["mean"] - sum(values) / 3) < 1e-9
    assert block["ci_low"] < block["mean"] < block["ci_high"]
    assert block["cv"] == block["std"] / block["mean"]
    # the per-run charts and sections draw one trial: they say which, never the variation's name alone
    plotted = run_cli("plot", root, "-o", tmp_path / "plots")
    assert plotted.returncode == 0, plotted.stderr
    report = (tmp_path / "plots" / "report.html").read_text()
    assert "<h2>run base (trial 1 of 3)</h2>" in report and "<h2>run base</h2>" not in report


def test_high_trial_to_trial_variation_is_warned(run_cli: Any, tmp_path: Path) -> None:
    # a latency of one or two requests varies well over 10 % from trial to trial on a shared machine
    result = run_cli("profile", "--num-profile-runs", "4", "--request-count", "1", "--osl", "2",
                     "--ui", "none", "--confidence-level", "0.5", "--artifact-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    summary = _summary(tmp_path / "inferload-sim-chat-concurrency1")
    metrics = summary["variations"][0]["metrics"]
    high = [name for name, b in metrics.items() if b and b["cv"] and b["cv"] > 0.1]
    assert len(summary["warnings"]) == len(high)
    assert all("CV" in w for w in summary["warnings"])


def test_sla_search_lands_on_the_simulators_known_saturation_point(run_cli: Any, tmp_path: Path) -> None:
    # --max-running-seqs 4: a fifth concurrent request queues for a whole response (24 decode steps of
    # >= 5 ms each, over 120 ms), so its TTFT misses a 50 ms SLO while four fit one step (~5 ms): the
    # limit is 4, with a wide margin on either side for a loaded machine.
    result = run_cli("profile", "--search-max-load", "--goodput", "time_to_first_token:50",
                     "--request-count", "12", "--osl", "24", "--isl", "16", "--streaming", "--ui", "none",
                     "--artifact-dir", tmp_path, env={"INFERLOAD_SIM_MAX_RUNNING_SEQS": "4"})
    assert result.returncode == 0, result.stderr
    search = _summary(tmp_path / "inferload-sim-chat-search")["search"]
    assert search["axis"] == "concurrency" and search["converged"]
    assert search["max_load"] == 4 and search["first_failing_load"] == 5  # precision 1 for concurrency
    loads = [p["load"] for p in search["probes"]]
    assert loads == sorted(loads) and {1, 2, 4, 8} <= set(loads)  # the exponential probe, then bisection
    assert "max load: --concurrency 4, below 5" in result.stdout


def test_sweep_shows_its_current_variation_on_the_live_api(
    inferload_exe: Path, tmp_path: Path, free_port: int
) -> None:
    process = subprocess.Popen(
        [str(inferload_exe), "profile", "--concurrency", "1,2", "--request-count", "40", "--osl", "8",
         "--isl", "8", "--streaming", "--ui", "none", "--api-port", str(free_port), "--api-linger", "inf",
         "--artifact-dir", str(tmp_path)],
        env=build_env(None, ()), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{free_port}"
    seen: list[tuple[int, str]] = []
    try:
        while True:
            try:
                progress = httpx.get(f"{base}/api/progress", timeout=2).json()
                run = httpx.get(f"{base}/api/run", timeout=2).json()
            except httpx.HTTPError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                continue
            sweep = progress.get("sweep") or {}
            if "variation_index" in sweep and run.get("benchmark_id"):
                seen.append((sweep["variation_index"], run["variation_label"] or ""))
            if sweep.get("finished"):
                break
    finally:
        process.send_signal(2)
        process.communicate(timeout=30)
    assert process.returncode == 0
    assert (0, "concurrency1") in seen and (1, "concurrency2") in seen
    assert [index for index, _ in seen] == sorted(index for index, _ in seen)


def test_sweep_bad_input_is_one_line_and_exit_2(run_cli: Any, tmp_path: Path) -> None:
    cases = {
        ("--workers", "1,2"): "--workers takes one value, not the list '1,2'",
        ("--concurrency", ","): "is an empty list",
        ("--concurrency", "1,,2"): "has an empty item",
        ("--concurrency", "1,2,3", "--isl", "1,2,3", "--max-variations", "8"):
            "the sweep has 9 variations (3 --concurrency x 3 --isl), more than --max-variations 8",
        ("--concurrency", "1,0"): "invalid --concurrency 0",
        ("--search-max-load",): "--search-max-load needs --goodput",
        ("--search-max-load", "--goodput", "time_to_first_token:5", "--concurrency", "1,2"):
            "--search-max-load chooses the loads itself",
    }
    for args, message in cases.items():
        result = run_cli("profile", *args, "--ui", "none", "--artifact-dir", tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert not any(tmp_path.iterdir())  # nothing ran


def test_compare_and_plot_accept_a_sweep_variation_directory_of_trials(run_cli: Any, tmp_path: Path) -> None:
    result = run_cli("profile", "--concurrency", "1,2", "--num-profile-runs", "2", *TINY,
                     "--artifact-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    root = tmp_path / "inferload-sim-chat-sweep"
    first, second = root / "v00-concurrency1", root / "v01-concurrency2"
    assert sorted(p.name for p in first.iterdir()) == ["trial00", "trial01"]  # no summary of its own
    compared = run_cli("compare", first, second, "-o", tmp_path / "compare.json")
    assert compared.returncode == 0, compared.stderr
    doc = json.loads((tmp_path / "compare.json").read_text())
    [unit] = doc["comparisons"]
    assert {row["interval_over"] for row in unit["rows"] if row["ci_low"] is not None} == {"trials"}
    # the trial means are the sweep's own: the same figures its summary reports for the two variations
    sweep = {row["variation_label"]: row["metrics"] for row in _summary(root)["variations"]}
    row = next(row for row in unit["rows"] if row["metric"] == "request_throughput.avg")
    assert row["baseline"] == sweep["concurrency1"]["request_throughput.avg"]["mean"]
    assert row["candidate"] == sweep["concurrency2"]["request_throughput.avg"]["mean"]
    plotted = run_cli("plot", first, "-o", tmp_path / "plots")
    assert plotted.returncode == 0, plotted.stderr
    report = (tmp_path / "plots" / "report.html").read_text()
    assert "run concurrency1" in report and (tmp_path / "plots" / "cdf_request_latency.png").is_file()


def test_sweep_lists_come_from_the_environment_and_the_config_file_too(run_cli: Any, tmp_path: Path) -> None:
    def labels(root: Path) -> list[str]:
        return [row["variation_label"] for row in _summary(root / "inferload-sim-chat-sweep")["variations"]]

    result = run_cli("profile", "--request-count", "4", "--osl", "4", "--ui", "none", "--artifact-dir",
                     tmp_path / "env", env={"INFERLOAD_CONCURRENCY": "1,2", "INFERLOAD_ISL": "[8, 16]"})
    assert result.returncode == 0, result.stderr
    assert labels(tmp_path / "env") == ["concurrency1-isl8", "concurrency1-isl16", "concurrency2-isl8",
                                        "concurrency2-isl16"]
    config = tmp_path / "sweep.yaml"
    config.write_text("concurrency: [1, 2]\nrequest-rate: '50,100'\n")
    result = run_cli("profile", *TINY, "-f", config, "--artifact-dir", tmp_path / "file")
    assert result.returncode == 0, result.stderr
    # axes from the environment or a file in the order the flags are listed (--help): concurrency first
    assert labels(tmp_path / "file") == ["concurrency1-request_rate50", "concurrency1-request_rate100",
                                         "concurrency2-request_rate50", "concurrency2-request_rate100"]
    # the usual precedence: the command line over the environment's list, the environment over the file
    result = run_cli("profile", *TINY, "--concurrency", "3", "-f", config, "--request-count", "3",
                     "--artifact-dir", tmp_path / "cli", env={"INFERLOAD_REQUEST_RATE": "200"})
    assert result.returncode == 0, result.stderr
    runs = sorted(p.name for p in (tmp_path / "cli").iterdir())
    assert runs == ["inferload-sim-chat-request_rate200-concurrency3"], runs  # one run, no sweep
    assert "request rate 200 req/s" in result.stdout + result.stderr


def test_a_bad_sweep_list_from_the_environment_or_file_is_one_line_naming_it(
    run_cli: Any, tmp_path: Path
) -> None:
    result = run_cli("profile", *TINY, "--artifact-dir", tmp_path, env={"INFERLOAD_CONCURRENCY": "1,,2"})
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "INFERLOAD_CONCURRENCY: '1,,2' is an empty list or has an empty item" in result.stderr
    config = tmp_path / "bad.json"
    config.write_text(json.dumps({"concurrency": [4, "many"]}))
    result = run_cli("profile", *TINY, "-f", config, "--artifact-dir", tmp_path)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    expected = f"concurrency in config file {config}: '4,many' is not a whole number or a list of them"
    assert expected in result.stderr
    assert not any(tmp_path.glob("inferload-*"))  # refused before any run


def test_a_search_reports_intervals_as_a_sweep_does_and_lists_its_rows_by_load(
    run_cli: Any, tmp_path: Path
) -> None:
    # two decoding slots: a third concurrent request waits for a whole response (48 decode steps of >= 5 ms
    # each, over 240 ms) and misses a 150 ms TTFT SLO, two fit one step (~5 ms): concurrency 1 and 2 pass,
    # 4 fails, so the bisection probes 3 after 4 — the probe order differs from the load order
    slow = {"INFERLOAD_SIM_MAX_RUNNING_SEQS": "2"}
    common = ("--goodput", "time_to_first_token:150", "--request-count", "6", "--osl", "48", "--isl", "8",
              "--streaming", "--ui", "none", "--num-profile-runs", "2", "--artifact-dir", tmp_path)
    search = run_cli("profile", "--search-max-load", "--max-variations", "4", *common, env=slow)
    assert search.returncode == 0, search.stderr
    sweep = run_cli("profile", "--concurrency", "1,2", *common, env=slow)
    assert sweep.returncode == 0, sweep.stderr
    docs = {kind: _summary(tmp_path / f"inferload-sim-chat-{kind}") for kind in ("search", "sweep")}
    for doc in docs.values():  # two trials: every figure has its interval, in both kinds
        for row in doc["variations"]:
            assert all(block["n"] == 2 and block["ci_low"] is not None and block["ci_high"] is not None
                       for block in row["metrics"].values()), row
    answer = docs["search"]["search"]
    rows = {row["variation_index"]: row for row in docs["search"]["variations"]}
    for probe in answer["probes"]:
        ratio = rows[probe["variation_index"]]["metrics"]["goodput_ratio"]
        assert (probe["goodput_ratio_ci_low"], probe["goodput_ratio_ci_high"]) == (ratio["ci_low"],
                                                                                   ratio["ci_high"])
    loads = [probe["load"] for probe in answer["probes"]]
    assert loads == sorted(loads)
    probe_order = [row["variation_values"]["concurrency"] for row in docs["search"]["variations"]]
    assert probe_order != sorted(probe_order), probe_order  # the bisection went back below 4
    table = search.stdout[search.stdout.index("rows by load"):].splitlines()[2:2 + len(probe_order)]
    assert [int(line.split()[1].removeprefix("concurrency")) for line in table] == sorted(probe_order)


def test_rerank_documents_lists_sweep_from_the_environment_as_on_the_command_line(
    run_cli: Any, tmp_path: Path
) -> None:
    result = run_cli("profile", "--endpoint-type", "rerank", "--request-count", "2", "--isl", "8", "--ui",
                     "none", "--artifact-dir", tmp_path, env={"INFERLOAD_RERANK_DOCUMENTS": "2,3"})
    assert result.returncode == 0, result.stderr
    rows = _summary(tmp_path / "inferload-sim-rerank-sweep")["variations"]
    assert [row["variation_label"] for row in rows] == ["rerank_documents2", "rerank_documents3"]


def test_a_plugin_option_with_a_sweep_flag_takes_a_list_on_the_command_line(
    run_cli: Any, tmp_path: Path
) -> None:
    # --rerank-documents is dataset-synthetic's option (Flag(sweep=True)), not a core flag
    result = run_cli("profile", "--endpoint-type", "rerank", "--rerank-documents", "3,2", "--request-count",
                     "1", "--isl", "8", "--ui", "none", "--artifact-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    rows = _summary(tmp_path / "inferload-sim-rerank-sweep")["variations"]
    assert [row["variation_label"] for row in rows] == ["rerank_documents3", "rerank_documents2"]
    refused = run_cli("profile", "--rerank-query-tokens", "8,9", "--artifact-dir", tmp_path / "never")
    assert refused.returncode == 2 and "--rerank-query-tokens takes one value" in refused.stderr


def test_a_second_sweep_into_one_artifact_dir_keeps_the_first_and_compare_reads_both(
    run_cli: Any, tmp_path: Path
) -> None:
    for _ in range(2):
        result = run_cli("profile", "--concurrency", "1,2", "--request-count", "2", "--osl", "4", "--isl",
                         "8", "--ui", "none", "--artifact-dir", tmp_path)
        assert result.returncode == 0, result.stderr
    roots = sorted(p for p in tmp_path.iterdir() if p.is_dir())
    assert len(roots) == 2 and roots[0].name == "inferload-sim-chat-sweep", roots
    earlier = roots[1]
    assert earlier.name.startswith("inferload-sim-chat-sweep.")
    moved = [line for line in result.stderr.splitlines() if "earlier sweep" in line]
    assert len(moved) == 1 and str(earlier) in moved[0], result.stderr
    assert _summary(earlier)["sweep_id"] != _summary(roots[0])["sweep_id"]  # both sweeps, whole
    compared = run_cli("compare", earlier / "v01-concurrency2", roots[0] / "v01-concurrency2", "-o",
                       tmp_path / "compare.json")
    assert compared.returncode == 0, compared.stderr
def test_a_sweep_point_cut_by_ctrl_c_is_marked_incomplete_and_compare_fails_on_it(
    inferload_exe: Path, cli_env: Any, tmp_path: Path
) -> None:
    """Ctrl+C during the second point: the table, sweep_summary.csv and .json mark it incomplete with why
    (the first stays complete), and `inferload compare FULL INTERRUPTED` exits 3 with one line naming the
    interrupted candidate and why; with --allow-incomplete it compares, warns and exits 0."""
    from profile_fixtures import interrupted_sweep

    root, stdout, _ = interrupted_sweep(inferload_exe, cli_env(), tmp_path, "--concurrency", "2",
                                        "--request-count", "2,400", "--osl", "20", "--isl", "8",
                                        "--streaming", after_requests=4)
    summary = _summary(root)
    assert [row["is_complete"] for row in summary["variations"]] == [True, False]
    assert summary["variations"][1]["incomplete_reason"].startswith("interrupted before its load finished")
    assert summary["variations"][0]["incomplete_reason"] is None
    assert any("variation 1" in w and "incomplete: interrupted" in w for w in summary["warnings"])
    rows = list(csv.DictReader((root / "sweep_summary.csv").open()))
    assert [row["is_complete"] for row in rows] == ["true", "false"]
    assert rows[0]["incomplete_reason"] == "" and rows[1]["incomplete_reason"].startswith("interrupted")
    assert "(incomplete)" in stdout.splitlines()[-1] and "(incomplete)" not in stdout.splitlines()[-2]
    full, cut = root / "v00-request_count2", root / "v01-request_count400"
    compared = subprocess.run([str(inferload_exe), "compare", str(full), str(cut), "-o",
                               str(tmp_path / "compare.json")],
                              env=cli_env(), capture_output=True, text=True, timeout=120)
    assert compared.returncode == 3, compared.stderr
    errors = [line for line in compared.stderr.splitlines() if "error" in line]
    assert errors == [f"inferload: error: candidate run {cut} is incomplete: interrupted before its load "
                      "finished (was_cancelled: true); re-run it, or give --allow-incomplete to compare it "
                      "anyway"]
    assert f"baseline run {full}" not in compared.stderr
    assert "[candidate (incomplete)]" in compared.stdout.splitlines()[0]
    doc = json.loads((tmp_path / "compare.json").read_text())
    assert doc["passed"] is False and doc["breaches"] == []
    assert doc["incomplete"] == [{"side": "candidate", "run": str(cut), "reason": summary["variations"][1][
        "incomplete_reason"]}]
    allowed = subprocess.run([str(inferload_exe), "compare", str(full), str(cut), "--allow-incomplete"],
                             env=cli_env(), capture_output=True, text=True, timeout=120)
    assert allowed.returncode == 0, allowed.stderr
    assert f"warning: candidate run {cut} is incomplete: interrupted" in allowed.stderr


def test_a_sweep_whose_server_refuses_the_credentials_ends_at_its_first_point(
    run_cli: Any, tmp_path: Path
) -> None:
    refuse = lambda request, number: json_response(401, {"error": {"message": "Invalid API key"}})  # noqa: E731
    with ScriptedServer(refuse) as server:
        result = run_cli("profile", "--url", server.url, "-m", "m", "--concurrency", "1,2,4",
                         "--num-profile-runs", "2", "--benchmark-duration", "600", "--osl", "2", "--isl", "8",
                         "--ui", "none", "--api-key", "sk-wrong-77", "--artifact-dir", tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("stopped early:") == 1, result.stderr
    assert "ended at variation 0: its run stopped early (the line above says why), so the 2 variation(s) " \
        "after it were not run" in result.stderr
    root = tmp_path / "m-chat-sweep"
    (row,) = _summary(root)["variations"]  # one point, one trial: the rest would be refused too
    assert (row["trials"], row["exit_codes"], row["is_complete"]) == (1, [1], False)
    assert "sk-wrong-77" not in result.stderr
