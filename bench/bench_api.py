"""Live API overhead: does a client polling every route 20 times a second, or the web dashboard at its
default rate, change the benchmark's figures?

Runs the same small `inferload profile` against the simulator in four modes, interleaved round by round
so drift hits all modes alike: without the API, with the API up but idle, with the API polled — a
separate process fetching each of the ten routes 20 times a second (200 requests/s) — and with the
dashboard open: a separate process making exactly the requests the page makes (the page, its assets and
/api/config once, then /api/timeline?since=…, /api/progress, /api/workers and /api/run once a second).
It prints TTFT, inter-token latency and throughput per mode (mean and spread over the rounds) and each
figure's change against the no-API runs next to the run-to-run noise of those runs.

Usage: python bench/bench_api.py [--rounds 3] [--requests 120] [--concurrency 8] [--quick]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROUTES = ("/api/config", "/api/run", "/api/metrics", "/metrics", "/api/progress", "/api/workers",
          "/api/results", "/api/results/list", "/healthz", "/readyz")
POLLS_PER_SECOND = 20
DASHBOARD_INTERVAL_S = 1.0
"""The dashboard's default polling interval (dashboard.js: POLL_MS 1000)."""
DASHBOARD_ONCE = ("/dashboard", "/dashboard/assets/uPlot.min.css", "/dashboard/assets/dashboard.css",
                  "/dashboard/assets/uPlot.iife.min.js", "/dashboard/assets/dashboard.js", "/api/config")
DASHBOARD_POLLED = ("/api/progress", "/api/workers", "/api/run")
MODES = ("no-api", "api-idle", "api-polled", "dashboard")
FIGURES = (
    ("TTFT avg (ms)", "time_to_first_token", "avg"),
    ("TTFT p99 (ms)", "time_to_first_token", "p99"),
    ("ITL avg (ms)", "inter_token_latency", "avg"),
    ("latency p50 (ms)", "request_latency", "p50"),
    ("requests/s", "request_throughput", "avg"),
    ("output tokens/s", "output_token_throughput", "avg"),
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def inferload_command() -> list[str]:
    exe = Path(sys.executable).parent / "inferload"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "inferload"]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listened on 127.0.0.1:{port} within {timeout:g} s")


def poll_forever(base_url: str, counts: Any) -> None:
    """Fetch every route POLLS_PER_SECOND times a second until the API goes away (the run ended) or the
    process is killed; count answers and failures."""
    import httpx

    interval = 1.0 / POLLS_PER_SECOND
    with httpx.Client(base_url=base_url, timeout=2.0) as client:
        next_round = time.monotonic()
        while True:
            for route in ROUTES:
                try:
                    client.get(route)
                    counts[0] += 1
                except httpx.ConnectError:
                    return  # --api-linger 0: the API stops with the run
                except httpx.HTTPError:
                    counts[1] += 1
            next_round += interval
            time.sleep(max(0.0, next_round - time.monotonic()))


def poll_like_the_dashboard(base_url: str, counts: Any) -> None:
    """The requests an open dashboard makes, at its default rate, until the API goes away."""
    import httpx

    with httpx.Client(base_url=base_url, timeout=2.0) as client:
        try:
            for route in DASHBOARD_ONCE:
                client.get(route)
                counts[0] += 1
            last_t: float | None = None
            next_round = time.monotonic()
            while True:
                since = {} if last_t is None else {"since": max(0.0, last_t - 3)}
                points = client.get("/api/timeline", params=since).json()["points"]
                if points:
                    last_t = points[-1]["t_sec"]
                for route in DASHBOARD_POLLED:
                    client.get(route)
                counts[0] += 1 + len(DASHBOARD_POLLED)
                next_round += DASHBOARD_INTERVAL_S
                time.sleep(max(0.0, next_round - time.monotonic()))
        except httpx.ConnectError:
            return  # --api-linger 0: the API stops with the run
        except httpx.HTTPError:
            counts[1] += 1


def run_profile(mode: str, sim_port: int, workdir: Path, args: argparse.Namespace) -> tuple[dict, int]:
    """One profile run; returns (profile_export.json, successful polls)."""
    artifact_root = workdir / f"{mode}-{time.monotonic_ns()}"
    command = [*inferload_command(), "profile", "--url", f"http://127.0.0.1:{sim_port}", "--model", "bench",
               "--streaming", "--concurrency", str(args.concurrency), "--request-count", str(args.requests),
               "--warmup-request-count", str(args.concurrency), "--isl", "128", "--osl", "32",
               "--random-seed", "1", "--ui", "none", "--artifact-dir", str(artifact_root)]
    api_port = free_port()
    if mode != "no-api":
        command += ["--api-port", str(api_port), "--api-linger", "0"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    poller = None
    counts = multiprocessing.Array("l", 2)
    if mode in POLLERS:
        wait_for_port(api_port, timeout=60)
        poller = multiprocessing.Process(target=POLLERS[mode], args=(f"http://127.0.0.1:{api_port}", counts),
                                         daemon=True)
        poller.start()
    _, err = process.communicate(timeout=600)
    if poller is not None:
        poller.terminate()
        poller.join()
    if process.returncode != 0:
        raise RuntimeError(f"inferload profile failed ({process.returncode}):\n{err[-2000:]}")
    (export,) = artifact_root.rglob("profile_export.json")
    if counts[1]:
        print(f"  warning: {counts[1]} polls failed", file=sys.stderr)
    return json.loads(export.read_text()), counts[0]


POLLERS = {"api-polled": poll_forever, "dashboard": poll_like_the_dashboard}


def round_args(description: str, argv: list[str] | None) -> argparse.Namespace:
    """``--rounds``, ``--requests``, ``--concurrency`` and ``--quick`` (2 rounds of 48 requests)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--rounds", type=int, default=3, help="runs per mode (default 3)")
    parser.add_argument("--requests", type=int, default=120, help="profiling requests per run (default 120)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="2 rounds of 48 requests")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.requests = 2, 48
    return args


def start_simulator() -> tuple[subprocess.Popen[bytes], int]:
    """`inferload simulate --seed 1` on a free port, once it listens; returns (process, port)."""
    sim_port = free_port()
    simulator = subprocess.Popen([*inferload_command(), "simulate", "--port", str(sim_port), "--seed", "1"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(sim_port)
    return simulator, sim_port


def main(argv: list[str] | None = None) -> int:
    args = round_args(__doc__.splitlines()[0], argv)
    simulator, sim_port = start_simulator()
    workdir = Path(tempfile.mkdtemp(prefix="bench-api-"))
    results: dict[str, list[dict]] = {mode: [] for mode in MODES}
    polls: dict[str, list[float]] = {}
    try:
        print(f"{args.rounds} rounds x {len(MODES)} modes, {args.requests} requests at concurrency "
              f"{args.concurrency}, streaming, ISL 128 / OSL 32, against the simulator")
        for round_index in range(args.rounds):
            for mode in MODES:
                started = time.perf_counter()
                export, polled = run_profile(mode, sim_port, workdir, args)
                elapsed = time.perf_counter() - started
                results[mode].append(export)
                extra = ""
                if mode in POLLERS:
                    polls.setdefault(mode, []).append(polled / elapsed)
                    extra = f", {polled} API responses ({polled / elapsed:.1f}/s)"
                print(f"  round {round_index + 1} {mode:<10} {elapsed:6.1f} s{extra}", flush=True)
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"\nAPI poller: every route {POLLS_PER_SECOND}x/s, measured "
          f"{statistics.mean(polls['api-polled']):.0f} responses/s over each whole run (start-up included, "
          "when the API is not up yet)")
    print(f"dashboard: {len(DASHBOARD_POLLED) + 1} routes every {DASHBOARD_INTERVAL_S:g} s, measured "
          f"{statistics.mean(polls['dashboard']):.1f} responses/s over each whole run")
    compare(results, MODES, "no-api", "api-polled", "polled vs none", "polling the API")
    compare(results, MODES, "no-api", "dashboard", "dashboard vs none", "the dashboard at its default rate")
    return 0


def compare(results: dict[str, list[dict]], modes: tuple[str, ...], base_mode: str, test_mode: str,
            title: str, what: str) -> float:
    """Print FIGURES per mode (mean ± stdev over rounds), ``test_mode``'s change against ``base_mode``
    next to the pooled run-to-run noise, and the verdict on ``what``; return the worst excess of |change|
    over 2 x noise (<= 0: within noise)."""
    header = f"{'figure':<18}" + "".join(f"{mode:>22}" for mode in modes)
    width = max(16, len(title) + 2)
    header += f"{title:>{width}}{'noise':>10}"
    print("\n" + header)
    print("-" * len(header))
    worst = 0.0
    for label, tag, stat in FIGURES:
        row = f"{label:<18}"
        series = {mode: [r[tag][stat] for r in results[mode] if stat in r.get(tag, {})] for mode in modes}
        for mode in modes:
            values = series[mode]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            row += f"{statistics.mean(values):>14.2f} ± {spread:<5.2f}" if values else f"{'n/a':>22}"
        base, polled = series[base_mode], series[test_mode]
        if base and polled:
            change = 100.0 * (statistics.mean(polled) - statistics.mean(base)) / statistics.mean(base)
            spreads = [statistics.stdev(v) for v in (base, polled) if len(v) > 1]
            noise = 100.0 * (sum(s * s for s in spreads) / len(spreads)) ** 0.5 / statistics.mean(base) \
                if spreads else 0.0
            worst = max(worst, abs(change) - 2 * noise)
            row += f"{change:>+{width - 1}.1f}%{noise:>9.1f}%"
        print(row)
    print(f"\n{'min / median / max':<18}" + "".join(f"{mode:>26}" for mode in (base_mode, test_mode)))
    for label, tag, stat in FIGURES:
        cells = []
        for mode in (base_mode, test_mode):
            values = [r[tag][stat] for r in results[mode] if stat in r.get(tag, {})]
            cells.append(f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"
                         if values else "n/a")
        print(f"{label:<18}" + "".join(f"{cell:>26}" for cell in cells))
    print(f"\nnoise = run-to-run standard deviation (pooled over the {base_mode} and {test_mode} runs), in "
          f"percent of the {base_mode} mean.")
    verdict = "within noise (|change| <= 2 x noise for every figure)" if worst <= 0 else \
        f"beyond noise by up to {worst:.1f} percentage points"
    print(f"verdict: {what} changed the figures {verdict}")
    return worst


if __name__ == "__main__":
    raise SystemExit(main())
