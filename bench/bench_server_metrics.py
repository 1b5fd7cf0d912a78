"""Server-metrics scraping overhead: does polling the target's /metrics every 100 ms change client TTFT/ITL?

The method of bench_api.py: the same small `inferload profile` against one simulator in three modes,
interleaved round by round so drift hits all modes alike: `--no-server-metrics`, the default (every 1 s)
and `--server-metrics-interval 0.1`. Prints TTFT, ITL, latency and throughput per mode (mean ± stdev over
the rounds) and the 100 ms mode's change against no scraping next to the run-to-run noise.

Usage: python bench/bench_server_metrics.py [--rounds 3] [--requests 120] [--concurrency 8] [--quick]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_api import compare, inferload_command, round_args, start_simulator

MODES = {"no-scrape": ["--no-server-metrics"], "scrape-1s": [], "scrape-100ms": ["--server-metrics-interval",
                                                                                "0.1"]}


def run_profile(flags: list[str], sim_port: int, workdir: Path, args: argparse.Namespace) -> dict:
    root = workdir / f"run-{time.monotonic_ns()}"
    command = [*inferload_command(), "profile", "--url", f"http://127.0.0.1:{sim_port}", "--model", "bench",
               "--streaming", "--concurrency", str(args.concurrency), "--request-count", str(args.requests),
               "--warmup-request-count", str(args.concurrency), "--isl", "128", "--osl", "32",
               "--random-seed", "1", "--ui", "none", "--artifact-dir", str(root), *flags]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"inferload profile failed ({result.returncode}):\n{result.stderr[-2000:]}")
    (export,) = root.rglob("profile_export.json")
    return json.loads(export.read_text())


def main(argv: list[str] | None = None) -> int:
    args = round_args(__doc__.splitlines()[0], argv)
    simulator, sim_port = start_simulator()
    workdir = Path(tempfile.mkdtemp(prefix="bench-server-metrics-"))
    results: dict[str, list[dict]] = {mode: [] for mode in MODES}
    scrapes: list[int] = []
    try:
        print(f"{args.rounds} rounds x {len(MODES)} modes, {args.requests} requests at concurrency "
              f"{args.concurrency}, streaming, ISL 128 / OSL 32, against the simulator")
        for round_index in range(args.rounds):
            for mode, flags in MODES.items():
                started = time.perf_counter()
                export = run_profile(flags, sim_port, workdir, args)
                results[mode].append(export)
                count = (export.get("server_metrics") or {}).get("interval_count", 0)
                if mode == "scrape-100ms":
                    scrapes.append(count)
                print(f"  round {round_index + 1} {mode:<13} {time.perf_counter() - started:6.1f} s, "
                      f"{count} scrapes", flush=True)
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n100 ms mode: {sum(scrapes) / len(scrapes):.0f} scrapes per run on average")
    compare(results, tuple(MODES), "no-scrape", "scrape-100ms", "100ms vs none", "scraping every 100 ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
