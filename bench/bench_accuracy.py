"""Timing accuracy of `inferload profile` against the simulator's truth log, per transport, repeated.

The figures the tests used to bound with tolerances (they now assert causal order only): for every
request, the client's TTFT minus the server's (response head read -> first token chunk written), the
client's mean inter-chunk gap minus the server's, and the request's way in (client start -> server read).
The server's own TTFT, measured in the same run, is the reference: the error is also shown as a share of
it. The first request of each worker is reported apart from the rest, since client set-up done lazily
inside a request's timed window shows up there first. Every figure is the median of a run; each run is
repeated ``--repeats`` times, transports interleaved, and the spread across runs is printed as
``median [min .. max]``. Prints figures; asserts nothing.

    python bench/bench_accuracy.py [--repeats 5] [--transports protocol,aiohttp,httpx]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_startup import inferload_script  # this directory is on sys.path when run as a script
from inferload_plugins.simulator.config import SimulatorConfig
from inferload_plugins.simulator.embedded import start_embedded
from inferload_plugins.simulator.truthlog import read_truth_log

PROFILE_FLAGS = ("-m", "m", "--streaming", "--concurrency", "4", "--workers", "2", "--request-count", "32",
                 "--osl", "8", "--isl", "64", "--ui", "none")


def one_run(url: str, transport: str, workdir: Path, truth_log: Path) -> dict[str, float]:
    """One real CLI run; the medians of its per-request errors (ms), first requests apart."""
    artifacts = Path(tempfile.mkdtemp(dir=workdir))
    done = subprocess.run([inferload_script(), "profile", "--url", url, "--transport", transport,
                           *PROFILE_FLAGS, "--artifact-dir", str(artifacts)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"bench_accuracy: inferload exited {done.returncode}: {done.stderr[-2000:]}")
    (run_dir,) = [p for p in artifacts.iterdir() if p.is_dir()]
    lines = (run_dir / "profile_export.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    shutil.rmtree(artifacts, ignore_errors=True)
    # request ids are unique per run, and the server flushes each line when its request ends
    truth = {t["request_id"]: t for t in read_truth_log(truth_log)}
    first_of_worker: dict[str, int] = {}
    for record in records:
        meta = record["metadata"]
        worker, start = meta["worker_id"], meta["request_start_ns"]
        first_of_worker[worker] = min(first_of_worker.get(worker, start), start)
    rows: dict[str, list[float]] = {"ttft_err": [], "ttft_err_first": [], "icl_err": [], "way_in": [],
                                    "server_ttft": []}
    for record in records:
        meta, metrics = record["metadata"], record["metrics"]
        server = truth[meta["x_request_id"]]
        server_ttft = (server["first_chunk_ns"] - server["received_ns"]) / 1e6
        error = metrics["time_to_first_token"]["value"] - server_ttft
        first = meta["request_start_ns"] == first_of_worker[meta["worker_id"]]
        rows["ttft_err_first" if first else "ttft_err"].append(error)
        rows["server_ttft"].append(server_ttft)
        rows["way_in"].append((server["received_ns"] - meta["request_start_ns"]) / 1e6)
        chunks = server["chunk_ns"]
        gaps = metrics.get("inter_chunk_latency", {}).get("value") or []
        if gaps and len(chunks) > 1:
            server_gap = (chunks[-1] - chunks[0]) / (len(chunks) - 1) / 1e6
            rows["icl_err"].append(statistics.fmean(gaps) - server_gap)
    figures = {name: statistics.median(values) for name, values in rows.items() if values}
    figures["ttft_err_pct"] = 100 * figures["ttft_err"] / figures["server_ttft"]
    return figures


def spread(values: list[float], digits: int = 3) -> str:
    return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f} .. {max(values):.{digits}f}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_accuracy.py", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per transport (default 5)")
    parser.add_argument("--transports", default="protocol,aiohttp,httpx")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    transports = args.transports.split(",")
    workdir = Path(tempfile.mkdtemp())
    config = SimulatorConfig(decode_step_s=0.01, decode_step_per_seq_s=0.0, prefill_tokens_per_s=4000,
                             truth_log=workdir / "truth.jsonl")
    results: dict[str, list[dict[str, float]]] = {t: [] for t in transports}
    try:
        with start_embedded(config) as sim:
            for _ in range(args.repeats):
                for transport in transports:  # interleaved: machine noise hits every transport alike
                    results[transport].append(one_run(sim.url, transport, workdir, config.truth_log))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"timing accuracy against the simulator's truth: {args.repeats} runs per transport, 32 requests "
          f"each (concurrency 4, 2 workers, 8 tokens 10 ms apart); {os.cpu_count()} CPUs, Python "
          f"{sys.version.split()[0]}")
    print("each cell: median over runs [min .. max] of the run's median, ms unless marked")
    header = (f"{'transport':<10} {'server TTFT':>24} {'TTFT error':>24} {'error % of server TTFT':>24} "
              f"{'TTFT error, 1st req/worker':>28} {'ICL error':>24} {'way in':>24}")
    print(header)
    for transport, runs in results.items():
        def column(name: str, runs: list[dict[str, float]] = runs) -> list[float]:
            return [run[name] for run in runs if name in run]

        print(f"{transport:<10} {spread(column('server_ttft')):>24} {spread(column('ttft_err')):>24} "
              f"{spread(column('ttft_err_pct'), 2):>24} {spread(column('ttft_err_first')):>28} "
              f"{spread(column('icl_err')):>24} {spread(column('way_in')):>24}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
