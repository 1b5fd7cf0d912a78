"""The Ray executor's overhead against the local one, and a paper estimate of one driver's ceiling.

Against bench_client's minimal SSE server (server TTFT 20 ms, 4 tokens 5 ms apart, with its truth of when
it read each request and wrote its first chunk), at concurrency 64 with 2 workers either way:

- CPU per request, whole client: the CPU time of this process and all its descendants but the server
  (the workers; for Ray, the local instance's GCS, raylet, agents and actors) over the profiling phase
  only, so start-up costs are left out, divided by its requests;
- the driver's own CPU per record (in-process runs: the parent's CPU over the profiling phase / records);
- TTFT error against the server's truth (client TTFT - server TTFT), p50 and p99.

Each figure is repeated (``--repeats``) and printed as min / median / max, with the machine's load.
The driver ceiling is then estimated on paper from the driver's CPU per record.
Usage: python bench/bench_ray.py [--repeats 3] [--requests 4000]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a bench must not write a token into ~/.ray

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_client import Server, _pct, run_client
from inferload import hookimpl

CONCURRENCY = 64
SAMPLE_SEC = 0.5
EXECUTORS = {
    "local": {"executor": "local", "workers": 2},
    "ray": {"executor": "ray", "ray_workers": 2},
}


def _flags(settings: dict[str, Any]) -> list[str]:
    return [part for key, value in settings.items() for part in (f"--{key.replace('_', '-')}", str(value))]


class TreeProbe:
    """A throwaway plugin: CPU of this process and every descendant but the server (workers; for Ray the
    local instance's GCS, raylet, agents and actors) over the profiling phase. Sampled at its start and
    then at most every :data:`SAMPLE_SEC` on a record batch (so the actors are still alive at the last
    sample, and sampling ~15 processes does not itself load the driver), with the records in by then."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.start = self.last = 0.0
        self.records = 0
        self.records_at_last = 0
        self.sampled_at = 0.0

    def _tree_cpu(self) -> float:
        import psutil

        total = 0.0
        for proc in psutil.Process().children(recursive=True):
            try:
                if self.server_pid in (proc.pid, proc.ppid()):
                    continue
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                pass
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return total + usage.ru_utime + usage.ru_stime

    @hookimpl
    def phase_changed(self, state: Any, phase: str) -> None:
        if phase == "profiling":
            self.start = self.last = self._tree_cpu()
            self.sampled_at = time.monotonic()
            self.records = self.records_at_last = 0

    @hookimpl
    def record_batch(self, state: Any, records: list[Any]) -> None:
        self.records += sum(1 for r in records if r.phase == "profiling")
        if time.monotonic() - self.sampled_at >= SAMPLE_SEC:
            self.sampled_at = time.monotonic()
            self.last = self._tree_cpu()
            self.records_at_last = self.records

    def cpu_us_per_request(self) -> float:
        return (self.last - self.start) / self.records_at_last * 1e6 if self.records_at_last else float("nan")


def ttft_errors_ms(records: list[dict[str, Any]], truth: dict[str, list[int]]) -> list[float]:
    """client TTFT - server TTFT (request read -> first chunk written), per request with both, in ms."""
    errors = []
    for record in records:
        server = truth.get(record["metadata"]["x_request_id"])
        ttft = record["metrics"].get("time_to_first_token", {}).get("value")
        if server and server[1] and ttft is not None:
            errors.append(ttft - (server[1] - server[0]) / 1e6)
    return errors


def spread(values: list[float]) -> str:
    return f"{min(values):8.1f} {statistics.median(values):8.1f} {max(values):8.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--requests", type=int, default=4000, help="profiling requests per run")
    args = parser.parse_args(argv)
    print(f"inferload Ray executor bench: {os.cpu_count()} cores, load average {os.getloadavg()}")
    workdir = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    server = Server(ttft_s=0.020, itl_s=0.005)
    figures: dict[str, dict[str, list[float]]] = {name: {} for name in EXECUTORS}
    try:
        for _ in range(args.repeats):
            for name, settings in EXECUTORS.items():
                server.truth()
                tree = TreeProbe(server.process.pid)
                result = run_client(server.url, workdir, probe_plugin=tree, concurrency=CONCURRENCY,
                                    request_count=args.requests, **settings)
                errors = ttft_errors_ms(result["records"], server.truth()["truth"])
                row = figures[name]
                row.setdefault("client CPU µs/request", []).append(tree.cpu_us_per_request())
                row.setdefault("driver CPU µs/record", []).append(result["parent_us"])
                row.setdefault("TTFT error p50 ms", []).append(_pct(errors, 50))
                row.setdefault("TTFT error p99 ms", []).append(_pct(errors, 99))
                print(f"  {name}: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in row.items()), flush=True)
    finally:
        server.stop()
    print(f"\nload average after: {os.getloadavg()}")
    print(f"\n## concurrency {CONCURRENCY}, 2 workers, {args.repeats} repeats: min / median / max")
    for metric in figures["local"]:
        for name in EXECUTORS:
            print(f"{metric:>24} {name:>6} {spread(figures[name][metric])}")
    driver_us = statistics.median(figures["ray"]["driver CPU µs/record"])
    print("\n## Paper estimate: one driver's ceiling")
    print(f"driver CPU per record (median): {driver_us:.1f} µs -> one core saturates at about "
          f"{1e6 / driver_us:,.0f} records/s")
    print("(the driver's aggregation is single-threaded Python under the GIL; its Ray pulls add to it).")
    print("Past it, workers aggregate: exact counters and a mergeable sketch per metric each, records to")
    print("per-worker JSONL shards, per-interval sketches to the driver, and the exact final percentiles")
    print("from per-metric numpy value columns sent at the end instead of pickled records.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
