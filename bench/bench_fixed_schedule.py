"""Fixed-schedule accuracy: how late a `--fixed-schedule` trace replay starts its requests, at 1,000 and
5,000 requests/s of trace density (its own runner, not part of the tests): prints figures.

A Mooncake-format trace with Poisson arrivals at the given density (timestamps whole milliseconds, as real
traces have them, so several requests share a millisecond at 5,000/s) is replayed against the minimal
zero-latency SSE server of ``bench_client`` (the figures are the client's, not a server's). Per density and
worker count, each run reports the schedule lag the run itself reports (``client_health.schedule_lag``:
ready to hand-over) and the start error from its records (first byte written minus due time), p50 and p99;
the table gives the min / median / max of each over ``--repeats`` runs, with the machine's load average.
A rate-mode row (Poisson arrivals at the same rate and count) is the reference measured in the same run:
a replay should be as punctual as the schedule rate mode keeps.

Usage: python bench/bench_fixed_schedule.py [--quick] [--repeats 3] [--seconds 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench_client import Server, _pct, run_client

DENSITIES = (1000, 5000)


def write_trace(path: Path, density: float, seconds: float, seed: int) -> int:
    """A trace of Poisson arrivals at ``density``/s for ``seconds``, whole-ms timestamps; returns its size."""
    rng = random.Random(seed)
    t, lines = 0.0, []
    while t < seconds * 1000:
        lines.append(json.dumps({"timestamp": int(t), "input_length": 8, "output_length": 4}))
        t += rng.expovariate(density) * 1000
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


def spread(values: list[float]) -> str:
    """``min / median / max`` of ``values``."""
    return f"{min(values):7.3f} / {statistics.median(values):7.3f} / {max(values):7.3f}"


def bench_density(server: Server, workdir: Path, density: int, workers: int | None, seconds: float,
                  repeats: int, reference: bool = False) -> None:
    """One row: a replay at ``density`` (or, with ``reference``, rate mode's Poisson schedule at the same
    rate and count, the figure the replay is compared with) with ``workers`` (None: the default)."""
    lag50, lag99, err50, err99 = [], [], [], []
    sent = 0
    for repeat in range(repeats):
        trace = workdir / f"trace-{density}-{repeat}.jsonl"
        size = write_trace(trace, density, seconds, seed=repeat)
        settings: dict[str, Any] = {"workers": workers} if workers else {}
        if reference:
            settings.update(request_rate=density, arrival_pattern="poisson", request_count=size,
                            random_seed=repeat)
        else:
            settings.update(dataset="mooncake_trace", input_file=trace, fixed_schedule=True)
        result = run_client(server.url, workdir, warmup_request_count=0, **settings)
        server.truth()
        lag = result["summary"]["client_health"]["schedule_lag"]
        errors = [(r["metadata"]["request_start_ns"] - r["metadata"]["request_scheduled_ns"]) / 1e6
                  for r in result["records"]]
        assert len(result["records"]) == size, (len(result["records"]), size)
        sent = size
        lag50.append(lag["p50"])
        lag99.append(lag["p99"])
        err50.append(_pct(errors, 50))
        err99.append(_pct(errors, 99))
    label = str(workers) if workers else f"auto ({result['workers']})"
    mode = "rate mode" if reference else "replay"
    print(f"{density:>8,} {mode:>9} {label:>9} {sent:>7,}  {spread(lag50)}  {spread(lag99)}  "
          f"{spread(err50)}  {spread(err99)}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 s traces, 2 repeats")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (default 3)")
    parser.add_argument("--seconds", type=float, default=3.0, help="trace length in seconds (default 3)")
    args = parser.parse_args(argv)
    seconds, repeats = (1.0, 2) if args.quick else (args.seconds, args.repeats)
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("inferload").setLevel(logging.ERROR)
    load = os.getloadavg()
    print(f"fixed-schedule accuracy on {os.cpu_count()} cores, Python {sys.version.split()[0]}, load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {seconds:g} s traces, {repeats} runs per row")
    print("figures in ms, each min / median / max over the runs")
    print(f"{'trace/s':>8} {'schedule':>9} {'workers':>9} {'sent':>7}  {'lag p50':^25}  {'lag p99':^25}  "
          f"{'start-due p50':^25}  {'start-due p99':^25}")
    workdir = Path(tempfile.mkdtemp())
    server = Server()
    try:
        for density in DENSITIES:
            for workers in (None, 2):
                bench_density(server, workdir, density, workers, seconds, repeats)
            bench_density(server, workdir, density, None, seconds, repeats, reference=True)
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
