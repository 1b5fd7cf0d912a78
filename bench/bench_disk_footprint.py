"""Disk per request of `inferload profile`: every file the run holds open, by size, and the `df` delta.

Runs the real CLI against the minimal SSE server of bench_client.py (4 tokens per request, no delay), as
bench_long_run.py does, and samples every 0.2 s the files the inferload processes hold open
(``/proc/<pid>/fd``: the run's anonymous temporary spools show as ``#<inode> (deleted)``), keeping each
one's largest size, and the free space of the artifact directory's file system. Prints each file's
largest size in bytes per request (profile_export.json's request count), their sum, the peak ``df``
delta, and the artifact files left at the end.

    python bench/bench_disk_footprint.py --requests 200000

2026-12-01, branch ``disk``, 2 CPUs shared with another benchmark, niced (docs/profile.md, "Long runs and
disk space", has the table by kind of file): 200,000 requests, the JSONL spool 1,298.4 B/request (the
``profile_export.jsonl`` it becomes), the pickled records 191.6, the pickled metric values 124.4, 27
int32 columns 4.0 each, 19 record columns 8.0 each, 15 value columns 7.9 each, the flags 1.0, two of
per-token values 24.0 and 23.6; 2,041 B/request in all, beside the end reserve (one 8,388,608-byte file,
41.9 B/request of this run: a fixed 8 MiB, :class:`inferload.spool_write.EndReserve`); peak ``df`` delta
2,051 B/request with the reserve, 2,009 without; after the run 1,298.7 B/request stays (the JSONL and
~50 kB of other files). ``--duration 20`` before the end reserve (306,331 requests): 2,026 in all,
``df`` delta 2,031.

2026-12-01, main after d503094, quiet (load 1.1), ``--export-level summary`` (no JSONL line encoded or
stored), 200,000 requests: 785.1 B/request in all (the JSONL spool gone, every other file as above),
peak ``df`` delta 788.5 B/request; after the run 0.3 B/request (the summary files, ~60 kB).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import psutil

from bench_client import Server  # this directory is on sys.path when run as a script
from bench_startup import inferload_script


def open_files(pid: int) -> dict[tuple[int, str], int]:
    """(inode, target) -> size in bytes (allocated or apparent, the larger) of every regular file that
    ``pid`` and its children hold open."""
    sizes: dict[tuple[int, str], int] = {}
    try:
        pids = [pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))]
    except psutil.Error:
        return sizes
    for one in pids:
        try:
            fds = os.listdir(f"/proc/{one}/fd")
        except OSError:
            continue
        for fd in fds:
            path = f"/proc/{one}/fd/{fd}"
            try:
                target = os.readlink(path)
                info = os.stat(path)
            except OSError:
                continue
            if target.startswith("/") and stat.S_ISREG(info.st_mode):
                sizes[(info.st_ino, target)] = max(info.st_blocks * 512, info.st_size)
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_disk_footprint.py", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000, help="--request-count (0: --duration)")
    parser.add_argument("--duration", type=float, default=0.0, help="--benchmark-duration, seconds")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--export-level", choices=("summary", "records"), default="records",
                        help="the run's --export-level (summary: no profile_export.jsonl)")
    args = parser.parse_args(argv)
    server = Server()
    work = Path(tempfile.mkdtemp(prefix="inferload-footprint-"))
    load = (["--benchmark-duration", str(args.duration)] if args.duration else
            ["--request-count", str(args.requests)])
    command = [inferload_script(), "profile", "--url", server.url, "-m", "bench", "--streaming", "--isl", "8",
               "--concurrency", str(args.concurrency), *load, "--ui", "none", "--artifact-dir", str(work),
               "--export-level", args.export_level]
    largest: dict[tuple[int, str], int] = {}
    try:
        before = shutil.disk_usage(work).free
        peak = 0
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        while process.poll() is None:
            for key, size in open_files(process.pid).items():
                largest[key] = max(largest.get(key, 0), size)
            peak = max(peak, before - shutil.disk_usage(work).free)
            time.sleep(0.2)
        stderr = process.stderr.read() if process.stderr else ""
        if process.returncode != 0:
            print(f"inferload exited {process.returncode}: {stderr[-2000:]}")
            return 1
        (run_dir,) = [p for p in work.iterdir() if p.is_dir()]
        summary = json.loads((run_dir / "profile_export.json").read_text())
        records = int(summary["request_count"]["avg"])  # no warmup here: every request is a profiling one
        print(f"{records:,} records; files held open while the run went on (largest size):")
        total = 0
        for (_, target), size in sorted(largest.items(), key=lambda item: -item[1]):
            if size and "/lib/" not in target and not target.startswith("/dev/"):
                total += size
                print(f"  {size / records:9.1f} B/request {size:>14,}  {target}")
        print(f"  {total / records:9.1f} B/request in all; peak df delta {peak / records:.1f} B/request")
        kept = 0
        for path in sorted(run_dir.rglob("*")):
            if path.is_file():
                kept += path.stat().st_size
                share = path.stat().st_size / records
                print(f"  artifact {share:9.1f} B/request  {path.relative_to(run_dir)}")
        print(f"  artifacts {kept / records:.1f} B/request after the run")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
