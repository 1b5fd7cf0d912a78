"""Live control: how fast a rate change takes effect, and what a changeable rate costs the schedule.

Runs `inferload profile` against the embedded simulator in rate mode, interleaved round by round: once
with a fixed rate (the schedule drawn before the start) and once with --api-token (the schedule drawn as
it is sent, walked at a pace a change can move), where a client raises the rate mid-run with
PATCH /api/control/load. Prints, over the rounds (min / median / max):

- the PATCH round trip (ms) and the delay from sending the PATCH to the new segment's start (ms; the
  engine adds a 10 ms lead so every worker applies the change at one instant);
- the client's schedule lag p50/p99 (ms) of both modes, i.e. the cost of drawing and pacing the schedule
  live;
- the achieved rate of the segments before and after the change, against their targets.

Usage: python bench/bench_control.py [--rounds 3] [--rate 100] [--new-rate 200] [--duration 6] [--quick]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

TOKEN = "bench-control-token"


def _inferload() -> str:
    exe = Path(sys.executable).parent / "inferload"
    return str(exe) if exe.exists() else "inferload"


def _run(root: Path, rate: float, new_rate: float, duration: float, controlled: bool) -> dict[str, Any]:
    args = [_inferload(), "profile", "--streaming", "--isl", "16", "--osl", "8", "--ui", "none",
            "--request-rate", f"{rate:g}", "--benchmark-duration", f"{duration:g}",
            "--artifact-dir", str(root), "--random-seed", "1"]
    if controlled:
        args += ["--api-port", "0", "--api-token", TOKEN, "--api-linger", "0"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    found: dict[str, Any] = {}
    lines: list[str] = []

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            match = re.search(r"HTTP API on (http://[^\s(]+)", line)
            if match:
                found["base"] = match.group(1)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if controlled:
        import httpx

        while "base" not in found and process.poll() is None:
            time.sleep(0.01)
        base = found["base"]
        while True:
            load = httpx.get(base + "/api/progress", timeout=5).json().get("load") or {}
            if load.get("state") == "running":
                break
            time.sleep(0.02)
        # a client made (and connected) beforehand: its set-up is not the route's time
        client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
        client.get("/healthz")
        time.sleep(duration / 2)
        sent_wall = time.time_ns()
        started = time.perf_counter()
        answer = client.patch("/api/control/load", json={"request_rate": new_rate})
        found["patch_ms"] = (time.perf_counter() - started) * 1e3
        client.close()
        assert answer.status_code == 200, answer.text
        found["sent_wall"] = sent_wall
    process.wait(300)
    reader.join(5)
    if process.returncode != 0:
        raise RuntimeError("".join(lines[-5:]))
    run_dir = next(p for p in root.iterdir() if p.is_dir())
    export = json.loads((run_dir / "profile_export.json").read_text())
    lag = export["client_health"]["schedule_lag"] or {}
    result: dict[str, Any] = {"lag_p50": lag.get("p50"), "lag_p99": lag.get("p99")}
    if controlled:
        segments = export["load_segments"]
        result["patch_ms"] = found["patch_ms"]
        result["apply_ms"] = (segments[1]["start_ns"] - found["sent_wall"]) / 1e6
        result["rate_before"] = segments[0]["achieved_request_rate"]
        result["rate_after"] = segments[1]["achieved_request_rate"]
    return result


def _spread(values: list[float]) -> str:
    return f"{min(values):8.2f} {statistics.median(values):8.2f} {max(values):8.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--new-rate", type=float, default=200.0)
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--quick", action="store_true", help="1 round of 3 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.duration = 1, 3.0
    fixed: list[dict[str, Any]] = []
    controlled: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            fixed.append(_run(Path(tmp) / f"fixed{i}", args.rate, args.new_rate, args.duration, False))
            controlled.append(_run(Path(tmp) / f"ctl{i}", args.rate, args.new_rate, args.duration, True))
    loadavg = Path("/proc/loadavg")
    load = " ".join(loadavg.read_text().split()[:3]) if loadavg.exists() else "?"
    print(f"{args.rounds} round(s), rate {args.rate:g} -> {args.new_rate:g} req/s, {args.duration:g} s each; "
          f"load average {load}")
    print(f"{'figure':44s} {'min':>8s} {'median':>8s} {'max':>8s}")
    rows = [
        ("PATCH round trip (ms)", [r["patch_ms"] for r in controlled]),
        ("PATCH sent -> segment start (ms, 10 ms lead)", [r["apply_ms"] for r in controlled]),
        ("schedule lag p50, fixed rate (ms)", [r["lag_p50"] for r in fixed]),
        ("schedule lag p50, changeable rate (ms)", [r["lag_p50"] for r in controlled]),
        ("schedule lag p99, fixed rate (ms)", [r["lag_p99"] for r in fixed]),
        ("schedule lag p99, changeable rate (ms)", [r["lag_p99"] for r in controlled]),
        (f"achieved rate before the change ({args.rate:g})", [r["rate_before"] for r in controlled]),
        (f"achieved rate after the change ({args.new_rate:g})", [r["rate_after"] for r in controlled]),
    ]
    for name, values in rows:
        print(f"{name:44s} {_spread([float(v) for v in values])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
