"""Run inferload's benchmarks: ``python bench/run.py [--list] [NAME ...] [-- ARGS...]``.

Benchmarks measure inferload itself and are never part of the test pass/fail. Each is a script
``bench/bench_NAME.py`` that prints its figures and exits 0, with a ``main(argv: list[str] | None = None)
-> int`` and ``--help``; this runner finds them, runs each in its own process (so one cannot warm or
pollute another), streams its output and prints a summary. Arguments after ``--`` go to every benchmark
run.

    python bench/run.py --list
    python bench/run.py startup -- --runs 25
    python bench/run.py            # all of them, in name order
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PREFIX = "bench_"


def discover() -> dict[str, Path]:
    """Benchmark name -> script, for every bench/bench_*.py."""
    return {path.stem.removeprefix(PREFIX): path for path in sorted(BENCH_DIR.glob(f"{PREFIX}*.py"))}


def summary_line(script: Path) -> str:
    """The first line of a benchmark's module docstring, read without importing it."""
    doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or ""
    return doc.strip().splitlines()[0] if doc.strip() else "(no docstring)"


def run_one(name: str, script: Path, args: list[str], timeout: float) -> tuple[int, float]:
    print(f"\n=== bench {name}: {' '.join([script.name, *args])}", flush=True)
    started = time.perf_counter()
    try:
        code = subprocess.run([sys.executable, str(script), *args], timeout=timeout, check=False).returncode
    except subprocess.TimeoutExpired:
        print(f"bench {name}: stopped after {timeout:g} s", file=sys.stderr)
        code = 124
    return code, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    passthrough: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, passthrough = argv[:split], argv[split + 1 :]
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed per benchmark")
    args = parser.parse_args(argv)

    benches = discover()
    if args.list:
        width = max((len(name) for name in benches), default=0)
        for name, script in benches.items():
            print(f"{name:<{width}}  {summary_line(script)}")
        return 0
    unknown = [name for name in args.names if name not in benches]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; available: {', '.join(benches) or 'none'}")
    chosen = args.names or list(benches)

    results = [(name, *run_one(name, benches[name], passthrough, args.timeout)) for name in chosen]
    print("\n=== summary")
    for name, code, seconds in results:
        print(f"{name:<20} {'ok' if code == 0 else f'FAILED (exit {code})':<16} {seconds:8.1f} s")
    return 0 if all(code == 0 for _, code, _ in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
