"""inputs.json: the request body of every prompt the dataset built (sent or not: a run of 6 requests over
100 prompts lists 100), in AIPerf's ``{"data": [{session_id, payloads}]}`` layout, so a run can be inspected
or replayed. A record's ``metadata.conversation_id`` is its entry's ``session_id`` (docs/profile.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from inferload import hookimpl
from inferload.types import ExporterSpec

FILENAME = "inputs.json"


def _entries(inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Accept AIPerf-style entries as they are and wrap bare payloads as one-turn sessions."""
    entries = []
    for index, item in enumerate(inputs):
        if isinstance(item, dict) and isinstance(item.get("payloads"), list):
            entries.append(item)
        else:
            entries.append({"session_id": str(index), "payloads": [item]})
    return entries


def export_inputs(context: Any) -> list[Path]:
    """One session per line inside ``{"data": [...]}``: still one JSON document, but written with the C
    encoder (``indent`` would force the pure-Python one, ~10x slower on a 100k-request run)."""
    with context.open(FILENAME) as handle:
        handle.write('{"data": [\n')
        for index, entry in enumerate(_entries(context.inputs)):
            if index:
                handle.write(",\n")
            handle.write(json.dumps(entry, ensure_ascii=False))
        handle.write("\n]}\n")
    return [context.artifact_dir / FILENAME]


@hookimpl
def register_exporters() -> list[ExporterSpec]:
    return [ExporterSpec(name="inputs",
                         description="The request body of every prompt built (sent or not), as JSON",
                         filenames=(FILENAME,), export=export_inputs)]
