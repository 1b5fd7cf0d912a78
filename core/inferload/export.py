"""End-of-run exports: the context every exporter receives, the summary document, and the runner.

The engine, once the run is over, builds the summary with :func:`build_summary` (it is the content of
``profile_export.json`` and of ``state.results``), wraps everything in an :class:`ExportContext` and calls
:func:`run_exporters`. Each exporter plugin runs in its own try/except: one that fails is logged and
named, the others still write. Afterwards every written file is scanned for the run's secret values, and a
file that contains one is scrubbed — a last line of defence behind the redaction each exporter does.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inferload import __version__
from inferload.artifact_files import open_artifact, write_artifact
from inferload.engine.run_log import timing_log
from inferload.json_codec import json_safe
from inferload.metrics_engine import MetricsAccumulator, is_aggregate
from inferload.records import RequestRecord
from inferload.redact import redact_payload, redact_text, replace_secrets

if TYPE_CHECKING:
    # runstate pulls in pydantic; exporters import this module at plugin registration, so keep it cheap.
    from inferload.config import ProfileConfig
    from inferload.registry import PluginRegistry
    from inferload.runstate import RunState
    from inferload.steady_window import SteadyWindow
    from inferload.types import EndpointSpec

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1.4"
"""The AIPerf profile_export schema version whose layout profile_export.json follows."""


@dataclass
class ExportContext:
    """Everything an exporter may use; built once by the engine after the last record arrived.

    Exporters read it and never modify it. Construct it with keywords::

        ExportContext(state=state, config=config, records=records, metrics=final_metrics,
                      summary=summary, inputs=payloads, artifact_dir=state.artifact_dir,
                      accumulator=accumulator, console=rich_console,
                      client_warnings=summary["client_warnings"])
    """

    state: RunState
    """The run's state (identity, lifecycle, phases); read-only here."""
    config: Any
    """The validated ProfileConfig; exporters use only ``redacted_dump()`` and ``secret_values()``."""
    records: Collection[RequestRecord]
    """Every record of the run, warmup and failed ones included, in arrival order: during a run a
    :class:`~inferload.record_store.RecordStore` read back from disk a batch at a time, so iterate it
    (as often as needed) and take ``len()``, but never copy it into a list."""
    metrics: dict[str, dict[str, Any]]
    """``accumulator.final(...)``: tag -> stats block (unit, avg, p1…p99, min, max, std, count, sum,
    header; aggregates carry only unit, avg, count, header)."""
    summary: dict[str, Any]
    """:func:`build_summary`'s result: the content of profile_export.json."""
    inputs: list[dict[str, Any]]
    """The request bodies sent, in schedule order: payload dicts, or AIPerf-style
    ``{"session_id": ..., "payloads": [...]}`` entries; secret-named fields at any depth are
    ``<redacted>`` (done here, once the run is over, so no exporter ever sees them)."""
    artifact_dir: Path
    """Where files go; exporters return paths inside it."""
    accumulator: MetricsAccumulator
    """Computes one request's metric values (``record_metrics``) with the run's metric plugins."""
    console: Any = None
    """Where the results table goes: a rich Console or a text file object; None means standard output."""
    client_warnings: list[str] = field(default_factory=list)
    """Client-side problems to show with the results (overload, rate shortfall …)."""
    secrets: Sequence[str] = ()
    """Secret values of the run (API key, auth header values); defaults to ``config.secret_values()``."""

    def __post_init__(self) -> None:
        self.artifact_dir = Path(self.artifact_dir)
        self.inputs = [redact_payload(entry) for entry in self.inputs]
        if not self.secrets:
            self.secrets = secret_values(self.config)

    def scrub(self, text: str) -> str:
        """``text`` with every secret value of the run replaced by ``<redacted>``."""
        return redact_text(text, self.secrets)

    def open(self, name: str, *, binary: bool = False, newline: str | None = None) -> Any:
        """A context manager writing ``artifact_dir/name`` atomically (temporary file, then
        ``os.replace``; a link at ``name`` is replaced, never followed): ``with context.open(n) as f``.
        Raises ValueError for a name leading out of the artifact directory."""
        return open_artifact(self.artifact_dir, name, binary=binary, newline=newline)

    def write_text(self, name: str, text: str) -> Path:
        """Write ``text`` (UTF-8) to ``artifact_dir/name`` atomically; returns the path."""
        return write_artifact(self.artifact_dir, name, text)


def secret_values(config: Any) -> list[str]:
    """The config's own list of secret values, or none when it has no ``secret_values()``."""
    getter = getattr(config, "secret_values", None)
    return [s for s in getter() if s] if callable(getter) else []


def iso_time(wall_ns: int | None) -> str | None:
    """Wall-clock nanoseconds -> local ISO-8601 without offset, as AIPerf writes start_time/end_time."""
    if wall_ns is None:
        return None
    return datetime.fromtimestamp(wall_ns / 1e9, tz=timezone.utc).astimezone().replace(tzinfo=None) \
        .isoformat()


def metric_label(tag: str, block: Mapping[str, Any]) -> str:
    """``Header (unit)`` as AIPerf labels a metric's row in its console table and CSV."""
    header = block.get("header") or tag
    unit = block.get("unit")
    return f"{header} ({unit})" if unit else header


COUNT_UNITS = frozenset({"requests", "tokens"})
"""Units of metrics that count things: a whole-number value of one is printed as an integer."""


def is_whole_count(value: float, unit: str | None, stat: str = "avg") -> bool:
    """True for a count (unit in :data:`COUNT_UNITS`; any stat but ``std``, which is a spread) whose
    value is a whole number: tables print it as an integer."""
    return unit in COUNT_UNITS and stat != "std" and float(value).is_integer()


def format_stat(
    value: Any, unit: str | None, stat: str = "avg", *, decimals: int = 2, grouping: bool = True
) -> str:
    """One statistic as tables print it: a count (unit in :data:`COUNT_UNITS`, any stat but ``std``, which
    is a spread) that is a whole number as an integer (``100``, never ``100.00``); anything else with
    ``decimals`` places. ``grouping`` adds thousands separators (``12,345``). None -> ``""``."""
    if value is None:
        return ""
    number = float(value)
    sep = "," if grouping else ""
    if is_whole_count(number, unit, stat):
        return f"{int(number):{sep}d}"
    return f"{number:{sep}.{decimals}f}"


def compact_stat(value: float, unit: str | None, stat: str = "avg") -> str:
    """A statistic in about four significant figures in plain notation (``0.1235``, ``1,235``, ``12,346``
    tokens/s, never ``1.235e+04``; :func:`inferload.number_text.plain_number`) for narrow tables, except
    a whole count, which is printed in full as an integer (``12,345`` tokens)."""
    from inferload.number_text import plain_number

    if is_whole_count(value, unit, stat):
        return format_stat(value, unit, stat)
    return plain_number(value)


def summary_block(block: Mapping[str, Any]) -> dict[str, Any]:
    """A stats block as profile_export.json holds it: no ``header``; aggregates only ``unit`` and ``avg``."""
    if is_aggregate(block):
        return {"unit": block["unit"], "avg": block["avg"]}
    return {key: value for key, value in block.items() if key != "header"}


def build_summary(
    state: RunState,
    accumulator: MetricsAccumulator,
    metrics: Mapping[str, Mapping[str, Any]],
    *,
    config: Any = None,
    client_warnings: Sequence[str] = (),
    start_wall_ns: int | None = None,
    end_wall_ns: int | None = None,
) -> dict[str, Any]:
    """The profile_export.json document, in AIPerf's layout.

    Top level: ``schema_version``, ``inferload_version``, ``benchmark_id``, then one stats block per metric
    tag, then ``input_config`` (``config.redacted_dump()``: no secrets), ``run_info``, ``was_cancelled``,
    ``is_complete``, ``error_summary``, ``start_time``/``end_time`` (ISO), ``client_health`` with the
    schedule-lag stats and every client warning (those passed in plus the accumulator's own overload
    checks), and ``measurement_warnings`` (figures that fell back, e.g. usage contradicting the stream);
    ``clock_offsets`` (:func:`clock_offsets`) when workers ran on other nodes. The summary-section
    plugins add their blocks after it (:func:`add_summary_sections`).
    ``config`` defaults to ``state.config``; the times default to the state's start and end.
    """
    from inferload.runstate import Lifecycle

    config = state.config if config is None else config
    secrets = secret_values(config)
    lag = accumulator.schedule_lag_stats()
    warnings = list(dict.fromkeys([*client_warnings, *accumulator.client_warnings(lag)]))
    was_cancelled = state.lifecycle == Lifecycle.CANCELLED or any(
        phase.was_cancelled for phase in state.phases.values()
    )
    summary: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "inferload_version": state.version or __version__,
        "benchmark_id": state.run_info.benchmark_id,
    }
    for tag, block in metrics.items():
        summary[tag] = summary_block(block)
    dump = getattr(config, "redacted_dump", None)
    summary["input_config"] = dump() if callable(dump) else {}
    summary["run_info"] = state.run_info.model_dump(mode="json")
    summary["was_cancelled"] = was_cancelled
    summary["is_complete"] = not was_cancelled and state.lifecycle != Lifecycle.FAILED
    summary["error_summary"] = accumulator.error_summary(lambda message: redact_text(message, secrets))
    summary["start_time"] = iso_time(start_wall_ns if start_wall_ns is not None else state.started_ns)
    summary["end_time"] = iso_time(end_wall_ns if end_wall_ns is not None else state.ended_ns)
    summary["client_health"] = {"schedule_lag": lag, "warnings": [redact_text(w, secrets) for w in warnings]}
    summary["client_health"]["read_delay"] = accumulator.read_delay_stats()
    summary["measurement_warnings"] = accumulator.measurement_warnings()
    clocks = clock_offsets(state)
    if clocks:
        summary["clock_offsets"] = clocks
    return summary


@dataclass(frozen=True)
class SectionContext:
    """What a summary section (:class:`inferload.types.SummarySectionSpec`) computes from; read-only."""

    state: RunState
    """The run's state, its phases ended."""
    config: ProfileConfig
    """The validated ProfileConfig of the run."""
    registry: PluginRegistry
    """The run's plugins (a section may recompute metrics with ``MetricsAccumulator(registry, config)``)."""
    endpoint: EndpointSpec
    """The run's endpoint type."""
    records: Sequence[RequestRecord]
    """Every record of the run, warmup and failed ones included, in arrival order."""
    inputs: Sequence[Mapping[str, Any]]
    """The bodies sent, in schedule order, as the dataset made them (``{"payloads": [...]}`` entries)."""
    metrics: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """The whole run's final metric blocks (tag -> stats block, as ``ExportContext.metrics``)."""
    client_warnings: list[str] = field(default_factory=list)
    """Where a section appends lines for ``client_health.warnings`` (e.g. a metrics source that failed);
    the run's secrets are redacted from them before they are listed."""
    accumulator: MetricsAccumulator | None = None
    """The whole run's accumulator (its exact value columns): a section over nearly every request takes
    its statistics from them less the requests it leaves out (``MetricsAccumulator.stats_without``)."""

    @cached_property
    def steady_window(self) -> SteadyWindow | None:
        """The run's one steady-state window (:func:`inferload.steady_window.steady_window`), computed
        once from the records for every section that asks; None when the load never reached its target."""
        from inferload.steady_window import steady_window

        return steady_window(self.records, self.config)


def add_summary_sections(registry: PluginRegistry, context: SectionContext, summary: dict[str, Any]) -> None:
    """Store each summary section's block as ``summary[name]`` (name order); a block's ``"warning"`` is
    logged and appended to ``summary["measurement_warnings"]``; the lines a section put in
    ``context.client_warnings`` go, redacted, to ``summary["client_health"]["warnings"]``. A section that
    raises is reported (``registry.hooks.report``) and left out; the other sections and the run go on.
    Each section's wall-clock and CPU seconds go to the run's log (one line)."""
    import time

    secrets = secret_values(context.config)
    took: list[str] = []
    for name, spec in sorted(registry.all("summary_section").items()):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            block = spec.compute(context)
        except Exception as exc:  # noqa: BLE001 - one section's failure must not cost the summary
            registry.hooks.report(registry.provider("summary_section", name), f"summary section {name!r}",
                                  exc, consequence="its block is not in profile_export.json")
            listed = summary["client_health"]["warnings"]
            listed += [line for line in registry.hooks.failure_lines() if line not in listed]
            continue
        finally:
            summary["client_health"]["warnings"] += [redact_text(w, secrets) for w in context.client_warnings]
            context.client_warnings.clear()
            took.append(f"{name} {time.perf_counter() - wall:.3f} s (CPU {time.process_time() - cpu:.3f} s)")
        if block is None:
            continue
        summary[name] = json_safe(block)
        warning = block.get("warning") if isinstance(block, Mapping) else None
        if isinstance(warning, str) and warning:
            log.warning("%s", warning)
            summary["measurement_warnings"].append(warning)
    timing_log.info("summary section times: %s", ", ".join(took))


def clock_offsets(state: RunState) -> dict[str, dict[str, Any]]:
    """Per worker placed on a node by its executor: ``node``, ``offset_ns`` (its wall clock minus the
    driver's, as applied to its records' timeline), ``uncertainty_ns`` (± bound), ``measured_offset_ns``
    (the latest NTP-style estimate; on the driver's own host the applied offset is the exact 0) and
    ``samples`` (round trips taken). Empty for the local executor."""
    return {
        worker_id: {"node": w.node, "offset_ns": w.clock_offset_ns, "uncertainty_ns": w.clock_uncertainty_ns,
                    "measured_offset_ns": w.clock_measured_offset_ns, "samples": w.clock_samples}
        for worker_id, w in sorted(state.workers.items())
        if w.clock_offset_ns is not None
    }


def export_level(config: Any) -> str:
    """The run's ``--export-level`` (:data:`~inferload.types.EXPORT_LEVELS`); ``records`` when the config
    has none (a context built by hand)."""
    return getattr(config, "export_level", None) or "records"


def record_lines_wanted(registry: PluginRegistry, config: Any) -> bool:
    """Whether an exporter that will run at the config's export level reads the ``profile_export.jsonl``
    lines the engine stores as batches arrive (``ExporterSpec.record_lines``)."""
    level = export_level(config)
    return any(spec.record_lines and spec.runs_at(level) for spec in registry.all("exporter").values())


def run_exporters(registry: PluginRegistry, context: ExportContext) -> tuple[list[str], list[str]]:
    """Run every exporter plugin; return (paths written relative to the artifact dir, failed exporters).

    Exporters run in name order, each isolated: an exception is logged with the exporter's name and the
    rest still run; one whose ``level`` is above the run's ``--export-level`` is not run. A returned path
    outside the artifact directory is ignored with a warning, so the API never lists or serves a file this
    run did not put there.
    """
    written: list[str] = []
    failed: list[str] = []
    root = context.artifact_dir.resolve()
    root.mkdir(parents=True, exist_ok=True)
    level = export_level(context.config)
    for name, spec in sorted(registry.all("exporter").items()):
        if not spec.runs_at(level):
            log.debug("exporter %r not run: its files are written at --export-level %s", name, spec.level)
            continue
        try:
            paths = spec.export(context) or []
            if isinstance(paths, (str, Path)):
                paths = [paths]
        except Exception as exc:  # noqa: BLE001 - one exporter's failure must not cost the other artifacts
            registry.hooks.report(registry.provider("exporter", name), f"exporter {name!r}", exc,
                                  consequence="its files are not written",
                                  error=context.scrub(f"{type(exc).__name__}: {exc}"))
            failed.append(name)
            continue
        for path in paths:
            relative = _relative_to(root, Path(path))
            if relative is None:
                log.warning("exporter %r returned %s, which is outside %s; not listed", name, path, root)
            elif relative not in written:
                written.append(relative)
    _scrub_files(root, written, context.secrets)
    return written, failed


def _relative_to(root: Path, path: Path) -> str | None:
    resolved = (path if path.is_absolute() else root / path).resolve()
    try:
        return resolved.relative_to(root).as_posix()
    except ValueError:
        return None


def _scrub_files(root: Path, relative_paths: Sequence[str], secrets: Sequence[str]) -> None:
    """Replace any secret value that reached a written file (e.g. echoed in a server's error text).

    Streamed: a file is searched in blocks (overlapping by a secret's length, so none is missed across a
    boundary) and rewritten line by line only when it holds a secret, so a run's multi-gigabyte
    ``profile_export.jsonl`` is never read into memory. A secret is a header or key value, which holds no
    line break: replacing within lines finds every occurrence."""
    needles = sorted({s.encode() for s in secrets if s and len(s) >= 3}, key=len, reverse=True)
    if not needles:
        return
    for relative in relative_paths:
        path = root / relative
        try:
            if not _holds_any(path, needles):
                continue
            with path.open("rb") as source, open_artifact(root, relative, binary=True) as target:
                for line in source:
                    if any(needle in line for needle in needles):
                        text = replace_secrets(line.decode("utf-8", errors="surrogateescape"), secrets)
                        line = text.encode("utf-8", errors="surrogateescape")
                    target.write(line)
        except OSError:
            continue
        log.warning("a secret value reached %s and was redacted there", relative)


_SCAN_BLOCK = 1 << 20


def _holds_any(path: Path, needles: Sequence[bytes]) -> bool:
    """Whether the file at ``path`` contains any of ``needles``, read a block at a time."""
    overlap = max(len(needle) for needle in needles) - 1
    tail = b""
    with path.open("rb") as handle:
        while block := handle.read(_SCAN_BLOCK):
            window = tail + block
            if any(needle in window for needle in needles):
                return True
            tail = window[-overlap:] if overlap else b""
    return False
