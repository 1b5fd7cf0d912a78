"""The parent's cost per record and the cost of a run's end, at N records, in this process.

Feeds N streamed 4-chunk records to the engine's own ``RecordAggregator`` (the parent's side of the worker
pipe) in 64-record batches as pickled bytes, as a worker sends them, then runs what ``finish_run`` runs
after the last record: the final statistics, the summary sections (steady state, output length) and
every exporter (JSONL, CSV, JSON, sessions …). Prints the parent's CPU per record while records arrive,
and the seconds each part of the end took (wall clock and this process's CPU: on a shared machine the CPU
figure is the steadier), the process's peak RSS at the last record and after the end, with the size of
``profile_export.jsonl``; ``--repeat N`` runs it N times and prints min / median / max of each figure.
Runs against any checkout of the engine whose aggregator takes a batch of records (the code before issue
17 too), so one script gives the before and after figures:

    python bench/bench_run_end.py --records 200000 --repeat 3
    PYTHONPATH=/tmp/main/core:/tmp/main/plugins python bench/bench_run_end.py  # a `git archive main` copy

Issue 17 item 1 (2026-11-30, ``--records 200000 --repeat 5``, niced, load average 6-8 on 2 CPUs shared
with a 10 M run and other builds), main at b1eb797 against the per-record columns (5303d97); min / median
/ max:

- parent CPU while records arrive: 19.3 / 20.0 / 20.3 -> 16.8 / 16.9 / 17.1 µs per record (the lines
  encoded from untracked structs, one flattening of the values for both column kinds; the record
  columns' own cost, ~1.3 µs, included);
- summary sections, CPU: 1.045 / 1.071 / 1.099 -> 0.085 / 0.090 / 0.097 s (wall 2.98 / 4.06 / 5.46 ->
  0.16 / 0.29 / 0.47 s): the steady-state window and output length by numpy masks over the columns;
- exporters, CPU: 0.335 / 0.345 / 0.354 -> 0.033 / 0.037 / 0.056 s (a run without sessions is known from
  the columns: the sessions exporter no longer reads every record);
- final statistics, CPU: 0.116 / 0.121 / 0.130 -> 0.112 / 0.118 / 0.120 s (unchanged).

Issue 17 item 1, the steady-state window (2026-12-01, ``--records 500000 --repeat 3``, niced, load
average 10-12 on 2 CPUs): the 10 M run's 18.2 s of steady-state CPU was ~4x what this bench showed per
million because this bench's 16 batches repeated their clocks, so the window held 19 % of the requests;
with start times that move on (84d8cd3) it holds ~99 %, as in a real run, and showed 2.4 µs of CPU per
request in the window (cProfile: the exact sums of the re-added values 46 %, the selection of ranks 17 %,
sorting and writing the spilled runs 17 %). Computed as the whole run's exact columns less the requests
outside the window (3c2eae6), min / median / max:

- summary sections, CPU: 1.185 / 1.207 / 1.213 -> 0.147 / 0.192 / 0.230 s (wall 3.45 / 3.56 / 20.1 ->
  0.44 / 1.00 / 1.99 s): ~0.4 µs per request left, the chunked passes over the record columns (the
  window's start, the window's counts and the values outside it);
- peak RSS of the process (one run each, ``ru_maxrss``): 86.6 MB at the last record -> 101.6 MB after
  the end, against 85.4 -> 94.2 MB (the window's values no longer fill new columns' in-memory tails);
- at ``--records 2000000`` (one run each, load 9-10): summary sections CPU 3.849 -> 0.419 s (wall 14.6 ->
  1.5 s), peak RSS after the end 148.8 -> 133.3 MB (86-87 MB at the last record; the rest is the final
  statistics' memory-mapped runs, the same in both), final statistics CPU 1.35 / 1.44 s;
- unchanged: final statistics, CPU 0.355 / 0.378 / 0.407 -> 0.339 / 0.346 / 0.398 s; exporters, CPU
  0.032 / 0.035 / 0.058 -> 0.029 / 0.036 / 0.055 s; ingest 17.6 / 18.6 / 18.7 -> 17.4 / 17.7 / 19.0 µs
  per record.

The charts of ``--report`` and ``inferload plot`` (8f51151), the same date and load, on a run whose
``profile_export.jsonl`` holds 300,000 profiling lines (411 MB; a 500-request run's lines repeated one
second apart), ``/usr/bin/time -v inferload plot DIR -o OUT``, one run each: peak RSS 2,780 MB -> 107 MB
(every line parsed into a list of dicts -> one streamed pass into disk-backed columns), 166 s -> 45 s
wall, 15.1 s -> 6.5 s user CPU; timeseries.png byte-identical, the CDFs (4,096 exact ranks instead of
300,000 steps) differing in ~1,400 antialiased pixels of 294,000. ``--report`` at the end of a run reads
the record columns instead (42222b1): ``/usr/bin/time -v inferload profile --request-count 30000
--concurrency 32 --osl 8 --isl 8 --streaming --ui none --report`` against the built-in simulator, one run
each before (83efbcf) and after: exporters 12.2 s -> 4.3 s wall (the charts' drawing is what remains), peak
RSS 391 MB -> 126 MB.

Per part of the parent's ingest at 100 k records (thread CPU, one run, load 5-6): unpickling 1.1 µs,
the metric plugins and columns 7.5 µs, the JSONL lines 7.1 -> 3.9 µs, the record columns 4.0 -> 1.3 µs
(first version -> one shared flattening), the stored values' pickle 0.7 µs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import pickle
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from inferload.config import ProfileConfig
from inferload.engine.aggregator import RecordAggregator
from inferload.export import ExportContext, SectionContext, add_summary_sections, build_summary, run_exporters
from inferload.metrics_engine import MetricsAccumulator
from inferload.records import PROFILING, RequestRecord
from inferload.registry import load_plugins
from inferload.runstate import Lifecycle, PhaseProgress, RunInfo, RunState

MS = 1_000_000
BATCH = 64


def batch(first: int, offset: int = 0) -> list[RequestRecord]:
    """64 streamed requests of 4 chunks with varied timings, as a worker reports them, started ``offset``
    requests into the run (16 such batches are sent over and over with their clocks moved on: ids and
    timings repeat, start times do not, so the steady-state window holds nearly every request, as in a
    real run)."""
    records = []
    for i in range(first, first + BATCH):
        start = 10**12 + (offset + i) * MS // 4
        ttft = 20 + (i * 7919) % 400
        chunk_ns = [start + (ttft + k * (5 + (i + k) % 17)) * MS for k in range(4)]
        records.append(RequestRecord(
            request_id=i, phase=PROFILING, worker_id="worker_0", conversation_id=f"synthetic-{i}",
            x_request_id=f"{i:032x}", scheduled_ns=start, start_ns=start, end_ns=chunk_ns[-1] + MS,
            start_wall_ns=1_790_000_000_000_000_000 + start, input_tokens=8, status=200, ack_ns=start + MS,
            chunk_ns=chunk_ns, usage_prompt_tokens=8, usage_completion_tokens=4, usage_total_tokens=12,
            client_lag_ns=(i * 31) % 200_000,
        ))
    return records


def run(count: int) -> dict[str, float]:
    """One run at ``count`` records: its figures (µs per record while records arrive; s for the rest)."""
    registry = load_plugins()
    workdir = Path(tempfile.mkdtemp(prefix="inferload-run-end-"))
    try:
        config = ProfileConfig.load({"url": "http://127.0.0.1:9", "model": "bench", "streaming": True,
                                     "concurrency": 64, "request_count": count, "ui": "none"},
                                    registry=registry)
        state = RunState(run_info=RunInfo(benchmark_id="bench", random_seed=1, cli_command=""), config=config,
                         artifact_dir=workdir, version="bench", lifecycle=Lifecycle.RUNNING)
        accumulator = MetricsAccumulator(registry, config, spool_dir=workdir)
        aggregator = RecordAggregator(state, registry, accumulator)
        progress = PhaseProgress(phase=PROFILING, phase_index=0)
        aggregator.begin_phase(progress)
        # the pipe's payloads, made outside the clock: a worker's work, not the parent's; made again for
        # each 1,024 requests with later start times (the same timings, so the same pickled sizes)
        as_bytes = _takes_bytes()
        encode = _worker_encoding()
        cpu, sent, worker = time.process_time(), [], 0.0
        for n, first in enumerate(range(0, count, BATCH)):
            if n % 16 == 0:
                made = time.process_time()
                sent = [encode(batch(start, first)) for start in range(0, 1024, 64)]
                worker += time.process_time() - made
            data = sent[n % 16]
            # before: Connection.recv unpickled the records; now the parent gets the worker's bytes
            payload = data if as_bytes else pickle.loads(data)
            aggregator.on_records("worker_0", progress, payload, first + BATCH)
        ingest = (time.process_time() - cpu - worker) / count * 1e6
        state.lifecycle = Lifecycle.COMPLETING
        figures: dict[str, float] = {"ingest CPU µs/record": ingest,
                                     "peak RSS MB at the last record": _peak_mb()}
        with _timed(figures, "final statistics"):
            metrics = accumulator.final()
        summary = build_summary(state, accumulator, metrics, config=config)
        endpoint = registry.all("endpoint")["chat"]
        with _timed(figures, "summary sections"):
            add_summary_sections(registry, SectionContext(state=state, config=config, registry=registry,
                                                          endpoint=endpoint, records=aggregator.records,
                                                          inputs=[], **_whole(accumulator)), summary)
        context = ExportContext(state=state, config=config, records=aggregator.records, metrics=metrics,
                                summary=summary, inputs=[], artifact_dir=workdir, accumulator=accumulator,
                                console=io.StringIO())
        with _timed(figures, "exporters"):
            run_exporters(registry, context)
        figures["peak RSS MB after the end"] = _peak_mb()
        figures["profile_export.jsonl MB"] = (workdir / "profile_export.jsonl").stat().st_size / 2**20
        aggregator.records.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return figures


@contextlib.contextmanager
def _timed(figures: dict[str, float], name: str) -> Iterator[None]:
    """Record the block's wall-clock and CPU seconds as ``name`` (wall s) and ``name`` CPU s."""
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    figures[f"{name} s"] = time.perf_counter() - wall
    figures[f"{name} CPU s"] = time.process_time() - cpu


def _peak_mb() -> float:
    """This process's peak RSS so far, MB (Linux: ``ru_maxrss`` is in KiB); a later run of ``--repeat``
    starts from the earlier runs' peak."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _whole(accumulator: MetricsAccumulator) -> dict[str, MetricsAccumulator]:
    """The ``accumulator`` argument of ``SectionContext`` where this checkout has it (not before it)."""
    fields = getattr(SectionContext, "__dataclass_fields__", {})
    return {"accumulator": accumulator} if "accumulator" in fields else {}


def _takes_bytes() -> bool:
    """Whether this checkout's workers send encoded bytes (so the parent receives those, not records)."""
    import inferload.engine.messages as messages

    return hasattr(messages, "encode_batch")


def _worker_encoding() -> Callable[[list[RequestRecord]], bytes]:
    """How this checkout's workers encode a batch (``encode_batch``; a pickled list before it existed)."""
    import inferload.engine.messages as messages

    return getattr(messages, "encode_batch", None) or (
        lambda records: pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_run_end.py", description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs; min / median / max of each figure")
    args = parser.parse_args(argv)
    runs = []
    for _ in range(args.repeat):
        runs.append(run(args.records))
        print(f"{args.records:,} records; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: "
              + ", ".join(f"{name} {value:.3f}" for name, value in runs[-1].items()), flush=True)
    if args.repeat > 1:
        for name in runs[0]:
            values = sorted(figures[name] for figures in runs)
            print(f"{name}: min {values[0]:.3f} median {statistics.median(values):.3f} max {values[-1]:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
