"""Copies of a real run's artifacts with every time and rate scaled by a fixed factor: a rerun whose
figures are known by construction, whatever the machine's load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TIME_UNITS = ("ms", "sec")
RATE_UNITS = ("tokens/sec", "tokens/sec/user", "requests/sec")


def _scaled(value: Any, unit: str | None, factor: float) -> Any:
    """``value`` (a number or a list of them) in ``unit`` as a run ``factor`` times slower records it."""
    scale = factor if unit in TIME_UNITS else 1 / factor if unit in RATE_UNITS else 1.0
    if isinstance(value, list):
        return [v * scale for v in value]
    return value * scale if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def slower_copy(run: Path, dest: Path, factor: float) -> Path:
    """A copy of ``run``'s ``profile_export.json`` and ``profile_export.jsonl`` in ``dest`` with its times
    multiplied and its rates divided by ``factor`` (counts, tokens and metadata unchanged)."""
    dest.mkdir(parents=True)
    summary = json.loads((run / "profile_export.json").read_text())
    for block in summary.values():
        if isinstance(block, dict) and "unit" in block:
            block.update({stat: _scaled(v, block["unit"], factor) for stat, v in block.items()
                          if stat not in ("unit", "count")})
    (dest / "profile_export.json").write_text(json.dumps(summary))
    lines = []
    for line in (run / "profile_export.jsonl").read_text().splitlines():
        record = json.loads(line)
        for metric in (record.get("metrics") or {}).values():
            metric["value"] = _scaled(metric["value"], metric.get("unit"), factor)
        lines.append(json.dumps(record))
    (dest / "profile_export.jsonl").write_text("\n".join(lines) + "\n")
    return dest
