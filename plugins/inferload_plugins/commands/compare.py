"""`inferload compare BASELINE CANDIDATE`: per-metric change with a confidence interval, verdicts against
``--max-regression`` thresholds, a console table and, with ``-o FILE``, the JSON; exit 1 when a threshold is
breached, so CI can gate a release on it, exit 3 when a compared run is incomplete (its figures cover
part of its load: :data:`EXIT_INCOMPLETE`) unless ``--allow-incomplete``, and with ``--strict`` exit 4
when a verdict is inconclusive (:data:`EXIT_INCONCLUSIVE`). Reads inferload runs, trials and
sweeps, and AIPerf's ``profile_export_aiperf.json``. Definitions: docs/compare.md."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inferload import hookimpl
from inferload.types import CommandSpec

if TYPE_CHECKING:
    from inferload.registry import PluginRegistry

EXIT_BREACH = 1
"""A ``--max-regression`` threshold is breached."""
EXIT_INCONCLUSIVE = 4
"""With ``--strict``: a threshold's verdict is ``inconclusive`` (beyond it by the point estimate, but its
interval reaches no change), and none is breached."""
EXIT_INCOMPLETE = 3
"""A compared run is incomplete (interrupted, every request failed, a worker lost): its verdicts rest on
part of its load, so the gate does not pass on them; checked before the thresholds."""


@hookimpl
def register_commands() -> list[CommandSpec]:
    return [
        CommandSpec(
            name="compare",
            description="Compare two runs or sweeps (A/B): change per metric with a confidence interval; "
            "exit 1 when a --max-regression threshold is breached, 3 when a compared run is incomplete, 4 "
            "with --strict when a verdict is inconclusive",
            add_arguments=add_arguments,
            run=run,
        )
    ]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("baseline", metavar="BASELINE", help="run or sweep directory (or AIPerf export)")
    parser.add_argument("candidate", metavar="CANDIDATE", help="run or sweep directory to judge")
    parser.add_argument(
        "--max-regression",
        action="extend",
        nargs="+",
        default=[],
        metavar="'METRIC.STAT:PCT%'",
        help="fail (exit 1) when METRIC.STAT regresses by more than PCT%%, significantly (repeatable), "
        "e.g. 'time_to_first_token.p99:5%%'",
    )
    parser.add_argument("--confidence-level", type=float, default=0.95, metavar="P",
                        help="of the change's interval (default 0.95)")
    parser.add_argument("--allow-incomplete", action="store_true",
                        help="compare incomplete runs (interrupted, or every request failed) with a warning "
                        "instead of exit 3")
    parser.add_argument("--strict", action="store_true",
                        help="exit 4 when a --max-regression verdict is inconclusive (beyond the threshold, "
                        "but its interval reaches no change: too few samples to tell) and none is breached")
    parser.add_argument("-o", "--output", default=None, metavar="FILE",
                        help="also write the comparison as JSON to FILE (default: the console only)")


def run(args: argparse.Namespace, registry: PluginRegistry) -> int:
    from inferload.artifact_files import write_artifact
    from inferload.errors import UsageError
    from inferload.export import json_safe
    from inferload_plugins.comparison.runs import load_units, sweep_gap
    from inferload_plugins.comparison.verdict import (
        DEFAULT_STATS,
        compare_metric,
        lower_is_better,
        parse_thresholds,
        undecided_line,
        verdict,
    )

    if not 0 < args.confidence_level < 1:
        raise UsageError(f"--confidence-level {args.confidence_level} must be between 0 and 1")
    thresholds = parse_thresholds(args.max_regression)
    base_units = load_units(Path(args.baseline))
    cand_units = load_units(Path(args.candidate))
    keys = [key for key in base_units if key in cand_units]
    if not keys:
        raise UsageError(f"{args.baseline} and {args.candidate} share no variation "
                         f"({', '.join(base_units) or 'one run'} vs {', '.join(cand_units) or 'one run'})")
    incomplete = [{"side": side, "run": str(run.path.parent), "reason": run.incomplete_reason}
                  for side, units in (("baseline", base_units), ("candidate", cand_units))
                  for key in keys for run in units[key] if not run.is_complete]
    lines = [f"{item['side']} run {item['run']} is incomplete: {item['reason']}" for item in incomplete]
    for side, path in (("baseline", args.baseline), ("candidate", args.candidate)):
        cut = sweep_gap(Path(path))
        if cut is not None:  # an interrupted sweep: the variations it never ran are not compared
            incomplete.append({"side": side, "run": str(path), "reason": cut})
            lines.append(f"{side} sweep {path} is incomplete: {cut}")
    unmatched = [f"variation {key} is only in the {side}: not compared"
                 for side, units, other in (("baseline", base_units, cand_units),
                                            ("candidate", cand_units, base_units))
                 for key in units if key not in other]
    unmatched += no_request_values(base_units, cand_units)
    gated = bool(incomplete) and not args.allow_incomplete

    def refuse_incomplete() -> int:
        """The lines naming each incomplete run and why, and :data:`EXIT_INCOMPLETE`."""
        for line in lines:
            sys.stderr.write(f"inferload: error: {line}; re-run it, or give --allow-incomplete to compare it "
                             "anyway\n")
        return EXIT_INCOMPLETE

    directions = {name: spec.higher_is_better for name, spec in registry.all("metric").items()}
    comparisons: list[dict[str, Any]] = []
    for key in keys:
        base, cand = base_units[key], cand_units[key]
        endpoints = {base[0].endpoint_type, cand[0].endpoint_type} - {None}
        if len(endpoints) > 1:
            raise UsageError(f"cannot compare different endpoint types ({' vs '.join(sorted(endpoints))}): "
                             "compare runs of the same API")
        common = [tag for tag in base[0].blocks if tag in cand[0].blocks]
        if not common:
            if gated:  # a run that failed lacks the metrics: that, not the input, is the fault
                return refuse_incomplete()
            raise UsageError(f"{args.baseline} and {args.candidate} have no metric in common")
        rows = []
        for tag in common:
            block = base[0].blocks[tag]
            stats = DEFAULT_STATS if "p99" in block else ("avg",)
            wanted = {name.rsplit(".", 1)[1] for name in thresholds if name.rsplit(".", 1)[0] == tag}
            for stat in dict.fromkeys([*stats, *sorted(wanted)]):
                row = compare_metric(tag, stat, base, cand, args.confidence_level)
                if row is not None:
                    limit = thresholds.get(row["metric"])
                    rows.append(verdict(row, lower_is_better(tag, block.get("unit"), directions), limit))
        comparisons.append({"variation": key or None, "baseline_runs": [str(r.path) for r in base],
                            "candidate_runs": [str(r.path) for r in cand], "baseline_tool": base[0].tool,
                            "incomplete": [side for side, unit in (("baseline", base), ("candidate", cand))
                                           if not all(r.is_complete for r in unit)],
                            "rows": rows})
    compared = {row["metric"] for c in comparisons for row in c["rows"]}
    missing = sorted(set(thresholds) - compared)
    if missing:
        if gated:
            return refuse_incomplete()
        raise UsageError(f"--max-regression names {', '.join(missing)}, which is not in both runs")
    breaches = [f"{c['variation'] + ': ' if c['variation'] else ''}{row['metric']}"
                for c in comparisons for row in c["rows"] if row["verdict"] == "breach"]
    undecided = [undecided_line(row, c["variation"])
                 for c in comparisons for row in c["rows"] if row["verdict"] == "inconclusive"]
    doc = {"baseline": str(args.baseline), "candidate": str(args.candidate),
           "confidence_level": args.confidence_level, "thresholds": thresholds,
           "comparisons": comparisons, "breaches": breaches, "inconclusive": undecided,
           "incomplete": incomplete, "strict": args.strict,
           "passed": not breaches and not gated and not (args.strict and undecided),
           "warnings": [*lines, *unmatched]}
    sys.stdout.write(render(doc))
    if args.output is not None:
        output = Path(args.output).expanduser().absolute()
        write_artifact(output.parent, output.name, json.dumps(json_safe(doc), indent=2) + "\n")
        sys.stderr.write(f"inferload: comparison written to {output}\n")
    for line in unmatched:
        sys.stderr.write(f"inferload: warning: {line}\n")
    for line in undecided:
        sys.stderr.write(f"inferload: inconclusive: {line}\n")
    if breaches:
        sys.stderr.write(f"inferload: regression beyond threshold: {', '.join(breaches)}\n")
    if gated:
        return refuse_incomplete()
    for line in lines:
        sys.stderr.write(f"inferload: warning: {line} (compared anyway: --allow-incomplete)\n")
    if breaches:
        return EXIT_BREACH
    return EXIT_INCONCLUSIVE if args.strict and undecided else 0


def no_request_values(base_units: dict[str, list[Any]], cand_units: dict[str, list[Any]]) -> list[str]:
    """A warning per single run compared with a single run that has no ``profile_export.jsonl`` (written
    at ``--export-level records``, not ``summary``): its statistics get no interval over requests, so a
    change beyond a threshold is judged on the change alone, noise included (docs/compare.md)."""
    paths: dict[str, None] = {}
    for key in base_units.keys() & cand_units.keys():
        pair = (base_units[key], cand_units[key])
        if all(len(unit) == 1 for unit in pair):
            for (run,) in pair:
                if run.records_file is not None and not run.records_file.is_file():
                    paths[str(run.records_file.parent)] = None
    return [f"{path} has no profile_export.jsonl (a run at --export-level summary): no confidence interval "
            "over its requests, so a change is judged without one, noise included" for path in sorted(paths)]


def render(doc: dict[str, Any]) -> str:
    """The console table: metric, baseline, candidate, change [interval], threshold, verdict; a unit whose
    baseline or candidate is incomplete says so in its title line."""
    from inferload.export import compact_stat
    from inferload_plugins.shared.completeness import INCOMPLETE_MARK

    def pct(value: float | None) -> str:
        return "n/a" if value is None or not math.isfinite(value) else f"{value:+.1%}"

    lines = []
    for comparison in doc["comparisons"]:
        title = f"variation {comparison['variation']}" if comparison["variation"] else "run"
        cut = " and ".join(comparison.get("incomplete") or [])
        mark = f"  [{cut} {INCOMPLETE_MARK}]" if cut else ""
        lines.append(f"{title}: {doc['baseline']} -> {doc['candidate']}{mark}")
        lines.append(f"{'metric':38} {'baseline':>12} {'candidate':>12} {'change':>9} "
                     f"{'interval':>19} {'limit':>7}  verdict")
        for row in comparison["rows"]:
            interval = "" if row["ci_low"] is None else f"[{pct(row['ci_low'])}, {pct(row['ci_high'])}]"
            limit = "" if row["threshold"] is None else f"{row['threshold']:.0%}"
            stat = row["metric"].rsplit(".", 1)[1]
            baseline, candidate = (compact_stat(row[key], row["unit"], stat)
                                   for key in ("baseline", "candidate"))
            lines.append(f"{row['metric']:38} {baseline:>12} {candidate:>12} "
                         f"{pct(row['change']):>9} {interval:>19} {limit:>7}  {row['verdict']}")
    return "\n".join(lines) + "\n"
