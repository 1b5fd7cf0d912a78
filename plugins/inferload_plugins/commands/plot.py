"""`inferload plot DIR... [-o OUT]`: PNG charts (matplotlib, headless) and one self-contained report.html
from run and sweep directories; and the ``report`` exporter that writes both at the end of
``inferload profile --report``. Charts and page: docs/report.md."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from inferload import hookimpl
from inferload.types import CommandSpec, ExporterSpec, OptionsSpec
from inferload_plugins.plotting.options import ReportOptions

if TYPE_CHECKING:
    from inferload.export import ExportContext
    from inferload.registry import PluginRegistry



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
                         filenames=("report.html",), export=export_report)]


@hookimpl
def register_options() -> list[OptionsSpec]:
    return [OptionsSpec(name="report", description="The run's report (docs/report.md)", model=ReportOptions)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dirs", nargs="+", metavar="DIR", help="run or sweep directories")
    parser.add_argument("-o", "--output", default=None, metavar="OUT",
                        help="directory for the PNGs and report.html (default: DIR/plots of the first DIR)")


def run(args: argparse.Namespace, registry: PluginRegistry) -> int:
    from inferload_plugins.plotting.charts import load
    from inferload_plugins.plotting.report import PLOTS, runs_without_requests, write_report

    # a UsageError names a directory with no results; each run is named as the user typed its directory
    items = [load(Path(d).expanduser(), name=d) for d in args.dirs]
    out = Path(args.output).expanduser() if args.output else Path(args.dirs[0]).expanduser() / PLOTS
    for line in runs_without_requests(items):
        sys.stderr.write(f"inferload: warning: {line}\n")
    for path in write_report(items, out):
        sys.stdout.write(f"{path}\n")
    return 0


def export_report(context: ExportContext) -> list[Path]:
    """With ``--report``: report.html in the run directory, its charts in ``plots/``. Reads the run's
    record columns (what ``inferload plot`` reads from profile_export.jsonl, no line parsed), else the
    profile_export.jsonl the jsonl exporter wrote before it (exporters run in name order)."""
    if not context.config.options(ReportOptions).report:
        return []
    from inferload.record_columns import RecordColumns
    from inferload_plugins.plotting.charts import RunData, RunSeries, load_run
    from inferload_plugins.plotting.report import PLOTS, write_report

    root = Path(context.artifact_dir)
    columns = getattr(context.records, "columns", None)
    if isinstance(columns, RecordColumns):
        data = RunData(root.name, root, context.summary, RunSeries.from_columns(columns))
    else:
        try:
            data = load_run(root, root.name)
        except Exception:  # noqa: BLE001 - no profile_export.json on disk (its exporter is disabled)
            data = RunData(root.name, root, context.summary)
    data.summary = context.summary
    return write_report([data], root / PLOTS, page_dir=root)
