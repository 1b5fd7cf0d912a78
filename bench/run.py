"""Run inferload's benchmarks: ``python bench/run.py [--list] [NAME ...] [-- ARGS...]``.

Benchmarks measure inferload itself and are never part of the test pass/fail. Each is a script
``bench/bench_NAME.py`` that prints its figures and exits 0, with a ``main(argv: list[str] | None = None)
-> int`` and ``--help``; this runner finds them, runs each in its own process (so one cannot warm or
pollute another), streams its output and prints a summary. Arguments after ``--`` go to every benchmark
run.

Each benchmark runs ``--repeat N`` times (default 3) so that a regression can be told from noise: after
the runs, every output line that carries figures is printed once more with each figure that varied as
``min/median/max`` over the runs (figures equal in every run, such as a concurrency, stay as they are),
under the section headings (``## ...``) and column headers (a line without figures right before one with
them) that the first run printed. Lines are matched by their text with the numbers taken out; a line
whose text differs between runs is shown as the first run printed it.

A benchmark states a target it checks with a line ``target NAME: met`` (or ``missed``); after the spread
the runner prints, per target, how many of the runs met it (``runs meeting target: 3 of 5  NAME``), since
a target must hold in every run, not in the median.

    python bench/run.py --list
    python bench/run.py startup -- --runs 25
    python bench/run.py client --repeat 5 -- --only ttft
    python bench/run.py            # all of them, in name order, 3 runs each
"""

from __future__ import annotations

import argparse
import ast
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
PREFIX = "bench_"


def discover() -> dict[str, Path]:
    """Benchmark name -> script, for every bench/bench_*.py."""
    return {path.stem.removeprefix(PREFIX): path for path in sorted(BENCH_DIR.glob(f"{PREFIX}*.py"))}


def summary_line(script: Path) -> str:
    """The first line of a benchmark's module docstring, read without importing it."""
    doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or ""
    return doc.strip().splitlines()[0] if doc.strip() else "(no docstring)"


NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.])")
"""A figure in a benchmark's output: ``1,234``, ``-0.5``, ``2.4e-05``; not the digits in ``p99``, ``v1.2``."""


def run_once(name: str, script: Path, args: list[str], timeout: float) -> tuple[int, list[str]]:
    """Run the benchmark, streaming its output; return its exit code and its standard output lines."""
    lines: list[str] = []

    def tee(stream: Any) -> None:
        for line in stream:
            print(line, end="", flush=True)
            lines.append(line.rstrip("\n"))

    with subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE, text=True) as proc:
        reader = threading.Thread(target=tee, args=(proc.stdout,), daemon=True)
        reader.start()
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            print(f"bench {name}: stopped after {timeout:g} s", file=sys.stderr)
            code = 124
        reader.join()
    return code, lines


def _template(line: str) -> str:
    """A line's text without its figures, and with runs of spaces as one (columns are right-aligned)."""
    return " ".join(NUMBER.sub("#", line).split())


def _figure(text: str) -> float:
    return float(text.replace(",", ""))


def _shown(values: list[str]) -> str:
    """One figure over the runs: as printed when equal in every run, else min/median/max."""
    if len(set(values)) == 1:
        return values[0]
    numbers = [_figure(v) for v in values]
    decimals = max((len(v.split(".")[1]) if "." in v and "e" not in v.lower() else 0) for v in values)
    fmt = f"{{:,.{decimals}f}}" if any("," in v for v in values) else f"{{:.{decimals}f}}"
    if any("e" in v.lower() for v in values):
        fmt = "{:.3g}"
    return "/".join(fmt.format(x) for x in (min(numbers), statistics.median(numbers), max(numbers)))


TARGET = re.compile(r"^target (?P<name>.+): (?P<verdict>met|missed)$")
"""A benchmark's verdict on one target in one run: ``target TTFT error ...: met``."""


def target_tally(runs: list[list[str]]) -> list[tuple[str, int, int]]:
    """(target, runs that met it, runs that stated it) for every ``target NAME: met|missed`` line, in the
    order the first run stated them."""
    tally: dict[str, list[int]] = {}
    for lines in runs:
        for line in lines:
            match = TARGET.match(line.strip())
            if match:
                counts = tally.setdefault(match["name"], [0, 0])
                counts[0] += match["verdict"] == "met"
                counts[1] += 1
    return [(name, met, stated) for name, (met, stated) in tally.items()]


Row = tuple[str, list[tuple[int, int]], list[str]]
"""A line of figures: its text, each figure's (start, end) in it, and what to show for each figure."""


def _render(row: Row, widths: list[int] | None = None) -> str:
    """A row with its figures replaced by what to show; with ``widths`` (extra characters per column),
    each figure is padded on its left so right-aligned columns stay aligned."""
    line, spans, shown = row
    out, position = [], 0
    for column, ((start, end), text) in enumerate(zip(spans, shown, strict=True)):
        if widths is not None:
            out.append(" " * (widths[column] - (len(text) - (end - start))))
        out.append(line[position:start])
        out.append(text)
        position = end
    out.append(line[position:])
    return "".join(out)


def _widened_header(header: str, ends: list[int], widths: list[int]) -> str:
    """A column header over rows whose k-th figure ends at ``ends[k]``, widened by ``widths[k]`` spaces
    before each column's label (inserted where the previous column ends, so right-aligned labels follow
    their figures; moved on to the next space where a header is not aligned, never splitting a label)."""
    starts, previous = [0], 0
    for end in ends[:-1]:
        cut = max(previous, end)
        while cut < len(header) and not header[cut].isspace():
            cut += 1
        starts.append(cut)
        previous = cut
    out, position = [], 0
    for start, width in zip(starts, widths, strict=True):
        out.append(header[position:start])
        out.append(" " * width)
        position = start
    out.append(header[position:])
    return "".join(out)


def _aligned(header: str | None, block: list[Row]) -> list[str]:
    """A table's header and rows with min/median/max figures, re-aligned when every row's figures end at
    the same columns (a right-aligned table); as they come otherwise."""
    ends = [end for _, end in block[0][1]]
    if any([end for _, end in row[1]] != ends for row in block):
        return ([header] if header is not None else []) + [_render(row) for row in block]
    widths = [max(len(row[2][k]) - (row[1][k][1] - row[1][k][0]) for row in block) for k in range(len(ends))]
    lines = [_widened_header(header, ends, widths)] if header is not None else []
    return lines + [_render(row, widths) for row in block]


def spread_lines(runs: list[list[str]]) -> list[str]:
    """The first run's lines that carry figures, each figure that varied over the runs replaced by
    min/median/max, under the run's section headings (``## ...``) and column headers (a line without
    figures right before a line with them); a table's columns widen to keep it aligned. A line is matched
    across runs by its text without the figures or column padding (its k-th occurrence with the k-th), and
    left as the first run printed it when a run lacks it. Target verdicts (``target NAME: met``) are left
    to :func:`target_tally`."""
    def keyed(lines: list[str]) -> dict[tuple[str, int], list[str]]:
        seen: dict[str, int] = {}
        out: dict[tuple[str, int], list[str]] = {}
        for line in lines:
            template = _template(line)
            index = seen.get(template, 0)
            seen[template] = index + 1
            out[(template, index)] = NUMBER.findall(line)
        return out

    others = [keyed(lines) for lines in runs[1:]]
    items: list[str | Row] = []
    seen: dict[str, int] = {}
    first = [line for line in runs[0] if not TARGET.match(line.strip())]
    for position, line in enumerate(first):
        matches = list(NUMBER.finditer(line))
        if not matches:
            following = first[position + 1] if position + 1 < len(first) else ""
            if line.startswith("#") or (line.strip() and NUMBER.search(following)):
                items.append(line)
            continue
        figures = [match.group() for match in matches]
        template = _template(line)
        index = seen.get(template, 0)
        seen[template] = index + 1
        columns = [figures] + [other.get((template, index), []) for other in others]
        if any(len(column) != len(figures) for column in columns):
            shown = figures
        else:
            shown = [_shown([column[i] for column in columns]) for i in range(len(figures))]
        items.append((line, [match.span() for match in matches], shown))

    result: list[str] = []
    position = 0
    while position < len(items):
        item = items[position]
        header = None
        if isinstance(item, str):
            following = items[position + 1] if position + 1 < len(items) else None
            if item.startswith("#") or following is None or isinstance(following, str):
                result.append(item)
                position += 1
                continue
            header, position = item, position + 1
        block: list[Row] = []
        while position < len(items) and not isinstance(items[position], str):
            row = items[position]
            assert not isinstance(row, str)
            if block and len(row[1]) != len(block[0][1]):
                break
            block.append(row)
            position += 1
        result.extend(_aligned(header, block))
    return result


def run_one(name: str, script: Path, args: list[str], timeout: float, repeat: int = 1) -> tuple[int, float]:
    """Run a benchmark ``repeat`` times (stopping at a failure), then print its figures' spread."""
    started = time.perf_counter()
    runs: list[list[str]] = []
    code = 0
    for index in range(repeat):
        suffix = f" (run {index + 1} of {repeat})" if repeat > 1 else ""
        print(f"\n=== bench {name}: {' '.join([script.name, *args])}{suffix}", flush=True)
        code, lines = run_once(name, script, args, timeout)
        if code != 0:
            break
        runs.append(lines)
    if code == 0 and len(runs) > 1:
        print(f"\n=== bench {name}: figures over {len(runs)} runs, as min/median/max where they varied")
        for line in spread_lines(runs):
            print(line)
        tally = target_tally(runs)
        if tally:
            print(f"\n=== bench {name}: runs meeting target")
            for target, met, stated in tally:
                print(f"{met} of {stated}  {target}")
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
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed per benchmark run")
    parser.add_argument("--repeat", type=int, default=3, metavar="N",
                        help="runs of each benchmark; figures then print as min/median/max (default 3)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat {args.repeat}: give at least 1 run")

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

    results = [
        (name, *run_one(name, benches[name], passthrough, args.timeout, args.repeat)) for name in chosen
    ]
    print("\n=== summary")
    for name, code, seconds in results:
        print(f"{name:<20} {'ok' if code == 0 else f'FAILED (exit {code})':<16} {seconds:8.1f} s")
    return 0 if all(code == 0 for _, code, _ in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
