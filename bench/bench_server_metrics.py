"""Server-metrics scraping overhead: does polling the target's /metrics every 100 ms change client TTFT/ITL?

The method of bench_api.py: the same small `inferload profile` against one simulator in three modes,
interleaved round by round so drift hits all modes alike: `--no-server-metrics`, the default (every 1 s)
and `--server-metrics-interval 0.1`. Prints TTFT, ITL, latency and throughput per mode (mean ± stdev over
the rounds) and the 100 ms mode's change against no scraping next to the run-to-run noise.

Usage: python bench/bench_server_metrics.py [--rounds 3] [--requests 120] [--concurrency 8] [--quick]

``--memory`` measures instead, in-process, what the store keeps per scrape (tracemalloc): N scrapes of a
vLLM-shaped exposition of ~100 series (:func:`vllm_shaped`: 12 histograms of 20 buckets, labelled
counters, gauges) after 20 warm-up scrapes, bytes still traced after the N over N; ``--store-file`` loads
``ServerMetricsStore`` from another copy of store.py (e.g. ``git show 57eeb11:<path>``) to compare.

Usage: python bench/bench_server_metrics.py --memory [--scrapes 2000] [--repeats 3] [--store-file PATH]

Notes (2 shared cores, 2026-12-01; --memory --scrapes 1000 --repeats 3, mean ± stdev over the repeats;
the exposition is 34 kB, 80 families, 100 series):

- before (57eeb11, every scrape kept as dicts in ``store.scrapes``): 98,191 ± 0 bytes per
  scrape, 98.2 MB after 1,000 scrapes (17 min at the 1 s default: ~350 MB an hour), growing with the run.
- after (each scrape spooled to a JSON-lines temp file; memory holds status, series state, latest):
  119 ± 0 bytes per scrape at 1,000 scrapes, 30 at 4,000: a constant ~0.12 MB in all (the latest
  scrape's rows), whatever the run length.
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


def vllm_shaped(scrape: int) -> str:
    """An exposition shaped like vLLM's for one model: 12 histograms of 20 buckets, 30 labelled counters
    and 58 gauges (~100 series), values moving with ``scrape``."""
    lines = []
    model = 'model_name="meta-llama/Llama-3.1-8B-Instruct"'
    for h in range(12):
        name = f"vllm:histogram_{h}_seconds"
        lines.append(f"# TYPE {name} histogram")
        total = 0
        for b in range(19):
            total += scrape * (b % 5 + 1)
            lines.append(f'{name}_bucket{{{model},le="{0.001 * 2 ** b:g}"}} {total}')
        lines.append(f'{name}_bucket{{{model},le="+Inf"}} {total}')
        lines.append(f"{name}_sum{{{model}}} {total * 0.37}")
        lines.append(f"{name}_count{{{model}}} {total}")
    for c in range(10):
        lines.append(f"# TYPE vllm:counter_{c}_total counter")
        for reason in ("stop", "length", "abort"):
            lines.append(f'vllm:counter_{c}_total{{{model},finished_reason="{reason}"}} {scrape * (c + 1)}')
    for g in range(58):
        lines.append(f"# TYPE vllm:gauge_{g} gauge")
        lines.append(f"vllm:gauge_{g}{{{model},engine=\"0\"}} {(scrape * 7 + g) % 97 / 10}")
    return "\n".join(lines) + "\n"


def memory_per_scrape(store_file: str | None, scrapes: int) -> float:
    """Bytes the store still holds per scrape after ``scrapes`` scrapes (tracemalloc), warm-up excluded."""
    import gc
    import importlib.util
    import tracemalloc

    if store_file:
        spec = importlib.util.spec_from_file_location("store_under_test", store_file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
        store_class = module.ServerMetricsStore
    else:
        from inferload_plugins.server_metrics.store import ServerMetricsStore as store_class
    bodies = [vllm_shaped(n) for n in range(20 + scrapes)]
    store = store_class()
    store.add_source("http://127.0.0.1:8000/metrics", "server")
    for n in range(20):
        store.ingest("http://127.0.0.1:8000/metrics", bodies[n], n * 1_000_000_000)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for n in range(20, 20 + scrapes):
        store.ingest("http://127.0.0.1:8000/metrics", bodies[n], n * 1_000_000_000)
    gc.collect()
    kept = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    if hasattr(store, "close"):
        store.close()
    return kept / scrapes


def memory_main(argv: list[str]) -> int:
    import statistics

    parser = argparse.ArgumentParser(description="bytes the server-metrics store keeps per scrape")
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--scrapes", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--store-file")
    args = parser.parse_args(argv)
    from inferload_plugins.server_metrics.exposition import parse_exposition

    families = parse_exposition(vllm_shaped(1))
    series = sum(len(family["series"]) for family in families)
    print(f"{args.scrapes} scrapes of a vLLM-shaped exposition ({len(vllm_shaped(1)):,} bytes, "
          f"{len(families)} families, {series} series)")
    figures = [memory_per_scrape(args.store_file, args.scrapes) for _ in range(args.repeats)]
    spread = statistics.stdev(figures) if len(figures) > 1 else 0.0
    print(f"bytes kept per scrape: {statistics.mean(figures):,.0f} ± {spread:,.0f}, "
          f"{statistics.mean(figures) * args.scrapes / 1e6:,.2f} MB in all "
          f"({', '.join(f'{f:,.0f}' for f in figures)})")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--memory" in argv:
        return memory_main(argv)
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
