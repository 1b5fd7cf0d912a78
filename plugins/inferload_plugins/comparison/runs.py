"""What `inferload compare` reads: one run, the trials of one configuration, or a sweep's variations.

A *unit* is what is compared with its counterpart: the runs (one, or several trials) of one configuration.
Sources, found in this order inside a directory (or given as a file):

- ``sweep_summary.json`` (inferload sweep or trials): one unit per variation, keyed by its label, its runs
  the trial directories listed in ``run_dirs``; a sweep variation's directory holding only ``trialNN/``
  reads as a trials directory (``inferload_plugins.shared.sweep_summary``);
- ``profile_export.json`` (inferload) or ``profile_export_aiperf.json`` (AIPerf, the same top-level layout:
  ``{tag: {"unit", "avg", "p50", …}}``): one unit, key ``""``.

Per-request values come from the run's ``profile_export.jsonl`` (both tools write ``{"metadata":
{"benchmark_phase"}, "metrics": {tag: {"value", "unit"}}, "error"}`` per line): profiling-phase, successful
records, scalar values only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inferload.errors import UsageError
from inferload_plugins.shared.completeness import incomplete_reason, missing_variations
from inferload_plugins.shared.sweep_summary import read_sweep_summary

SUMMARY_FILES = ("profile_export.json", "profile_export_aiperf.json")


@dataclass
class Run:
    """One run's stats blocks (``{tag: {"unit", "avg", …}}``), endpoint type and per-request values."""

    path: Path
    blocks: dict[str, dict[str, Any]]
    endpoint_type: str | None
    tool: str
    records_file: Path | None = None
    incomplete_reason: str | None = None
    """Why the run is incomplete (its summary says ``is_complete: false``); None when it is complete."""
    _values: dict[str, list[float]] | None = field(default=None, repr=False)

    @property
    def is_complete(self) -> bool:
        """Whether the run's figures cover its whole load (see ``inferload_plugins.shared.completeness``)."""
        return self.incomplete_reason is None

    def values(self, tag: str) -> list[float]:
        """Per-request values of ``tag`` (profiling phase, successful requests); empty without a JSONL."""
        if self._values is None:
            self._values = {}
            if self.records_file is not None and self.records_file.is_file():
                with self.records_file.open(encoding="utf-8") as lines:
                    for line in lines:
                        if not line.strip():
                            continue
                        record = json.loads(line)
                        if (record.get("metadata") or {}).get("benchmark_phase", "profiling") != "profiling":
                            continue
                        if record.get("error"):
                            continue
                        for name, metric in (record.get("metrics") or {}).items():
                            value = metric.get("value") if isinstance(metric, dict) else None
                            if isinstance(value, (int, float)) and not isinstance(value, bool):
                                self._values.setdefault(name, []).append(float(value))
        return self._values.get(tag, [])


def load_run(path: Path) -> Run:
    """The run whose summary is ``path`` (a file) or inside ``path`` (a directory). A UsageError names
    the path when there is none or it is not a summary."""
    file = path
    if path.is_dir():
        found = (path / name for name in SUMMARY_FILES if (path / name).is_file())
        file = next(found, path / SUMMARY_FILES[0])
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: no readable {' or '.join(SUMMARY_FILES)} ({type(exc).__name__}); "
                         "give a run or sweep directory") from None
    if not isinstance(data, dict):
        raise UsageError(f"{file}: not a profile export (a JSON object of metric blocks)")
    blocks = {tag: block for tag, block in data.items()
              if isinstance(block, dict) and "unit" in block and "avg" in block}
    config = data.get("input_config") or {}
    endpoint = config.get("endpoint_type")
    if endpoint is None and isinstance(config.get("endpoint"), dict):  # AIPerf: input_config.endpoint.type
        endpoint = config["endpoint"].get("type")
    tool = "aiperf" if file.name == "profile_export_aiperf.json" else "inferload"
    return Run(file, blocks, endpoint, tool, records_file=file.parent / "profile_export.jsonl",
               incomplete_reason=incomplete_reason(data))


def load_units(path: Path) -> dict[str, list[Run]]:
    """``{variation label or "": [runs]}`` of ``path``; see the module docstring."""
    if not path.exists():
        raise UsageError(f"{path} does not exist; give a run or sweep directory (or a profile export file)")
    doc = read_sweep_summary(path)
    if doc is not None:
        units: dict[str, list[Run]] = {}
        single = doc.get("kind") not in ("sweep", "search")
        for row in doc.get("variations", []):
            key = "" if single else row["variation_label"]
            units[key] = [load_run(path / run_dir) for run_dir in row["run_dirs"]]
        if not units:
            raise UsageError(f"{path / 'sweep_summary.json'} lists no variations")
        return units
    return {"": [load_run(path)]}


def sweep_gap(path: Path) -> str | None:
    """``"2 of 4 variations ran (the sweep was interrupted)"`` when ``path`` is a sweep that ran fewer
    variations than it planned; None for a whole sweep, a run or trials."""
    doc = read_sweep_summary(path) if path.is_dir() else None
    return None if doc is None else missing_variations(doc)
