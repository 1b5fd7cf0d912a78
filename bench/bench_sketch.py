"""Live-percentile sketch on the parent's hot path: inferload's own (numpy, batched) against Datadog's
``ddsketch`` (pure Python, one call per value), same data, same run, repeated.

Measures the two costs the metrics engine pays: adding values (per value, fed in the engine's batches)
and a snapshot (count, min, max, sum, and the nine reported percentiles). Prints the median and the
spread (min-max) over the repeats, and the worst relative percentile error of each against numpy's exact
percentiles. Asserts nothing. ``ddsketch`` is not a dependency: install it to run this comparison.

    python bench/bench_sketch.py [--values 100000 1000000] [--batch 1000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

import numpy as np

from inferload.sketch import QuantileSketch
from inferload.stats import PERCENTILES

ALPHA = 0.005
QUANTILES = [p / 100 for p in PERCENTILES]


def latency_like(count: int, seed: int = 7) -> np.ndarray:
    """Log-normal milliseconds with a heavy tail: a TTFT/ITL-shaped column spanning several decades."""
    rng = random.Random(seed)
    return np.array([rng.lognormvariate(3.0, 1.2) + rng.random() * 0.01 for _ in range(count)])


def time_ns(work: Callable[[], object]) -> int:
    start = time.perf_counter_ns()
    work()
    return time.perf_counter_ns() - start


def ours(values: np.ndarray, batch: int) -> tuple[int, int, list[float]]:
    sketch = QuantileSketch(ALPHA)

    def add() -> None:
        for start in range(0, values.size, batch):
            sketch.add(values[start:start + batch])

    add_ns = time_ns(add)
    result: dict[str, object] = {}
    snap_ns = time_ns(lambda: result.update(sketch.stats()))
    return add_ns, snap_ns, [sketch.quantile(q) for q in QUANTILES]


def datadog(values: np.ndarray, batch: int) -> tuple[int, int, list[float]]:
    from ddsketch import DDSketch

    sketch = DDSketch(ALPHA)
    as_lists = [values[start:start + batch].tolist() for start in range(0, values.size, batch)]

    def add() -> None:
        for chunk in as_lists:  # the engine hands over batches; ddsketch takes one value per call
            for value in chunk:
                sketch.add(value)

    add_ns = time_ns(add)
    out: list[float] = []

    def snapshot() -> None:
        out[:] = [sketch.get_quantile_value(q) for q in QUANTILES]
        _ = (sketch.count, sketch.sum, sketch.avg, sketch._min, sketch._max)

    snap_ns = time_ns(snapshot)
    return add_ns, snap_ns, out


def worst_error(estimates: list[float], exact: np.ndarray) -> float:
    return max(abs(e - x) / abs(x) for e, x in zip(estimates, exact, strict=True))


def spread(samples: list[float]) -> str:
    return f"{statistics.median(samples):9.3f} ({min(samples):.3f}-{max(samples):.3f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    runs: list[tuple[str, Callable[[np.ndarray, int], tuple[int, int, list[float]]]]] = [("inferload", ours)]
    try:
        import ddsketch  # noqa: F401 - only to know whether the comparison can run
    except ImportError:
        print("ddsketch is not installed (pip install ddsketch): measuring inferload's sketch alone")
    else:
        runs.append(("ddsketch", datadog))
    print(f"alpha {ALPHA}, batches of {args.batch}, {args.repeats} repeats; median (min-max)")
    print(f"{'values':>9} {'sketch':>9} {'add ns/value':>28} {'snapshot ms':>28} {'worst pct err':>14}")
    for count in args.values:
        values = latency_like(count)
        exact = np.percentile(values, [q * 100 for q in QUANTILES])
        for name, run in runs:
            adds, snaps, errors = [], [], []
            for _ in range(args.repeats):
                add_ns, snap_ns, estimates = run(values, args.batch)
                adds.append(add_ns / count)
                snaps.append(snap_ns / 1e6)
                errors.append(worst_error(estimates, exact))
            print(f"{count:>9} {name:>9} {spread(adds):>28} {spread(snaps):>28} {max(errors):>13.4%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
