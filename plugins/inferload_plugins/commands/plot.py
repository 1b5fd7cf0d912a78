"""`inferload plot DIR... [-o OUT]`: PNG charts (matplotlib, headless) and one self-contained report.html
from run and sweep directories; and the ``report`` exporter that writes both at the end of
``inferload profile --report``. Charts and page: docs/report.md."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from inferload import hookimpl
from inferload.types import CommandSpec, ExporterSpec, OptionsSpec

if TYPE_CHECKING:
    from inferload.export import ExportContext
    from inferload.registry import PluginRegistry

REPORT = "report.html"
PLOTS = "plots"


@hookimpl
def register_commands() -> list[CommandSpec]:
    return [
        CommandSpec(
            name="plot",
            description="Charts (PNG) and a self-contained report.html from run or sweep directories",
            add_arguments=add_arguments,
            run=run,
        )
    ]


@hookimpl
def register_exporters() -> list[ExporterSpec]:
    return [ExporterSpec(name="report", description="With --report: report.html and plots/*.png",
                         filenames=(REPORT,), export=export_report)]


class ReportOptions(BaseModel):
    """``inferload profile --report``."""

    report: bool = Field(False, description="also write report.html (self-contained, opens offline) and "
                         "plots/*.png")


@hookimpl
def register_options() -> list[OptionsSpec]:
    return [OptionsSpec(name="report", description="The run's report (docs/report.md)", model=ReportOptions)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dirs", nargs="+", metavar="DIR", help="run or sweep directories")
    parser.add_argument("-o", "--output", default=None, metavar="OUT",
                        help="directory for the PNGs and report.html (default: DIR/plots of the first DIR)")


def write(items: list[Any], out: Path) -> list[Path]:
    """The charts into ``out``, then ``out/report.html``; returns every path written."""
    from inferload.artifact_files import write_artifact
    from inferload_plugins.plotting.charts import draw_all
    from inferload_plugins.plotting.report import build_report

    images = draw_all(items, out)
    return [*images, write_artifact(out, REPORT, build_report(items, images))]


def run(args: argparse.Namespace, registry: PluginRegistry) -> int:
    from inferload_plugins.plotting.charts import load

    # a UsageError names a directory with no results; each run is named as the user typed its directory
    items = [load(Path(d).expanduser(), name=d) for d in args.dirs]
    out = Path(args.output).expanduser() if args.output else Path(args.dirs[0]).expanduser() / PLOTS
    for path in write(items, out):
        sys.stdout.write(f"{path}\n")
    return 0


def export_report(context: ExportContext) -> list[Path]:
    """With ``--report``: report.html in the run directory, its charts in ``plots/``. Reads the
    profile_export.jsonl the jsonl exporter wrote before it (exporters run in name order)."""
    if not context.config.options(ReportOptions).report:
        return []
    from inferload_plugins.plotting.charts import RunData, load_run

    root = Path(context.artifact_dir)
    try:
        data = load_run(root, root.name)
    except Exception:  # noqa: BLE001 - no profile_export.json on disk (its exporter is disabled)
        data = RunData(root.name, root, context.summary)
    data.summary = context.summary
    written = write([data], root / PLOTS)
    report = written.pop()
    final = root / REPORT
    report.replace(final)
    return [*written, final]
