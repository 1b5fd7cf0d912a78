"""The end of a run: ``run_stopping``, final metrics, the post-run checks, the summary (with the blocks
of the summary-section plugins, e.g. the steady-state window beside the whole run), every exporter,
``run_finished``
(docs/architecture.md, "Data flow": metrics → RunState → exporters); and the finished RunState of a run
that ended by an exception.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

from inferload.engine.post_run_checks import all_failed_message, log_timeouts, unaccounted_records
from inferload.engine.run_log import LOG_FILE, timing_log
from inferload.runstate import Lifecycle

if TYPE_CHECKING:
    from inferload.config import ProfileConfig
    from inferload.engine.run_log import RunLog
    from inferload.metrics_engine import MetricsAccumulator
    from inferload.records import RequestRecord
    from inferload.registry import PluginRegistry
    from inferload.runstate import RunState
    from inferload.types import EndpointSpec

log = logging.getLogger("inferload.profile")


def finish_run(
    *,
    state: RunState,
    config: ProfileConfig,
    registry: PluginRegistry,
    endpoint: EndpointSpec,
    accumulator: MetricsAccumulator,
    records: Collection[RequestRecord],
    inputs: list[dict[str, Any]],
    cancelled: bool,
    worker_failure: str | None,
    stopped_for: str | None = None,
    profiling_start_ns: int | None,
    run_log: RunLog,
    scrub: Callable[[str], str],
    console: Any = None,
    client_warnings: Sequence[str] = (),
) -> bool:
    """Call ``run_stopping``, then compute, check, summarise and export; leave ``state`` finished
    (COMPLETE, CANCELLED or FAILED, artifacts listed, results set) and call ``run_finished``.
    ``client_warnings`` are the run's own so far (a cache reset that found no path), listed first.
    ``stopped_for`` is the line of the run guard that ended the run early: the run's error. Returns
    whether every profiling request failed (the run failed though every request is accounted for on
    disk)."""
    from inferload.export import (
        ExportContext,
        SectionContext,
        add_summary_sections,
        build_summary,
        run_exporters,
    )

    state.lifecycle = Lifecycle.COMPLETING
    # every record is in: background work whose results belong in the summary and artifacts stops here
    # (the server-metrics scraper takes its final scrape), before anything below reads it
    registry.hooks.run_stopping(state=state)
    client_warnings = list(client_warnings)
    lost = unaccounted_records(state, records)
    if lost:
        client_warnings.append(lost)
    if worker_failure:
        client_warnings.append(worker_failure)
        # before the summary, so is_complete says false, as for a run whose every request failed
        state.error = worker_failure
        state.lifecycle = Lifecycle.FAILED
    final_started = time.perf_counter()
    metrics = accumulator.final()
    timing_log.info("final statistics of %d records computed from disk in %.3f s", len(records),
             time.perf_counter() - final_started)
    client_warnings.extend(registry.hooks.failure_lines())  # plugins that failed so far
    all_failed = bool(accumulator.error_count) and not accumulator.request_count and not cancelled
    if stopped_for and not worker_failure:
        # a run guard stopped the run early, and its line (already logged) is the error
        client_warnings.append(stopped_for)
        state.error = state.stopped_early = stopped_for
        state.lifecycle = Lifecycle.FAILED  # before the summary, so is_complete says false
    elif all_failed:
        state.error = scrub(all_failed_message(accumulator, config, scrub))
        state.lifecycle = Lifecycle.FAILED  # before the summary, so is_complete says false
        log.error("%s", state.error)
    for warning in [*accumulator.client_warnings(), *accumulator.measurement_warnings()]:
        log.warning("%s", warning)
    log_timeouts(records)
    state.ended_ns = time.time_ns()
    if cancelled and not worker_failure:
        state.lifecycle = Lifecycle.CANCELLED
    summary = build_summary(
        state,
        accumulator,
        metrics,
        config=config,
        client_warnings=client_warnings,
        start_wall_ns=profiling_start_ns or state.started_ns,
        end_wall_ns=state.ended_ns,
    )
    sections_started = time.perf_counter()
    sections = SectionContext(state=state, config=config, registry=registry, endpoint=endpoint,
                              records=records, inputs=inputs, metrics=metrics, accumulator=accumulator)
    add_summary_sections(registry, sections, summary)
    context = ExportContext(
        state=state,
        config=config,
        records=records,
        metrics=metrics,
        summary=summary,
        inputs=inputs,
        artifact_dir=state.artifact_dir,
        accumulator=accumulator,
        console=console,
        client_warnings=summary["client_health"]["warnings"],
    )
    exporters_started = time.perf_counter()
    written, failed = run_exporters(registry, context)
    timing_log.info("summary sections took %.3f s, exporters %.3f s", exporters_started - sections_started,
             time.perf_counter() - exporters_started)
    run_log.flush()
    state.failed_exporters = failed
    state.artifact_files = [LOG_FILE, *[p for p in written if p != LOG_FILE]]
    state.results = summary
    state.artifacts_ready = True
    if worker_failure:
        state.error = worker_failure
        state.lifecycle = Lifecycle.FAILED
    elif stopped_for:
        state.lifecycle = Lifecycle.FAILED
    elif not cancelled and not all_failed:
        state.lifecycle = Lifecycle.COMPLETE
    registry.hooks.run_finished(state=state)
    if failed:
        log.warning("artifacts in %s, without what %d exporter(s) could not write (%s): see the warnings "
                    "above", state.artifact_dir, len(failed), ", ".join(failed))
    else:
        log.info("artifacts written to %s", state.artifact_dir)
    return all_failed


def record_abort(state: RunState, exc: BaseException, scrub: Callable[[str], str]) -> None:
    """A run that ends by an exception still leaves a finished RunState: open phases get their end,
    the lifecycle CANCELLED (interrupted) or FAILED (``error`` saying why, secrets scrubbed), and
    ``ended_ns``."""
    if state.lifecycle.finished:
        return
    now = time.time_ns()
    interrupted = isinstance(exc, KeyboardInterrupt)
    for phase in state.phases.values():
        if phase.start_ns is not None and phase.requests_end_ns is None:
            phase.sent_end_ns = phase.sent_end_ns or now
            phase.requests_end_ns = now
            phase.was_cancelled = phase.was_cancelled or interrupted
    state.ended_ns = state.ended_ns or now
    if interrupted:
        state.lifecycle = Lifecycle.CANCELLED
    else:
        state.error = state.error or scrub(f"{type(exc).__name__}: {exc}")
        state.lifecycle = Lifecycle.FAILED
