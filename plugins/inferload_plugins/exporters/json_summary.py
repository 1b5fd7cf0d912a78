"""profile_export.json: the run's summary in AIPerf's layout (see :func:`inferload.export.build_summary`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from inferload import hookimpl
from inferload.export import json_safe
from inferload.types import ExporterSpec

FILENAME = "profile_export.json"


def export_json(context: Any) -> list[Path]:
    """Write the summary the engine built; it is also what ``/api/results`` serves."""
    return [context.write_text(FILENAME, json.dumps(json_safe(context.summary), indent=2, allow_nan=False)
                               + "\n")]


@hookimpl
def register_exporters() -> list[ExporterSpec]:
    return [ExporterSpec(name="json", description="Summary statistics and run info as JSON (AIPerf layout)",
                         filenames=(FILENAME,), export=export_json)]
