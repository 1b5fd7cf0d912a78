"""Cost of the work done before and around requests: built-in tokenizer counts and synthetic dataset build.

A worker counts every response's text with the run's tokenizer, and all prompts are built before t=0, so
both bound what a run can do: ``count()`` of a ~65-token answer (µs per call), building 1,000
synthetic prompts of ~550 tokens (s), and building 20 long prompts of 80,000 tokens (s; a large ``--isl``).
Machines differ, so each figure is also given as a ratio to a fixed pure-Python reference workload timed in
the same run, interleaved with it (noise hits both alike). Each is repeated ``--repeats`` times and printed
as ``median [min .. max]``. Prints figures; asserts nothing.

    python bench/bench_prepare.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

from inferload.dataset import resolve_tokenizer
from inferload.registry import load_plugins

ANSWER = "The server streamed this answer back, one short chunk at a time. " * 4
COUNT_CALLS = 2000


def reference() -> None:
    """The yardstick: a fixed pure-Python workload (string building and dict lookups, as tokenizing is)."""
    table: dict[str, int] = {}
    for i in range(200_000):
        key = f"w{i % 5000}"
        table[key] = table.get(key, 0) + 1


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def spread(values: list[float], digits: int) -> str:
    return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f} .. {max(values):.{digits}f}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_prepare.py", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds of each figure (default 7)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    registry = load_plugins()
    tokenizer = resolve_tokenizer(registry, "builtin")
    dataset = registry.get("dataset", "synthetic")

    def count_answers() -> None:
        for _ in range(COUNT_CALLS):
            tokenizer.count(ANSWER)

    def build_dataset() -> None:
        dataset.factory(tokenizer=tokenizer, num_entries=1000, isl_mean=550, isl_stddev=100, osl_mean=None,
                        osl_stddev=0.0, seed=4, path=None)

    def build_long_prompts() -> None:
        dataset.factory(tokenizer=tokenizer, num_entries=20, isl_mean=80_000, isl_stddev=0.0, osl_mean=None,
                        osl_stddev=0.0, seed=4, path=None)

    for work in (reference, count_answers, build_dataset, build_long_prompts):  # warm up, untimed
        work()
    rows: dict[str, list[float]] = {"reference": [], "count": [], "dataset": [], "long": []}
    for _ in range(args.repeats):
        rows["reference"].append(timed(reference))
        rows["count"].append(timed(count_answers) / COUNT_CALLS)
        rows["reference"].append(timed(reference))
        rows["dataset"].append(timed(build_dataset))
        rows["long"].append(timed(build_long_prompts))
    ref = statistics.median(rows["reference"])
    print(f"prepare-time costs, {args.repeats} rounds, interleaved with the reference; "
          f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(f"reference workload: {spread([r * 1e3 for r in rows['reference']], 1)} ms")
    print(f"{'figure':<46} {'median [min .. max]':>28} {'x reference':>12}")
    count_us = [c * 1e6 for c in rows["count"]]
    print(f"{f'builtin count() of a {tokenizer.count(ANSWER)}-token answer, µs/call':<46} "
          f"{spread(count_us, 1):>28} {statistics.median(rows['count']) / ref:>12.5f}")
    print(f"{'synthetic dataset, 1,000 x ~550 tokens, s':<46} {spread(rows['dataset'], 3):>28} "
          f"{statistics.median(rows['dataset']) / ref:>12.2f}")
    print(f"{'synthetic dataset, 20 x 80,000 tokens, s':<46} {spread(rows['long'], 3):>28} "
          f"{statistics.median(rows['long']) / ref:>12.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
