"""Server metrics end to end: `inferload profile` scrapes the simulator's vLLM-named /metrics, extra
--server-metrics and --gpu-telemetry endpoints over real HTTP, and writes server_metrics.jsonl, the
server_metrics block of profile_export.json and GET /api/server-metrics; broken targets cost nothing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from profile_fixtures import Simulator, artifact_dir, read_jsonl, simulator, start_simulator, wait_for
from scrape_targets import (
    ENERGY_STEP_MJ,
    POWER_W,
    RESTART_STEP,
    ScrapeTarget,
    closed_port_url,
    dcgm_body,
    restarting_counter_body,
)
from scripted_server import ScriptedServer, json_response, self_signed_tls

__all__ = ["simulator"]

LOAD = ("--streaming", "--osl", "12", "--isl", "8", "--ui", "none")


def profile(run_cli: Any, url: str, root: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    result = run_cli("profile", "--url", url, "-m", "m", *LOAD, "--artifact-dir", root, *args)
    assert result.returncode == 0, result.stderr
    return result, artifact_dir(root)


def wait_for_final_block(base: str) -> None:
    """Until ``GET /api/server-metrics`` of the API at ``base`` carries the final summary block."""

    def final_block() -> bool:
        try:
            return httpx.get(f"{base}/api/server-metrics", timeout=2).json()["summary"] is not None
        except httpx.HTTPError:
            return False

    wait_for(final_block, timeout=60)


def summary_of(run: Path) -> dict[str, Any]:
    return json.loads((run / "profile_export.json").read_text())


def test_default_profile_yields_vllm_families_in_jsonl_summary_and_api_route(
    inferload_exe: Path, cli_env: Any, tmp_path: Path, free_port: int
) -> None:
    # No --url: the embedded simulator, default server-metrics flags (only a faster interval).
    process = subprocess.Popen(
        [str(inferload_exe), "profile", *LOAD, "--concurrency", "4", "--request-count", "24",
         "--server-metrics-interval", "0.1", "--api-port", str(free_port), "--api-linger", "inf",
         "--artifact-dir", str(tmp_path / "art")],
        env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    base = f"http://127.0.0.1:{free_port}"
    try:
        wait_for_final_block(base)
        body = httpx.get(f"{base}/api/server-metrics", timeout=2).json()
    finally:
        process.terminate()
        process.communicate(timeout=30)
    run = artifact_dir(tmp_path / "art")
    summary = summary_of(run)
    block = summary["server_metrics"]
    assert body["summary"] == block
    assert body["enabled"] and body["interval_sec"] == 0.1
    (source,) = block["sources"]
    assert source["discovered"] and source["status"] == "ok" and source["maps"] == ["vllm"]
    assert {"vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
            "vllm:time_to_first_token_seconds", "vllm:generation_tokens_total"} <= set(block["families"])
    running = block["families"]["vllm:num_requests_running"]
    assert running["concept"] == "requests_running"
    stats = running["series"][0]
    assert set(stats) >= {"run", "profiling", "steady_state"}
    assert set(stats["run"]) >= {"avg", "min", "max", "p50", "p99"}
    assert 0 <= stats["run"]["min"] <= stats["run"]["avg"] <= stats["run"]["max"] <= 4
    # The server's own TTFT/ITL/latency beside the client's: every profiled request on both sides.
    for concept in ("time_to_first_token", "inter_token_latency", "request_latency"):
        side_by_side = block["comparison"][concept]
        assert side_by_side["unit"] == "ms"
        assert side_by_side["server"]["count"] == side_by_side["client"]["count"] == 24
    # The generated-token counter's increase over the run is the client's output token total.
    generated = block["families"]["vllm:generation_tokens_total"]["series"][0]["run"]["total_increase"]
    assert generated == summary["total_osl"]["avg"]
    lines = read_jsonl(run / "server_metrics.jsonl")
    assert lines and all(line["ok"] for line in lines)
    assert [line["timestamp_ns"] for line in lines] == sorted(line["timestamp_ns"] for line in lines)
    assert lines[0]["phase"] is None and lines[0]["t_sec"] >= 0  # the baseline, before the first request
    assert any(line["phase"] == "profiling" for line in lines)
    rows = {row["family"]: row for row in lines[-1]["series"]}
    assert rows["vllm:request_queue_time_seconds"]["type"] == "histogram"
    assert rows["vllm:request_queue_time_seconds"]["concept"] == "queue_time"


def test_server_queue_depth_rises_with_concurrency_in_a_two_point_sweep(
    inferload_exe: Path, cli_env: Any, tmp_path: Path
) -> None:
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, "--decode-step-s", "0.004",
                          "--decode-step-per-seq-s", "0", "--prefill-tokens-per-s", "1000000",
                          "--max-running-seqs", "4")
    depth = {}
    try:
        for concurrency, count in ((1, 12), (8, 48)):
            root = tmp_path / f"c{concurrency}"
            result = subprocess.run(
                [str(inferload_exe), "profile", "--url", sim.url, "-m", "m", *LOAD, "--concurrency",
                 str(concurrency), "--request-count", str(count), "--server-metrics-interval", "0.05",
                 "--artifact-dir", str(root)],
                env=cli_env(), capture_output=True, text=True, timeout=120, check=False)
            assert result.returncode == 0, result.stderr
            families = summary_of(artifact_dir(root))["server_metrics"]["families"]
            running = families["vllm:num_requests_running"]["series"][0]["profiling"]
            waiting = families["vllm:num_requests_waiting"]["series"][0]["profiling"]
            depth[concurrency] = (running["avg"] + waiting["avg"], running["max"], waiting["max"])
    finally:
        sim.stop()
    assert depth[8][0] > depth[1][0]
    assert depth[1][1] <= 1 and depth[1][2] == 0  # one in flight: nothing ever waits
    assert depth[8][1] == 4 and depth[8][2] > 0  # eight in flight, four slots: the queue fills


def test_down_slow_garbage_and_vanishing_targets_leave_the_run_whole_with_gaps_and_one_warning_each(
    run_cli: Any, simulator: Simulator, tmp_path: Path
) -> None:
    good = "# TYPE up gauge\nup 1\n"
    slow = ScrapeTarget(lambda n: (200, good), delay=1.6)
    garbage = ScrapeTarget(lambda n: (200, "<html><body>Not Prometheus</body></html>\n"))
    vanishing = ScrapeTarget(lambda n: (200, good), vanish_after=2)
    down = closed_port_url()
    try:
        result, run = profile(
            run_cli, simulator.url, tmp_path / "art", "--concurrency", "2", "--request-count", "40",
            "--server-metrics-interval", "0.1", *(arg for url in (down, slow.url, garbage.url, vanishing.url)
                                                 for arg in ("--server-metrics", url)),
        )
    finally:
        for target in (slow, garbage, vanishing):
            target.stop()
    summary = summary_of(run)
    assert summary["is_complete"] and summary["request_count"]["avg"] == 40
    sources = {s["url"]: s for s in summary["server_metrics"]["sources"]}
    assert sources[simulator.url + "/metrics"]["status"] == "ok"
    assert sources[down]["status"] == "unavailable" and sources[down]["scrapes_ok"] == 0
    assert sources[garbage.url]["status"] == "unavailable"
    assert "not Prometheus text" in sources[garbage.url]["first_error"]
    assert sources[slow.url]["scrapes_failed"] >= 1 and "Timeout" in sources[slow.url]["first_error"]
    assert sources[vanishing.url]["scrapes_ok"] == 2 and sources[vanishing.url]["status"] == "gaps"
    gap = sources[vanishing.url]["gaps"][-1]
    assert gap["end_ns"] is None and gap["scrapes_missed"] == sources[vanishing.url]["scrapes_failed"]
    warnings = summary["client_health"]["warnings"]
    for url in (down, slow.url, garbage.url, vanishing.url):
        assert sum(url in w for w in warnings) == 1, (url, warnings)
        assert sum(url in line and "scrape failed" in line for line in result.stderr.splitlines()) == 1
    lines = read_jsonl(run / "server_metrics.jsonl")
    failed = [line for line in lines if line["source"] == vanishing.url and not line["ok"]]
    assert failed and all(line["error"] for line in failed)
    assert max(line["timestamp_ns"] for line in lines if line["source"] == vanishing.url and line["ok"]) \
        < min(line["timestamp_ns"] for line in failed)


def test_dcgm_exporter_gives_per_gpu_power_utilisation_memory_clock_and_energy_per_output_token(
    run_cli: Any, simulator: Simulator, tmp_path: Path
) -> None:
    dcgm = ScrapeTarget(lambda n: (200, dcgm_body(n)))
    try:
        _, run = profile(run_cli, simulator.url, tmp_path / "art", "--concurrency", "2", "--request-count",
                         "30", "--server-metrics-interval", "0.1", "--gpu-telemetry", dcgm.url)
    finally:
        dcgm.stop()
    summary = summary_of(run)
    gpu = summary["server_metrics"]["gpu"]
    assert [g["gpu"] for g in gpu["gpus"]] == ["0", "1"]
    for entry in gpu["gpus"]:
        assert entry["model"] == "NVIDIA H100 80GB HBM3"
        assert entry["power"] == {"unit": "W", "avg": POWER_W[entry["gpu"]], "max": POWER_W[entry["gpu"]]}
        assert entry["sm_clock"]["avg"] == 1980 and entry["memory_used"]["unit"] == "MiB"
        assert entry["utilization"]["max"] == 87 + int(entry["gpu"])
        # energy: a whole number of scrape steps, converted from mJ to J
        steps = entry["energy_joules"] / (ENERGY_STEP_MJ / 1000)
        assert steps >= 1 and steps == int(steps)
    assert gpu["energy_joules"] == sum(g["energy_joules"] for g in gpu["gpus"])
    assert gpu["energy_per_output_token_joules"] == pytest.approx(
        gpu["energy_joules"] / summary["total_osl"]["avg"])
    source = next(s for s in summary["server_metrics"]["sources"] if s["kind"] == "gpu")
    assert source["maps"] == ["dcgm"] and source["status"] == "ok"


def test_a_counter_that_restarts_inside_the_window_counts_what_it_counted_on_both_sides(
    run_cli: Any, simulator: Simulator, tmp_path: Path
) -> None:
    target = ScrapeTarget(lambda n: (200, restarting_counter_body(n, restart_at=3)))
    try:
        _, run = profile(run_cli, simulator.url, tmp_path / "art", "--request-rate", "20", "--request-count",
                         "20", "--server-metrics-interval", "0.1", "--server-metrics", target.url)
    finally:
        target.stop()
    block = summary_of(run)["server_metrics"]
    (series,) = block["families"]["jobs_done_total"]["series"]
    window = block["windows"]["run"]
    scrapes = [line for line in read_jsonl(run / "server_metrics.jsonl") if line["source"] == target.url]
    assert len(scrapes) == target.requests > 4 and all(line["ok"] for line in scrapes)
    inside = [s for s in scrapes if window["start_ns"] <= s["timestamp_ns"] <= window["end_ns"]]
    totals = [s["series"][0]["total"] for s in inside]
    assert min(totals) < max(totals) and totals.index(min(totals)) > 0  # the restart is inside the window
    # Every interval counted RESTART_STEP, the one across the restart too: Prometheus' increase().
    measured_intervals = len(inside) - (inside[0] is scrapes[0])
    assert series["run"]["total_increase"] == RESTART_STEP * measured_intervals
    assert series["run"]["avg"] > 0 and series["run"]["min"] > 0


def test_a_telemetry_url_with_the_wrong_scheme_is_said_once_with_the_fix_and_not_scraped_again(
    run_cli: Any, simulator: Simulator, tmp_path: Path
) -> None:
    with ScriptedServer(lambda request, number: json_response(200, {}), tls=self_signed_tls(tmp_path)) as tls:
        plain_url = tls.url.replace("https://", "http://") + "/metrics"
        result, run = profile(run_cli, simulator.url, tmp_path / "art", "--request-count", "10",
                              "--server-metrics-interval", "0.1", "--gpu-telemetry", plain_url)
    host_port = tls.url.removeprefix("https://")
    said = [line for line in result.stderr.splitlines() if "speaks TLS" in line]
    assert len(said) == 1, result.stderr
    assert f"the server at {host_port} speaks TLS; use https:// in --gpu-telemetry" in said[0]
    source = next(s for s in summary_of(run)["server_metrics"]["sources"] if s["kind"] == "gpu")
    assert (source["status"], source["scrapes_failed"], source["scrapes_ok"]) == ("unavailable", 1, 0)


def test_the_scrape_spool_is_gone_when_the_run_ends_and_the_jsonl_holds_every_scrape(
    run_cli: Any, simulator: Simulator, tmp_path: Path
) -> None:
    # The store spools each scrape to a temporary file (TMPDIR) instead of keeping it in memory.
    spool_dir = tmp_path / "tmp"
    spool_dir.mkdir()
    result = run_cli("profile", "--url", simulator.url, "-m", "m", *LOAD, "--request-count", "10",
                     "--server-metrics-interval", "0.1", "--artifact-dir", tmp_path / "art",
                     env={"TMPDIR": str(spool_dir)})
    assert result.returncode == 0, result.stderr
    run = artifact_dir(tmp_path / "art")
    lines = read_jsonl(run / "server_metrics.jsonl")
    assert len(lines) == summary_of(run)["server_metrics"]["interval_count"] >= 2
    assert [line["timestamp_ns"] for line in lines] == sorted(line["timestamp_ns"] for line in lines)
    assert not list(spool_dir.glob("inferload-server-metrics-*"))


def test_no_server_metrics_scrapes_nothing_and_writes_no_block(
    run_cli: Any, simulator: Simulator, tmp_path: Path
) -> None:
    _, run = profile(run_cli, simulator.url, tmp_path / "art", "--request-count", "5", "--no-server-metrics")
    assert "server_metrics" not in summary_of(run)
    assert not (run / "server_metrics.jsonl").exists()


@pytest.mark.parametrize("flag", ["--server-metrics", "--gpu-telemetry"])
def test_url_userinfo_is_sent_as_basic_auth_and_redacted_everywhere(
    flag: str, inferload_exe: Path, cli_env: Any, simulator: Simulator, tmp_path: Path, free_port: int
) -> None:
    password = "Pa55-word-xyzzy"
    body = dcgm_body(0) if flag == "--gpu-telemetry" else "# TYPE up gauge\nup 1\n"
    target = ScrapeTarget(lambda n: (200, body), basic=f"scraper:{password}")
    secret_url = target.url.replace("http://", f"http://scraper:{password}@")
    process = subprocess.Popen(
        [str(inferload_exe), "profile", "--url", simulator.url, "-m", "m", *LOAD, "--request-count", "6",
         "--server-metrics-interval", "0.1", flag, secret_url, "--api-port", str(free_port), "--api-linger",
         "inf", "--artifact-dir", str(tmp_path / "art"), "-v"],
        env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    base = f"http://127.0.0.1:{free_port}"
    routes = {}
    try:
        wait_for_final_block(base)
        for route in ("/api/config", "/api/run", "/api/server-metrics", "/api/results"):
            routes[route] = httpx.get(base + route, timeout=2).text
    finally:
        process.terminate()
        stdout, stderr = process.communicate(timeout=30)
        target.stop()
    assert target.authorized >= 2  # the credentials were used
    redacted = target.url.replace("http://", "http://<redacted>@")
    assert redacted in json.loads(routes["/api/run"])["cli_command"]
    assert redacted in routes["/api/config"]
    files = [p for p in (tmp_path / "art").rglob("*") if p.is_file()]
    assert any(p.name == "server_metrics.jsonl" for p in files)
    for where, text in [*routes.items(), ("stdout", stdout), ("stderr", stderr),
                        *((str(p), p.read_text(errors="replace")) for p in files)]:
        assert password not in text, where
        assert f"scraper:{password}" not in text, where


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--server-metrics", "ftp://127.0.0.1/metrics"), "--server-metrics"),
        (("--gpu-telemetry", "127.0.0.1:9400/metrics"), "--gpu-telemetry"),
        (("--server-metrics-interval", "0"), "--server-metrics-interval"),
    ],
)
def test_bad_scrape_settings_are_one_line_usage_errors(
    run_cli: Any, tmp_path: Path, args: tuple[str, ...], named: str
) -> None:
    result = run_cli("profile", "--url", "http://127.0.0.1:9", "-m", "m", *args, "--artifact-dir", tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0] and "Traceback" not in result.stderr



@pytest.mark.parametrize("status", [404, 501])
def test_a_source_answering_404_or_501_at_its_first_scrape_is_said_once_and_not_scraped_again(
    run_cli: Any, simulator: Simulator, tmp_path: Path, status: int
) -> None:
    absent = ScrapeTarget(lambda n: (status, "not here\n"))
    failing = ScrapeTarget(lambda n: (500, "busy\n"))  # another error: scraped again every interval
    gone_later = ScrapeTarget(lambda n: (200, "# TYPE up gauge\nup 1\n") if n < 2 else (404, ""))
    try:
        result, run = profile(
            run_cli, simulator.url, tmp_path / "art", "--concurrency", "2", "--request-count", "60",
            "--server-metrics-interval", "0.05", *(arg for url in (absent.url, failing.url, gone_later.url)
                                                  for arg in ("--server-metrics", url)),
        )
    finally:
        for target in (absent, failing, gone_later):
            target.stop()
    assert absent.requests == 1
    said = [line for line in result.stderr.splitlines() if absent.url in line]
    assert said == [f"inferload: WARNING: server metrics: {absent.url} answered {status}; nothing is exposed "
                    "there; check the URL — not scraped"], result.stderr
    assert failing.requests > 2 and gone_later.requests > 3  # a 500, or a 404 after scrapes that worked
    sources = {s["url"]: s for s in summary_of(run)["server_metrics"]["sources"]}
    assert sources[absent.url]["scrapes_failed"] == 1 and sources[absent.url]["status"] == "unavailable"
    assert sources[gone_later.url]["status"] == "gaps"


LLAMA_CPP_501 = ('{"error": {"code": 501, "message": "This server does not support metrics endpoint. '
                 'Start it with `--metrics`", "type": "not_supported_error"}}')


@pytest.mark.parametrize(("status", "body", "why"), [
    (501, LLAMA_CPP_501, "the server says 'This server does not support metrics endpoint. Start it with "
                         "`--metrics`'; the server exposes none (--no-server-metrics skips this)"),
    (404, '{"detail": "Not Found"}', "the server exposes none (--no-server-metrics skips this)"),
], ids=["llama.cpp", "fastapi"])
def test_the_discovered_metrics_line_names_only_the_switch_the_server_itself_names(
    run_cli: Any, tmp_path: Path, status: int, body: str, why: str
) -> None:
    # every route answers alike (the requests fail): only the discovered /metrics line matters here
    server = ScrapeTarget(lambda n: (status, body))
    base = server.url.removesuffix("/metrics")
    try:
        result = run_cli("profile", "--url", base, "-m", "m", *LOAD, "--request-count", "1",
                         "--artifact-dir", tmp_path / "art")
    finally:
        server.stop()
    said = [line for line in result.stderr.splitlines() if "server metrics:" in line]
    line = f"inferload: INFO: server metrics: {server.url} answered {status}; {why} — not scraped"
    assert said == [line], result.stderr
    assert "llama.cpp" not in result.stderr
