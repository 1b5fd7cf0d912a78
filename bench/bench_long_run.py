"""Long runs in bounded memory: the parent's RSS over a long `inferload profile` run, and final-stats time.

Runs the real CLI (`inferload profile`, as a user types it) against the minimal SSE server of
bench_client.py (4 tokens per request, no delay) in a second process, and samples the inferload parent's
RSS from outside with psutil. Two modes:

- count (default): ``--requests N`` at ``--concurrency C``; prints the RSS curve at 10 % steps of the run
  time, the peak, the time ``final()`` took and the time of the summary sections and the exporters (from
  the run's log), the parent's CPU per record, and how many records the JSONL export holds (every request
  accounted for);
- soak: ``--soak-minutes M`` runs for M minutes (``--benchmark-duration``) at the highest rate the
  machine sustains (closed loop at ``--concurrency``), samples RSS every ``--sample-sec`` (60 by default
  in soak mode), and prints the samples.

Both modes end with the least-squares RSS slope in MB per hour over the sending phase only (after the
first minute, up to the last response) and, apart, the end phase's peak: the end (final statistics,
summary sections, exporters) raises RSS for its seconds, and a slope over both read as growth.

    python bench/bench_long_run.py --requests 1000000
    python bench/bench_long_run.py --soak-minutes 60

The 10 M run (issue 17), 2026-11-30, commit 28b92ac, 2 CPUs shared with seven other builds and a soak
(load average 14 at the start, 12 to 22 during, 13 at the end), niced:

    nice -n 5 python bench/bench_long_run.py --requests 10000000 --sample-sec 5

- 2,703 s in all: sending 34 min (~4.9 k requests/s, one worker, 64 in flight), then the end;
- every request accounted for: 10,000,000 profiling lines in profile_export.jsonl (12.2 GB), none failed;
- parent RSS curve (MB, at 0 %, 10 %, ... 100 % of the run time): 6 84 84 85 85 88 90 89 91 89 88; peak
  240 MB over 541 samples (in the end phase, while the steady-state window fills its columns); slope
  after the first minute +21.8 MB/hour, the end phase's peaks included;
- final statistics of the 10,000,000 records from disk: 3.637 s;
- summary sections 436 s (the steady-state window adds the value of each of its ~10 M requests to new
  columns in Python: the cost that remains), exporters 147 s (the 12.2 GB JSONL copied in that commit; a
  hard link since 23c64d0, so what remains there is one streamed pass of the sessions exporter);
- parent CPU 367 s in all, 36.7 µs per record, the end included.

The same run with the record columns (issue 17 item 1), 2026-11-30, commit 5303d97 (the bench's own
end-of-run lines came after it, a7cbb01; the end below is from the run's log and its last JSONL line),
2 CPUs shared with other builds (load average 6.3 at the start, 5-9 during, 4.8 at the end), niced:

- 1,116 s in all: sending ~18 min (~9.3 k requests/s), then the end;
- every request accounted for: 10,000,000 profiling lines in profile_export.jsonl (12.4 GB), none failed;
- parent RSS curve (MB): 3 85 83 85 89 88 90 89 94 93 117; peak 125.7 MB over 224 samples (240 before);
  slope after the first minute +62.7 MB/hour, the end phase included (the curve is flat at 83-94 MB
  while records arrive);
- final statistics of the 10,000,000 records from disk: 1.577 s (3.637 s before);
- summary sections 32.5 s (436 s before): steady_state 32.1 s wall, 18.2 s CPU; output_length 0.13 s;
  server_metrics 0.31 s (the window from the columns); load_segments 0;
- exporters 0.111 s (147 s before; the sessions exporter reads no record of a run without sessions);
- the end, the last response (21:09:56.6 UTC) to the parent's exit (21:10:36.4): 39.8 s, of which the
  final statistics, sections and exporters 34.2 s;
- parent CPU 233.9 s in all, 23.4 µs per record, the end included (36.7 before).
The first run of this branch, at 266e085 (every count column read per chunk), took 1,556 s, peak RSS 173
MB, final statistics 2.3 s, summary sections 52.9 s, exporters 0.1 s, 25.1 µs per record.
In this process at 2 M records (``bench_run_end.py``) the sections take ~0.4 s of CPU per million
records, ~4 s at 10 M; the 18 s of CPU at 10 M in the real run is not explained yet (the column files,
~3 GB, read back after 12 GB of JSONL went through the page cache is the first suspect). Explained
2026-12-01 (bench_run_end.py's notes): that bench's window held 19 % of its requests (its batches repeated
their clocks); at ~99 %, as here, it is 2.4 µs of CPU per request, ~24 s at 10 M. Since 3c2eae6 the window
is the whole run's exact columns less the requests outside it: ~0.4 µs per request in that bench; with
the CLI (``--requests 200000 --sample-sec 2``, load 9-10, 2026-12-01), steady_state 0.092 s CPU (2.1 s
wall) for 200,000 requests, every request in the JSONL, peak RSS 93 MB.

At 200,000 records, ``bench_run_end.py`` (load 19-22), the code before issue 17's export change against
this one: exporters 58.9 s -> 8.5 s (the JSONL no longer recomputes a metric), summary sections 21.3 s ->
22.2 s (the steady-state window still adds every value of the window to new columns), parent CPU while
records arrive 13.8 -> 21.8 µs per record (each line is encoded on arrival, ~5.6 µs; the second pickling
of each batch, ~1.6 µs, is gone).

What made RSS creep in the 1-hour soak (issue 17 item 1, "flat RSS"), 2026-12-01. The soak on da79894
(``--soak-minutes 60``, ~7,000 requests/s, 25.2 M requests) went 86 MB at 1 min to 98.5 MB at 60 min,
slope +10.4 MB/hour over the sending phase. A shorter run with the parent under tracemalloc (a
sitecustomize hook, not committed, snapshots at 120 s and 300 s; the parent slowed to ~370 requests/s
under it) compared by line, top growth sites other than the sawtooth of the value columns' tails:

- ``record_store.py`` ``_Spool.append``: ``self.ends.append(...)``, an 8-byte end offset per batch in each
  of three spools (records, values, JSONL lines); appending 200,000 batches kept 25.4 bytes per batch.
  A batch is at most 64 records (``_SEND_SLICE``), so 25.2 M requests are >= 394 k batches: ~10 MB an
  hour at 7 k requests/s, the whole measured slope. Fixed in 978b163: records and values are stored
  length-framed and read in order, the lines file bare; the store keeps a size and a count, 0 bytes per
  batch (the same 200,000 appends).
- ``server_metrics/store.py`` ``failed``: the bench server answers ``GET /metrics`` with its SSE stream,
  not Prometheus text, so the discovered source fails every second and each attempt is kept (one
  ``scrapes`` entry, exported as a line of server_metrics.jsonl, as docs/server-metrics.md says): 340-470
  bytes each, ~1.2-1.7 MB an hour at the default 1 s interval, whatever the request rate. Left as it is.
  Against a real server the same list keeps every row of every good scrape: measured in-process, 81
  series (40 counters, 40 gauges, one histogram) keep ~44 kB per scrape, ~150 MB an hour at 1 s: the
  structure to put on disk next (what ``RecordStore`` does for records) for a soak against vLLM/SGLang.
- the other sites were one-off or in flight: each value column's file opened at its first spill (+65 kB,
  at 120-300 s only because tracemalloc slowed the run), the batches being unpickled (+71 kB), and below
  6 kB each over those 180 s (sketches, stats, metric functions); worker stats, logging, the load
  segments and the /api/timeline series (only with --api-port; at most MAX_POINTS = 7,200) did not show.

Short soaks (``--soak-minutes 8 --sample-sec 20``, niced, 2 CPUs shared with other builds), minutes
apart: after 978b163 (load 5.8 to 5.1), 4,958,433 requests (~10.3 k/s), every one in the JSONL, slope +5.2
± 17.2 MB/hour (± one standard error, 22 samples 60-480 s), 82.9 to 92.5 MB, lowest RSS per 2-minute
block 82.9 83.1 83.2 84.8 MB; before (978b163's parent, the same tree otherwise), 6,539,836 requests
(~13.6 k/s, load 4.9 to 2.4), every one in the JSONL, slope +28.8 ± 8.0 MB/hour, 89.8 to 95.9 MB, lowest per
block 89.8 89.9 91.6 92.1 MB. An 8-minute slope cannot resolve ~10 MB/hour (the sawtooth of the columns'
tails is +-5 MB, and the removed offsets were ~2.6 MB over that before run's 102 k batches; its lowest
RSS rose 2.3 MB, the after run's 1.9 MB): the figure that settles it is the per-batch one above, and a
60-minute soak, not run here (in the one on da79894 the lowest RSS per 10 minutes rose 86.1 89.7 91.8
92.9 95.4 97.0 MB).

Since then (2026-12-01): the server-metrics store spools every scrape to a temporary file (smstore, merged
59b9155; bench_server_metrics.py --memory: 98 kB kept per scrape of a vLLM-shaped exposition before, none
after). The 1-hour soak itself, on da79894 (before the two fixes above), niced beside six builds (load 2-11):
25,200,907 requests in 3,696 s, every one in the JSONL (31.3 GB), none failed; parent RSS 86.1 MB at 1 min,
98.5 MB at 60 min, 86.1-108.2 MB while sending, 132 MB in the end phase; slope over the sending phase
+10.4 MB/hour (first half +15.2, second half +4.2), which the record store's per-batch offsets account
for; final statistics of the 25.2 M records 10.9 s; summary sections 73.7 s (steady_state 72.0 s: before
3c2eae6). The 10 M run on 5593417 (the steady state less the outside merged, the record store's offsets
not yet), niced beside builds (load 3.5 at the start, 4.3 at the end): 1,379 s, 10,000,000 of 10,000,000
in the JSONL (12.4 GB), none failed; RSS curve (MB, 0 % .. 100 %) 3 86 89 91 96 91 95 91 93 98 103,
84.6-108.6 MB while sending (slope +30.9 MB/hour over 23 minutes), peak 175.3 MB in the end phase; final
statistics 2.0 s; summary sections 5.2 s (32.5 s before; steady_state 4.9 s wall, 3.4 s CPU); exporters
0.06 s; the last response to the parent's exit 10.3 s (39.8 s before); parent CPU 26.0 µs per record.

The 1-hour soak at the highest rate, 2026-12-01, main at 622113f..ffa420f (``--export-level summary``, so
the ~1.3 kB JSONL line per request is neither encoded nor stored: at the ~2.05 kB a request of the default
level, an hour at this rate needs ~110 GB and this disk had ~70 GB free; the soak on 770474e filled it
after 41 minutes), not niced, a helper's niced benchmarks and tests beside it (load 1.5-6.6):

    python bench/bench_long_run.py --soak-minutes 60 --export-level summary

- 44,331,837 requests in 3,649 s (12.3 k requests/s over the hour, one worker, 64 in flight), every one
  counted in profile_export.json, none failed; ~30 GB of temporary files at the end (0.79 kB a request);
- parent RSS, one sample a minute: 82.8-96.4 MB while sending, **slope -3.0 MB/hour** (60 samples, 60 s
  to 3,609 s); per 10 minutes from the first: 86.4-95.5, 87.0-89.7, 87.2-96.1, 87.0-90.6, 84.3-95.5,
  82.8-96.4 (the lowest falls: no creep);
- final statistics of the 44.3 M records from disk 8.3 s; summary sections 29.0 s (steady_state 27.0 s
  wall, 21.0 s CPU: the window's columns over 44 M requests); exporters 0.3 s; the end (final statistics
  begun to the parent's exit) 39.7 s; parent CPU 24.6 µs per record, the end included.

The 10 M run on b8c63aa (the default ``--export-level records``), right after, nothing else running (load
1.5 at the start, 1.8 at the end): ``python bench/bench_long_run.py --requests 10000000 --sample-sec 5``

- 526 s in all (~19 k requests/s), 10,000,000 of 10,000,000 in the JSONL (12.4 GB), none failed;
- parent RSS curve (MB, 0 % .. 100 %) 3 85 84 88 85 85 87 90 99 92 86; **peak 98.9 MB** over 106
  samples (175.3 MB on 5593417); 84.3-98.9 MB while sending (slope +14.8 MB/hour over 8 minutes, within
  the columns' +-5 MB sawtooth), 90.1 MB in the end phase;
- **final statistics of the 10,000,000 records from disk 0.72 s** (2.0 s on 5593417); summary sections
  5.0 s (steady_state 4.8 s); exporters 0.07 s; the last response to the parent's exit 9.0 s; parent CPU
  29.7 µs per record, the end included.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench_client import Server  # this directory is on sys.path when run as a script
from bench_startup import inferload_script


def slope_mb_per_hour(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) samples, in MB per hour."""
    n = len(samples)
    if n < 2:
        return float("nan")
    mean_t = sum(t for t, _ in samples) / n
    mean_m = sum(m for _, m in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    cov = sum((t - mean_t) * (m - mean_m) for t, m in samples)
    return cov / var * 3600 if var else float("nan")


def run(args: argparse.Namespace) -> int:
    import psutil

    server = Server()
    workdir = Path(tempfile.mkdtemp(prefix="inferload-long-"))
    load = ["--request-count", str(args.requests)] if not args.soak_minutes else [
        "--benchmark-duration", str(args.soak_minutes * 60), "--benchmark-grace-period", "5"]
    command = [inferload_script(), "profile", "--url", server.url, "-m", "bench", "--streaming", "--isl", "8",
               "--concurrency", str(args.concurrency), *load, "--ui", "none", "--artifact-dir", str(workdir),
               "--export-level", args.export_level]
    if args.workers:
        command += ["--workers", str(args.workers)]
    print(f"long run: {' '.join(command[1:])}")
    print(f"{os.cpu_count()} CPUs, load average at start {os.getloadavg()[0]:.1f}", flush=True)
    started = time.monotonic()
    started_ns = time.time_ns()  # the wall clock at ``started``: places the last response among the samples
    samples: list[tuple[float, float]] = []
    cpu_sec = 0.0  # the parent's own CPU (user + system) at its last sample
    try:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        parent = psutil.Process(process.pid)
        next_sample = started
        while process.poll() is None:
            now = time.monotonic()
            if now >= next_sample:
                with contextlib.suppress(psutil.Error):
                    samples.append((now - started, parent.memory_info().rss / 2**20))
                    times = parent.cpu_times()
                    cpu_sec = times.user + times.system
                    if args.soak_minutes:
                        print(f"  t={now - started:7.0f} s  parent RSS {samples[-1][1]:7.1f} MB", flush=True)
                next_sample += args.sample_sec
            time.sleep(min(0.2, args.sample_sec))
        elapsed = time.monotonic() - started
        exited_ns = time.time_ns()  # within one poll (0.2 s) of the parent's exit
        stderr = process.stderr.read() if process.stderr else ""
        if process.returncode != 0:
            print(f"inferload exited {process.returncode}: {stderr[-2000:]}")
            return 1
        (run_dir,) = [p for p in workdir.iterdir() if p.is_dir()]
        log = (run_dir / "logs" / "inferload.log").read_text()
        final = re.search(r"final statistics of (\d+) records computed from disk in ([\d.]+) s", log)
        end = re.search(r"summary sections took ([\d.]+) s, exporters ([\d.]+) s", log)
        sections = re.search(r"summary section times: (.*)", log)
        lines = profiling = failed = 0
        last = b""
        jsonl = run_dir / "profile_export.jsonl"
        if jsonl.is_file():
            with jsonl.open("rb") as handle:
                for line in handle:
                    last = line
                    lines += 1
                    profiling += b'"benchmark_phase":"profiling"' in line
                    failed += not line.rstrip().endswith(b'"error":null}')
            jsonl_mb = jsonl.stat().st_size / 2**20
        else:  # --export-level summary: the counts from the summary, the end from the log
            summary = json.loads((run_dir / "profile_export.json").read_text())
            failed = int((summary.get("error_request_count") or {}).get("avg") or 0)
            lines = profiling = int(summary["request_count"]["avg"]) + failed
            jsonl_mb = 0.0
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    peak = max(m for _, m in samples)
    source = "JSONL records" if last else "requests (profile_export.json's counts, no JSONL)"
    print(f"finished in {elapsed:.0f} s, {lines:,} {source} (warmup included), {profiling:,} of them "
          f"profiling, {failed:,} with an error, {jsonl_mb:,.0f} MB; load average at end "
          f"{os.getloadavg()[0]:.1f}")
    if not args.soak_minutes:
        verdict = "every request accounted for" if profiling == args.requests else "REQUESTS MISSING"
        print(f"profiling records in the JSONL: {profiling:,} of {args.requests:,} sent: {verdict}")
    if not args.soak_minutes:
        print("parent RSS curve (MB) at 0 %, 10 %, ... 100 % of the run time:")
        marks = [samples[min(len(samples) - 1, round(i * (len(samples) - 1) / 10))][1] for i in range(11)]
        print("  " + " ".join(f"{m:.0f}" for m in marks))
    print(f"parent peak RSS {peak:.1f} MB over {len(samples)} samples")
    if final:
        print(f"final statistics of {int(final.group(1)):,} records: {float(final.group(2)):.3f} s")
    if end:
        print(f"summary sections {float(end.group(1)):.3f} s, exporters (JSONL included) "
              f"{float(end.group(2)):.3f} s")
    if sections:
        print(f"  each section: {sections.group(1)}")
    sending_end = elapsed  # seconds after the start at which the last response arrived
    if final and not last:  # no JSONL: the final statistics begin right after the last response
        stamp = re.search(r"^(\S+ \S+),(\d+) INFO inferload.timing: final statistics", log, re.MULTILINE)
        if stamp:
            at = time.mktime(time.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S")) + int(stamp.group(2)) / 1e3
            sending_end = at - started_ns / 1e9
            print(f"end of the run (final statistics begun to the parent's exit): "
                  f"{exited_ns / 1e9 - at:.1f} s")
    if last:
        ended = json.loads(last)["metadata"]["request_end_ns"]
        sending_end = (ended - started_ns) / 1e9
        print(f"end of the run (the last record's response end to the parent's exit): "
              f"{(exited_ns - ended) / 1e9:.1f} s")
    if lines:
        print(f"parent CPU {cpu_sec:.1f} s at its last sample, {cpu_sec / lines * 1e6:.1f} µs per record")
    print(sending_and_end(samples, sending_end, settle=min(60.0, elapsed / 4)))
    return 0


def sending_and_end(samples: list[tuple[float, float]], sending_end: float, settle: float) -> str:
    """Two lines on the RSS ``samples`` (seconds from the start, MB): the slope while requests were sent
    (from ``settle`` s, past start-up and warm-up, to ``sending_end``, the last response), what "flat RSS
    during a soak" is about; and the peak of the end phase after it (final statistics, summary sections,
    exporters), which is bounded but not flat and would tilt a slope taken over both."""
    sending = [s for s in samples if settle <= s[0] <= sending_end]
    end = [m for t, m in samples if t > sending_end]
    line = (f"RSS while sending ({settle:.0f} s to {sending_end:.0f} s, {len(sending)} samples): slope "
            f"{slope_mb_per_hour(sending):+.1f} MB/hour, {min((m for _, m in sending), default=0):.1f} to "
            f"{max((m for _, m in sending), default=0):.1f} MB")
    if not end:
        return line + "\nend phase: no sample after the last response"
    return line + f"\nend phase (after the last response, {len(end)} samples): peak RSS {max(end):.1f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_long_run.py", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000, help="requests in count mode")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workers", type=int, default=0, help="--workers (default: inferload's choice)")
    parser.add_argument("--soak-minutes", type=float, default=0.0, help="soak mode: run this long")
    parser.add_argument("--sample-sec", type=float, default=None, help="RSS sample interval")
    parser.add_argument("--export-level", choices=("summary", "records"), default="records",
                        help="the run's --export-level (summary: no JSONL, ~0.79 kB of disk a request)")
    args = parser.parse_args(argv)
    if args.sample_sec is None:
        args.sample_sec = 60.0 if args.soak_minutes else 1.0
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
