"""Reading sweep summaries: the summary of a directory (also of a sweep variation's directory that holds
only trials), and the order a summary's table shows its rows in.

A sweep run with ``--num-profile-runs N`` writes ``v00-concurrency1/trial00/ … trialNN/`` and one
``sweep_summary.json`` at the sweep's root; the variation's directory has no summary of its own. Both
``inferload compare`` and ``inferload plot`` accept it as they accept a standalone trials directory: the
document :func:`read_sweep_summary` returns for it has the layout of that directory's summary (one
variation; ``kind`` ``trials``), its row taken from the parent sweep's summary (so the means and intervals
are the sweep's) with ``run_dirs`` relative to the variation's directory.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from inferload.errors import UsageError

SUMMARY = "sweep_summary.json"
TRIAL_DIR = re.compile(r"trial\d{2,}")
"""A trial's directory name, ``trial00`` … (docs/sweeps.md)."""


def read_sweep_summary(path: Path) -> dict[str, Any] | None:
    """``path/sweep_summary.json``; for a directory without one that holds ``trialNN/`` run directories,
    the one-variation summary described in the module docstring; None for anything else (a run).
    A UsageError names a summary that is not valid JSON."""
    if not path.is_dir():
        return None
    if (path / SUMMARY).is_file():
        return _read(path / SUMMARY)
    trials = sorted(p.name for p in path.iterdir()
                    if p.is_dir() and TRIAL_DIR.fullmatch(p.name) and (p / "profile_export.json").is_file())
    if not trials:
        return None
    sweep = _read(path.parent / SUMMARY) if (path.parent / SUMMARY).is_file() else {}
    prefix = path.name + "/"
    row = next((r for r in sweep.get("variations", [])
                if r.get("run_dirs") and all(d.startswith(prefix) for d in r["run_dirs"])), None)
    if row is None:  # moved out of its sweep: the trials on disk, no figures to show beside them
        row = {"variation_index": 0, "variation_label": path.name, "variation_values": {},
               "trials": len(trials), "run_dirs": trials, "metrics": {}}
    else:
        row = {**row, "run_dirs": [d.removeprefix(prefix) for d in row["run_dirs"]]}
    return {"sweep_id": sweep.get("sweep_id"), "kind": "trials", "run_label": sweep.get("run_label"),
            "num_profile_runs": len(row["run_dirs"]), "confidence_level": sweep.get("confidence_level"),
            "axes": [], "variations": [row], "warnings": []}


def table_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rows of a sweep summary in the order its tables show them: a sweep's and trials' in variation
    order; a search's by load (its curve), ties in probe order. Every row keeps its ``variation_index``,
    so the probe order stays visible beside the load order."""
    rows = list(summary.get("variations", []))
    axis = (summary.get("search") or {}).get("axis") if summary.get("kind") == "search" else None
    if axis is None:
        return rows
    return sorted(rows, key=lambda row: (row["variation_values"].get(axis, 0), row["variation_index"]))


def _read(file: Path) -> dict[str, Any]:
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise UsageError(f"{file} is not valid JSON; re-run the sweep") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{file} is not a sweep summary (a JSON object); re-run the sweep")
    return doc
