"""The results table on the terminal (and as profile_export_console.txt): a header naming the model, URL
(redacted), load and artifact directory; avg, min, max, p99, p90, p50, std per metric like AIPerf's
console, counts as integers; then the errors by kind and any client warnings."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from inferload import hookimpl
from inferload.export import format_stat, metric_label
from inferload.metrics_engine import is_aggregate
from inferload.number_text import plain_number
from inferload.records import ERROR_CANCELLED
from inferload.types import ExporterSpec

FILENAME = "profile_export_console.txt"
COLUMNS = ("avg", "min", "max", "p99", "p90", "p50", "std")
NARROW_COLUMNS = ("avg", "p50", "p99")
"""What a terminal narrower than :data:`FULL_WIDTH` gets: cropped or folded numbers would mislead."""
FULL_WIDTH = 100
TITLE = "inferload | LLM Metrics"
FILE_WIDTH = 120
MESSAGE_WIDTH = 100


def _cell(block: dict[str, Any], column: str) -> str:
    if is_aggregate(block) and column != "avg":
        return "N/A"
    value = block.get(column)
    return "N/A" if value is None else format_stat(value, block.get("unit"), column)


def load_text(config: dict[str, Any]) -> str:
    """The load the run was configured with: ``request rate 10 req/s (poisson), concurrency <= 4``,
    ``fixed schedule (trace timestamps x2), uncapped``, ``concurrency 8``, ``concurrency 3 (sessions in
    flight)`` (``--session-concurrency`` without ``--concurrency``: the same cap as
    ``ProfileConfig.effective_concurrency``)."""
    rate, concurrency = config.get("request_rate"), config.get("concurrency")
    if config.get("fixed_schedule") and rate is None:
        speedup = config.get("fixed_schedule_speedup")
        pace = f" x{speedup:g}" if speedup not in (None, 1) else ""
        cap = f"concurrency <= {concurrency}" if concurrency is not None else "uncapped"
        return f"fixed schedule (trace timestamps{pace}), {cap}"
    sessions = config.get("session_concurrency")
    if rate is None:
        if concurrency is None and sessions is not None:
            return f"concurrency {sessions} (sessions in flight)"
        return f"concurrency {concurrency if concurrency is not None else 1}"
    pattern = config.get("arrival_pattern")
    text = f"request rate {plain_number(rate, 6)} req/s" + (f" ({pattern})" if pattern else "")
    return text + (f", concurrency <= {concurrency}" if concurrency is not None else "")


def segments_text(segments: list[dict[str, Any]]) -> str:
    """The targets of a run whose load changed: ``4 -> 16 req/s (2 load segments)``; a long plan shows its
    first two and last targets."""
    def target(segment: dict[str, Any]) -> str:
        rate = segment.get("request_rate")
        text = plain_number(rate, 6) if rate is not None else f"concurrency {segment.get('concurrency')}"
        return text + (" paused" if segment.get("paused") else "")

    targets = [target(segment) for segment in segments]
    if len(targets) > 4:
        targets = [*targets[:2], "…", targets[-1]]
    unit = " req/s" if segments[0].get("request_rate") is not None else ""
    return f"{' -> '.join(targets)}{unit} ({len(segments)} load segments)"


def header(context: Any) -> Any:
    """What was measured, above the table: model, URL (userinfo and credentials redacted), load (its
    targets when it changed during the run) and the artifact directory."""
    from rich.table import Table

    config = context.summary.get("input_config") or {}
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="cyan", justify="right")
    grid.add_column(overflow="fold")
    segments = context.summary.get("load_segments") or []
    load = segments_text(segments) if len(segments) > 1 else load_text(config)
    for label, value in (("Model", config.get("model")), ("URL", config.get("url")),
                         ("Load", load), ("Artifacts", str(context.artifact_dir))):
        grid.add_row(label, context.scrub(str(value if value is not None else "-")))
    return grid


def renderables(context: Any, width: int = FILE_WIDTH) -> list[Any]:
    """The header, the table (its title says when and why the run is incomplete), the errors and the
    warnings as rich renderables for a ``width``-column display."""
    from rich.panel import Panel
    from rich.table import Table

    from inferload_plugins.shared.completeness import INCOMPLETE_MARK, incomplete_reason

    columns = COLUMNS if width >= FULL_WIDTH else NARROW_COLUMNS
    reason = incomplete_reason(context.summary)  # an interrupted or failed run's table is never the whole
    table = Table(title=TITLE if reason is None else f"{TITLE} {INCOMPLETE_MARK[:-1]}: {reason})")
    table.add_column("Metric", justify="right", style="cyan", min_width=20)
    for column in columns:
        table.add_column(column, justify="right", no_wrap=True)  # a number cut in two misleads
    metrics = context.metrics
    # Distributions first, then run-level values, each group in the metrics' display order.
    ordered = sorted(metrics, key=lambda tag: is_aggregate(metrics[tag]))
    for tag in ordered:
        block = metrics[tag]
        table.add_row(metric_label(tag, block), *(_cell(block, column) for column in columns))
    errors = context.summary.get("error_summary") or []
    table.caption = cancelled_footnote(errors, metrics)
    out: list[Any] = [header(context), table]

    if errors:
        error_table = Table(title=_errors_title(errors))
        for column, justify in (("count", "right"), ("type", "left"), ("code", "right"), ("message", "left")):
            error_table.add_column(column, justify=justify)  # type: ignore[arg-type]
        for entry in errors:
            details = entry["error_details"]
            message = context.scrub(str(details.get("message") or ""))
            if len(message) > MESSAGE_WIDTH:
                message = message[: MESSAGE_WIDTH - 1] + "…"
            code = details.get("code")
            error_table.add_row(str(entry["count"]), str(details.get("type")),
                                "-" if code is None else str(code), message)
        out.append(error_table)
        hints = list(dict.fromkeys(entry["hint"] for entry in errors if entry.get("hint")))
        if hints:
            out.append(Panel("\n".join(f"- {context.scrub(h)}" for h in hints), title="Likely causes",
                             border_style="red", expand=False))

    warnings = list(dict.fromkeys([*context.client_warnings,
                                   *context.summary.get("client_health", {}).get("warnings", [])]))
    if warnings:
        out.append(Panel("\n".join(f"- {context.scrub(w)}" for w in warnings), title="Client warnings",
                         border_style="yellow", expand=False))
    measurement = context.summary.get("measurement_warnings") or []
    if measurement:
        out.append(Panel("\n".join(f"- {context.scrub(w)}" for w in measurement),
                         title="Measurement warnings",
                         border_style="yellow", expand=False))
    return out


def nothing_succeeded(metrics: dict[str, Any]) -> bool:
    """Whether every request of the run failed: a table of zeros and N/A would only bury the one line that
    says why (the file copy keeps the table)."""
    succeeded = (metrics.get("request_count") or {}).get("avg")
    failed = (metrics.get("error_request_count") or {}).get("avg")
    return not succeeded and bool(failed)


def export_console(context: Any) -> list[Path]:
    """Print to the run's console and keep a plain-text copy among the artifacts; when every request failed,
    only the copy (the run's error line on the console names the cause and the fix)."""
    from rich.console import Console

    target = context.console
    if target is None:
        console = Console()
    elif isinstance(target, Console):
        console = target
    else:
        console = Console(file=target, width=FILE_WIDTH, force_terminal=False, color_system=None)
    if not console.is_terminal and console.width < FILE_WIDTH:
        # A pipe or file gets rich's default 80 columns, which folds every label; such output has no
        # terminal to fit, so write it at the artifact's width. A real terminal keeps its own width.
        console = Console(file=console.file, width=FILE_WIDTH, force_terminal=False, color_system=None)
    if not nothing_succeeded(context.metrics):  # else the run's one error line has said it all
        for item in renderables(context, console.width):
            console.print(item)

    buffer = io.StringIO()
    plain = Console(file=buffer, width=FILE_WIDTH, force_terminal=False, color_system=None)
    for item in renderables(context, FILE_WIDTH):
        plain.print(item)
    return [context.write_text(FILENAME, buffer.getvalue())]


@hookimpl
def register_exporters() -> list[ExporterSpec]:
    return [ExporterSpec(name="console", description="Results table on the terminal, errors and warnings",
                         filenames=(FILENAME,), export=export_console)]


def cancelled_footnote(errors: list[dict[str, Any]], metrics: dict[str, Any]) -> str | None:
    """The table's footnote when requests were cancelled: how many of the Error Request Count were cut in
    flight when the run stopped, and how many were cancelled on purpose (Cancelled Request Count), the two
    the live line's ``cancelled`` adds up; None when none was."""
    cut = _cut_in_flight(errors)
    chosen = int((metrics.get("cancelled_request_count") or {}).get("avg") or 0)
    parts = []
    if cut:
        parts.append(f"Error Request Count includes {cut} request{'s' if cut != 1 else ''} cancelled in "
                     "flight when the run stopped")
    if chosen:
        parts.append(f"{chosen} request{'s were' if chosen != 1 else ' was'} cancelled on purpose "
                     "(Cancelled Request Count, --request-cancellation-rate)")
    return f"{cut + chosen} cancelled: " + "; ".join(parts) if parts else None


def _cut_in_flight(errors: list[dict[str, Any]]) -> int:
    """How many of the ``error_summary`` rows' requests were cancelled in flight by the run's stop."""
    return sum(entry["count"] for entry in errors if entry["error_details"].get("type") == ERROR_CANCELLED)


def _errors_title(errors: list[dict[str, Any]]) -> str:
    """The errors table's title: failed requests apart from those cancelled in flight by the run's stop
    (Ctrl+C, the grace period's end), which the user's stop ended, not the server."""
    total = sum(entry["count"] for entry in errors)
    cancelled = _cut_in_flight(errors)
    failed = total - cancelled
    parts = [f"{failed} failed request{'s' if failed != 1 else ''}"] if failed else []
    if cancelled:
        parts.append(f"{cancelled} cancelled in flight when the run stopped")
    return f"{'Errors' if failed else 'Cancelled'}: {', '.join(parts)}"
