"""profile_export.jsonl: one JSON line per request sent — warmup and failed requests included — in arrival
order; the line's layout is :mod:`inferload.record_lines` (docs/profile.md, "Artifacts").

During a run the engine encodes each record's line once, when its batch arrives, and keeps the lines
beside the records: this exporter gives that file its name (a hard link, where the OS allows: O(1)) or
copies it (O(N) in bytes); no metric is computed again. Records without stored lines (an export context
built from a list) get theirs built here, line for line the same. Written at ``--export-level records``
(the default), not at ``summary``: the engine then encodes and stores no line either.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from inferload import hookimpl
from inferload.artifact_files import artifact_path
from inferload.record_lines import encode_lines
from inferload.types import ExporterSpec

FILENAME = "profile_export.jsonl"
_BATCH = 4096
"""Records encoded at a time when the lines are built here."""


def export_jsonl(context: Any) -> list[Path]:
    records = context.records
    if getattr(records, "has_lines", False) and _link_stored_lines(context.artifact_dir, records):
        return [context.artifact_dir / FILENAME]
    with context.open(FILENAME, binary=True) as handle:
        if getattr(records, "has_lines", False):
            records.copy_lines(handle)
        else:
            per_record = context.accumulator.record_metrics
            batch: list[Any] = []
            for record in records:
                batch.append(record)
                if len(batch) >= _BATCH:
                    handle.write(encode_lines(batch, map(per_record, batch), context.scrub))
                    batch = []
            handle.write(encode_lines(batch, map(per_record, batch), context.scrub))
    return [context.artifact_dir / FILENAME]


def _link_stored_lines(artifact_dir: Path, records: Any) -> bool:
    """Put the run's stored lines in place as the file itself (a hard link under a temporary name, then
    an atomic replace), where the OS allows it: no byte copied however long the run."""
    target = artifact_path(artifact_dir, FILENAME)
    temp = target.with_name(f".{FILENAME}.{os.getpid()}.link")
    with contextlib.suppress(FileNotFoundError):
        temp.unlink()
    if not records.link_lines(temp):
        return False
    os.chmod(temp, 0o644)
    os.replace(temp, target)
    return True


@hookimpl
def register_exporters() -> list[ExporterSpec]:
    return [ExporterSpec(name="jsonl", description="One JSON line per request: metadata, metrics, error",
                         filenames=(FILENAME,), export=export_jsonl, level="records", record_lines=True)]
