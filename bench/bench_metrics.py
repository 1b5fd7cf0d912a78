"""Parent-side cost of the metrics engine: ingestion per record, live snapshot and final stats.

The engine's parent process ingests every record and snapshots live stats every half second, so these
costs bound how many requests per second one parent can account for. Live snapshots read streaming
sketches and should cost about the same at any run length; final stats sort every column and grow with
it. Prints figures; asserts nothing.

    python bench/bench_metrics.py [--records 100000 1000000] [--chunks 4 64] [--full]

The 1M-record 64-chunk case (63 million inter-chunk gaps, ~2 GB at the final sort, a few minutes) runs
only with ``--full``.
"""

from __future__ import annotations

import argparse
import statistics
import time

from inferload.metrics_engine import MetricsAccumulator
from inferload.records import PROFILING, RequestRecord
from inferload.registry import load_plugins

MS = 1_000_000
BATCH = 1000
SNAPSHOTS = 5


def make_records(count: int, chunks: int, first_id: int = 0) -> list[RequestRecord]:
    records = []
    for i in range(first_id, first_id + count):
        start = 10**12 + i * 10 * MS
        # Varied timings so the columns are distributions, not constants (the sketch's worst case is
        # many distinct values over a wide range).
        ttft = 20 + (i * 7919) % 400
        chunk_ns = [start + (ttft + k * (5 + (i + k) % 17)) * MS + (i * k) % MS for k in range(chunks)]
        records.append(RequestRecord(
            request_id=i, phase=PROFILING, worker_id="w0", conversation_id=f"c{i}", x_request_id=f"x{i}",
            scheduled_ns=start, start_ns=start, end_ns=chunk_ns[-1] + 5 * MS, start_wall_ns=start,
            input_tokens=32 + i % 500, status=200, chunk_ns=chunk_ns, usage_prompt_tokens=32 + i % 500,
            usage_completion_tokens=chunks, usage_total_tokens=32 + i % 500 + chunks,
        ))
    return records


def measure(records: int, chunks: int) -> dict[str, float]:
    registry = load_plugins()
    batches = [make_records(BATCH, chunks, first_id=k * BATCH) for k in range(4)]
    acc = MetricsAccumulator(registry)
    acc.add(batches[0][:10])
    acc.snapshot()  # imports numpy and warms up outside the timings
    acc = MetricsAccumulator(registry)
    started = time.perf_counter()
    for k in range(records // BATCH):
        acc.add(batches[k % len(batches)])
    ingest = time.perf_counter() - started
    # As in a run: every snapshot follows newly arrived records (one batch), which it takes in too.
    snapshots = []
    for k in range(SNAPSHOTS):
        acc.add(batches[k % len(batches)])
        started = time.perf_counter()
        acc.snapshot()
        snapshots.append(time.perf_counter() - started)
    started = time.perf_counter()
    acc.final()
    final = time.perf_counter() - started
    return {"ingest_us": ingest / records * 1e6, "snapshot_ms": statistics.median(snapshots) * 1e3,
            "final_ms": final * 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--chunks", type=int, nargs="+", default=[4, 64])
    parser.add_argument("--full", action="store_true",
                        help="also run 1M+ records at 64+ chunks (slow, ~2 GB)")
    args = parser.parse_args()
    print(f"metrics engine; snapshot = median of {SNAPSHOTS}, each after one more {BATCH}-record batch")
    print(f"{'records':>10} {'chunks/request':>15} {'ingest µs/rec':>14} {'snapshot ms':>12} {'final ms':>9}")
    for records in args.records:
        for chunks in args.chunks:
            if records >= 1_000_000 and chunks >= 64 and not args.full:
                print(f"{records:>10,} {chunks:>15} {'(skipped: --full)':>37}")
                continue
            r = measure(records, chunks)
            print(f"{records:>10,} {chunks:>15} {r['ingest_us']:>14.1f} {r['snapshot_ms']:>12.2f} "
                  f"{r['final_ms']:>9.1f}", flush=True)


if __name__ == "__main__":
    main()
