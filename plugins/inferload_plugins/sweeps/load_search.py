"""``--search-max-load``: the highest load whose goodput ratio stays at or above the target.

The goodput ratio of a run is the share of its profiling requests that met every ``--goodput`` SLO
(errors count as misses). The search drives ``--request-rate`` when one is given, else ``--concurrency``,
starting at the given value (concurrency: 1). Exponential probe: double the load until a probe fails;
then bisect between the last pass and the first failure until they are one apart (concurrency) or their
relative gap is at most ``--search-precision`` (rate). Every probe is a variation of one sweep
(:class:`~.sweep.Sweep`); the answer and the probe curve go to ``sweep_summary.json`` as
``search``. The true limit lies in ``[max_load, first_failing_load)``. See docs/sweeps.md.
"""

from __future__ import annotations

import sys
from typing import Any

from inferload.errors import EXIT_OK
from inferload.number_text import plain_number
from inferload_plugins.shared.completeness import INCOMPLETE_MARK
from inferload_plugins.sweeps.options import SweepOptions
from inferload_plugins.sweeps.sweep import Sweep, Variation


def search_max_load(sweep: Sweep) -> int:
    """Run the search as a sweep; returns the exit code (≥ 128 when interrupted)."""
    config = sweep.base
    options = config.options(SweepOptions)
    axis = "request_rate" if config.request_rate is not None else "concurrency"
    integer = axis == "concurrency"
    start: float = config.request_rate if axis == "request_rate" else (config.concurrency or 1)
    target = options.search_min_goodput_ratio
    probes: list[dict[str, Any]] = []

    def passes(load: float) -> bool | None:
        """Run one probe; None when it was interrupted."""
        variation = Variation(len(probes), {axis: int(load) if integer else round(load, 6)})
        sweep.config_for(variation.values)
        code = sweep.run_variation(variation, None)
        row = sweep.results[-1].row(options.confidence_level)
        ratio_block = row["metrics"].get("goodput_ratio") or {}
        ratio = ratio_block.get("mean", 0.0)
        ok = code == EXIT_OK and ratio >= target
        # the ratio's interval over trials as the summary row reports it (null with one trial, as there)
        probes.append({"load": variation.values[axis], "goodput_ratio": ratio,
                       "goodput_ratio_ci_low": ratio_block.get("ci_low"),
                       "goodput_ratio_ci_high": ratio_block.get("ci_high"), "passed": ok,
                       "variation_index": variation.index, "exit_code": code})
        return None if code >= 128 else ok

    sweep.open("search", None)
    good: float | None = None
    bad: float | None = None
    code = EXIT_OK
    try:
        load = start
        while len(probes) < options.max_variations:  # exponential probe
            ok = passes(load)
            if ok is None:
                code = 130
                return code
            if not ok:
                bad = load
                break
            good, load = load, load * 2
        while good is not None and bad is not None and len(probes) < options.max_variations:
            if (bad - good <= 1) if integer else ((bad - good) / good <= options.search_precision):
                break
            mid = (good + bad) // 2 if integer else (good + bad) / 2
            ok = passes(mid)
            if ok is None:
                code = 130
                return code
            good, bad = (mid, bad) if ok else (good, mid)
    finally:
        answer = {
            "axis": axis, "min_goodput_ratio": target, "slos": config.goodput_slos,
            "max_load": good, "first_failing_load": bad,
            "precision": 1 if integer else options.search_precision,
            "converged": good is not None and bad is not None and (
                bad - good <= 1 if integer else (bad - good) / good <= options.search_precision),
            "probes": sorted(probes, key=lambda p: p["load"]),
            "interrupted": code >= 128,
        }
        sweep.search = answer
        sys.stdout.write(search_text(answer))
        sweep.close()
    return code


def search_text(answer: dict[str, Any]) -> str:
    """The answer and the curve as printed on the console."""
    flag = "--" + answer["axis"].replace("_", "-")
    def load(value: float) -> str:
        return plain_number(value, 6)

    lines = ["", f"max load search over {flag} (goodput ratio >= {load(answer['min_goodput_ratio'])}):"]
    for probe in answer["probes"]:
        mark = "pass" if probe["passed"] else "FAIL"
        if probe.get("exit_code", 0) >= 128:
            mark = f"interrupted {INCOMPLETE_MARK}: neither pass nor fail"
        low, high = probe.get("goodput_ratio_ci_low"), probe.get("goodput_ratio_ci_high")
        interval = "" if low is None or high is None else f" [{low:.3f}, {high:.3f}]"
        ratio = f"{probe['goodput_ratio']:.3f}{interval}"
        lines.append(f"  {flag} {load(probe['load']):<10} goodput ratio {ratio}  {mark}")
    if answer.get("interrupted"):
        so_far = "none passed" if answer["max_load"] is None else f"{flag} {load(answer['max_load'])} passed"
        lines.append(f"the search was interrupted {INCOMPLETE_MARK}: no max load found; so far {so_far}")
    elif answer["max_load"] is None:
        lines.append(f"no probed load met the SLOs; the lowest ({load(answer['probes'][0]['load'])}) did not"
                     if answer["probes"] else "no probe ran")
    else:
        bound = answer["first_failing_load"]
        upper = f", below {load(bound)}" if bound is not None else " (no failing load found: raise "\
            "--max-variations)"
        lines.append(f"max load: {flag} {load(answer['max_load'])}{upper}")
    return "\n".join(lines) + "\n"
