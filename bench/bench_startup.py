"""Start-up time of `inferload --help` and `inferload plugins`, whole process, against `python -c pass`.

Every plugin module is imported at start-up, so a plugin that imports something heavy at module level
shows up here. Each command runs ``--runs`` times, interleaved round-robin with the others so that machine
noise hits all of them alike; the figures are the median and minimum wall time of the whole process, and
the ratio of medians to ``python -c pass`` measured in the same run. ``--importtime`` adds the slowest
imports of ``inferload plugins`` (from ``-X importtime``) to show where the time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def inferload_script() -> str:
    """The console script of this interpreter's environment."""
    beside = Path(sys.executable).parent / "inferload"
    found = str(beside) if beside.exists() else shutil.which("inferload")
    if found is None:
        raise SystemExit("bench_startup: no `inferload` console script; install inferload first")
    return found


def commands() -> dict[str, list[str]]:
    script = inferload_script()
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "inferload --help": [script, "--help"],
        "inferload plugins": [script, "plugins"],
    }


def clean_env() -> dict[str, str]:
    """The user's environment without plugin controls, so every plugin installed is loaded."""
    return {k: v for k, v in os.environ.items() if not k.startswith("INFERLOAD_")}


def time_once(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"bench_startup: {' '.join(command)} exited {done.returncode}: "
                         f"{done.stderr.decode()}")
    return elapsed


def measure(runs: int, warmup: int) -> dict[str, list[float]]:
    env = clean_env()
    todo = commands()
    for _ in range(warmup):  # fill the OS page cache and write .pyc files before timing
        for command in todo.values():
            time_once(command, env)
    samples: dict[str, list[float]] = {name: [] for name in todo}
    for _ in range(runs):
        for name, command in todo.items():
            samples[name].append(time_once(command, env))
    return samples


def plugin_count() -> tuple[int, int]:
    done = subprocess.run(
        [inferload_script(), "plugins", "--json"], env=clean_env(), capture_output=True, text=True, check=True
    )
    rows = json.loads(done.stdout)
    return len(rows), sum(1 for row in rows if row["status"] == "enabled")


def slowest_imports(limit: int) -> list[tuple[float, str]]:
    """(cumulative ms, module) of the slowest top-level imports while running `inferload plugins`."""
    env = {**clean_env(), "PYTHONPROFILEIMPORTTIME": "1"}
    command = [inferload_script(), "plugins"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    rows = []
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if match and len(match.group(2)) <= 1:  # only imports made directly, not their sub-imports
            rows.append((int(match.group(1)) / 1000, match.group(3)))
    return sorted(rows, reverse=True)[:limit]


def report(samples: dict[str, list[float]], runs: int) -> dict[str, dict[str, float]]:
    reference = statistics.median(samples["python -c pass"])
    total, enabled = plugin_count()
    print(
        f"inferload start-up, whole process, {runs} runs each, interleaved; "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {enabled}/{total} plugins enabled"
    )
    print(f"{'command':<20} {'median ms':>10} {'min ms':>8} {'max ms':>8} {'x python':>9}")
    figures: dict[str, dict[str, float]] = {}
    for name, values in samples.items():
        median = statistics.median(values)
        figures[name] = {
            "median_ms": median * 1e3,
            "min_ms": min(values) * 1e3,
            "max_ms": max(values) * 1e3,
            "ratio_to_python": median / reference,
        }
        row = figures[name]
        print(
            f"{name:<20} {row['median_ms']:>10.1f} {row['min_ms']:>8.1f} {row['max_ms']:>8.1f} "
            f"{row['ratio_to_python']:>9.2f}"
        )
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_startup.py", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs per command (default 15)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs first (default 2)")
    parser.add_argument("--importtime", action="store_true", help="also list the slowest imports")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be at least 1 and --warmup at least 0")

    figures = report(measure(args.runs, args.warmup), args.runs)
    if args.importtime:
        print("\nslowest imports of `inferload plugins` (cumulative ms, one run):")
        for ms, module in slowest_imports(12):
            print(f"{ms:>8.1f}  {module}")
    if args.json:
        args.json.write_text(json.dumps({"runs": args.runs, "figures": figures}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
