"""`inferload profile`'s engine in the parent process: prepare everything, drive the workers, keep RunState
current, then compute, export, serve the results for a while and clean up.

Order of events (docs/architecture.md, "Data flow"): RunState exists first; the dataset is built and every
payload serialised; the target starts, the log opens, and the server is made clean and ready
(the ``before_load`` hook: ``--reset-kv-cache``, ``--wait-for-model-timeout``); worker
processes start with those bytes; the live API binds (a port in use is a usage error before any request
is sent); ``run_started``; then each phase (``phase_changed``) with records
streaming back in batches (``record_batch``); then ``run_stopping`` (a scraper's final scrape), metrics,
exporters, ``run_finished`` and the API linger.
SIGINT stops sending, lets in-flight requests finish within the grace period and still writes every
artifact with ``was_cancelled: true``; a second SIGINT cancels what is still in flight at once.
SIGTERM and SIGHUP act as SIGINT; workers ignore all of them (a signal to the process group reaches them
too) and wait for the parent's word.
"""

from __future__ import annotations

import contextlib
import logging
import random
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from inferload import __version__
from inferload.artifact_files import artifact_dir_for
from inferload.config import ProfileConfig
from inferload.engine.aggregator import RecordAggregator, spool_dir
from inferload.engine.finish import finish_run, record_abort
from inferload.engine.live_api import bind_live_api, linger
from inferload.engine.load_driver import LoadDriver
from inferload.engine.payloads import Payloads, prepare_payloads, request_path
from inferload.engine.phase_loop import PhaseLoop
from inferload.engine.plugin_states import create_plugin_states
from inferload.engine.preflight import check_plugins
from inferload.engine.run_log import RunLog
from inferload.engine.schedule import PhasePlan, build_phases, schedule_rate
from inferload.engine.start_lines import dataset_line
from inferload.engine.stop_signals import StopSignals
from inferload.engine.workers import WorkerPool
from inferload.errors import EXIT_OK, EXIT_RUN_FAILED, UsageError
from inferload.load_control import LoadControl
from inferload.records import DEFAULT_REQUEST_TIMEOUT_S
from inferload.redact import build_cli_command, redact_text, redact_url
from inferload.runstate import Lifecycle, RunInfo, RunSlot, RunState
from inferload.types import BeforeLoadContext
from inferload.urls import request_url, version_in_base
from inferload.view import ShownView, choose_view

if TYPE_CHECKING:
    from inferload.api_host import ApiHost
    from inferload.registry import PluginRegistry

log = logging.getLogger("inferload.profile")


class ProfileRun:
    """One run of `inferload profile`; :meth:`run` returns the exit code.

    Each concern is its own unit (docs/architecture.md, "Where each concern lives"): :class:`StopSignals`,
    :func:`prepare_payloads`, :class:`WorkerPool` (through the executor plugin), :class:`PhaseLoop`,
    :func:`finish_run` (post-run checks, summary, exporters), :func:`linger`, :class:`RunLog`. This class
    only puts them in the order of the data flow.

    The engine always runs exactly one configuration; a sweep (the profile command's) runs it once per
    variation and trial, each with a :class:`~inferload.runstate.RunSlot`."""

    def __init__(
        self,
        config: ProfileConfig,
        registry: PluginRegistry,
        argv: Sequence[str] = (),
        console: Any = None,
        tokenizer: Any = None,
        start_target: Callable[[], Any] | None = None,
        slot: RunSlot | None = None,
    ) -> None:
        if config.url is None and start_target is None:
            raise UsageError("--url is required: the address of the server to benchmark")
        if not config.model:
            raise UsageError("--model is required with --url (the model name to put in each request)")
        config = config.with_plugin_defaults(registry)
        self.config = config
        self.registry = registry
        self.console = console
        self.tokenizer = tokenizer  # None: resolved from config.tokenizer when the dataset is built
        # Starts the server under test when there is no --url (the embedded simulator): called once the
        # dataset is built, so bad input fails before any server starts. Returns an object with .url
        # and .stop(); stopped when the run ends.
        self.start_target = start_target
        self.target: Any = None
        self.endpoint, self.transport, executor = check_plugins(config, registry)
        self.seed = (
            config.random_seed if config.random_seed is not None else random.SystemRandom().randrange(2**31)
        )
        self.benchmark_id = uuid.uuid4().hex[:12]
        # one run of a sweep gets its identity, directory and shared live state from its
        # slot; the engine itself always runs exactly one configuration. Plugins' run-scoped state (the
        # server-metrics store …) is made with the state, one per run, before any hook sees it
        state_fields: dict[str, Any] = dict(
            run_info=RunInfo(
                benchmark_id=self.benchmark_id,
                random_seed=self.seed,
                cli_command=build_cli_command(list(argv), secrets=config.secret_values()),
                run_label=config.run_label,
                **(slot.identity if slot is not None else {}),
            ),
            config=config,
            artifact_dir=slot.artifact_dir if slot is not None else artifact_dir_for(config),
            version=__version__,
            plugin_states=create_plugin_states(registry, config),
            control=LoadControl.for_config(config),
        )
        if slot is not None and slot.state is not None:
            state_fields["sweep"] = slot.state.sweep
            slot.state.__init__(**state_fields)  # type: ignore[misc] - reset in place: the API serves it
            self.state = slot.state
        else:
            self.state = RunState(**state_fields)
        # the sweep's one API serves slot.state across runs; this run then starts none of its own
        self.api_shared = slot is not None and slot.api_shared
        self.signals = StopSignals()
        self.pool = WorkerPool(executor)
        self.run_log = RunLog(self.state.artifact_dir, config.secret_values())
        self.api_server: ApiHost | None = None

    def run(self) -> int:
        """The whole run, signals handled throughout; whatever happens, workers, the API, the target and
        the log file are closed, and RunState ends finished."""
        self.signals.install()
        try:
            return self._run()
        except BaseException as exc:
            record_abort(self.state, exc, self.scrub)
            raise
        finally:
            self.signals.restore()
            self.pool.shutdown()
            if self.api_server is not None:
                with contextlib.suppress(Exception):
                    self.api_server.stop()
            if self.target is not None:
                with contextlib.suppress(Exception):
                    self.target.stop()
            self.state.control.close_waker()
            self.run_log.close()

    def _run(self) -> int:
        """dataset → payloads → schedule → executor/workers → records → metrics → RunState → exporters."""
        from inferload.metrics_engine import MetricsAccumulator

        state, registry = self.state, self.registry
        state.lifecycle = Lifecycle.STARTING
        # The dataset and the schedule come before the log file: a bad --input-file line is a usage error
        # that must not leave a fresh log over a previous run's artifacts.
        payloads = prepare_payloads(
            self.config, registry, self.endpoint, self.transport, self.seed, tokenizer=self.tokenizer
        )
        phases = build_phases(self.config, registry, self.seed, payloads.fixed_offsets_ns,
                              unit_requests=payloads.unit_requests)
        url = self._start_target()
        # the last usage check, before the artifact directory is touched: the API's address can be had
        self.api_server = bind_live_api(self.config, registry, state, shared=self.api_shared)
        self.run_log.open()
        self._log_start(url, payloads, phases)
        server_warnings = registry.hooks.before_load(context=BeforeLoadContext(
            state=state, config=self.config, registry=registry, probe_url=self._probe_url(),
            probe_body=payloads.probe_body, headers=self.config.headers_for(self.endpoint),
        ))
        self.signals.preparing = False  # from here a signal drains the workers instead of ending at once
        self.pool.start(self.config, {**payloads.worker_fields, "url": url},
                        rate=schedule_rate(payloads.fixed_offsets_ns))
        # built while the workers start and open their connections: its imports (numpy) overlap with them
        accumulator = MetricsAccumulator(registry, self.config, spool_dir=spool_dir(state))
        aggregator = RecordAggregator(state, registry, accumulator)
        self.pool.wait_ready(aggregator, self.scrub)
        if self.api_server is not None:
            self.api_server.start()
        view = ShownView(choose_view(registry, self.config.ui, interactive=sys.stderr.isatty()), state,
                         registry)
        state.started_ns = time.time_ns()
        state.lifecycle = Lifecycle.RUNNING
        registry.hooks.run_started(state=state)
        loop = PhaseLoop(state, registry, self.pool, aggregator, view, self.signals,
                         self.config.effective_grace_period, self.scrub,
                         LoadDriver(self.config, state.control, self.pool, self.signals))
        profiling_start = loop.run(phases)
        self.pool.stop(aggregator)
        aggregator.release_reserve()  # the end's room on a disk that filled up while the run sent
        cancelled = bool(self.signals.count)
        all_failed = finish_run(
            state=state,
            config=self.config,
            registry=registry,
            endpoint=self.endpoint,
            accumulator=accumulator,
            records=aggregator.records,
            inputs=payloads.inputs,
            cancelled=cancelled,
            worker_failure=self.pool.failure,
            stopped_for=loop.stopped_for,
            profiling_start_ns=profiling_start,
            run_log=self.run_log,
            scrub=self.scrub,
            console=self.console,
            client_warnings=server_warnings,
        )
        aggregator.records.close()
        linger(self.api_server, self.config.api_linger, self.signals)
        if loop.stopped_for and not self.pool.failure:
            return loop.stop_exit_code
        if self.pool.failure or all_failed:
            return EXIT_RUN_FAILED
        return self.signals.exit_code if cancelled else EXIT_OK

    def scrub(self, text: str) -> str:
        """``text`` without the run's secret values or URL passwords: RunState.error and worker failures
        quote servers and exceptions, and every reader of the state (routes, observers) must get it safe."""
        return redact_text(text, self.state.config.secret_values())

    def _start_target(self) -> str:
        """Start the target plugin's server when there is no --url (its URL becomes the config's); return
        the URL requests go to."""
        if self.start_target is not None:
            self.target = self.start_target()
            self.config = self.config.model_copy(update={"url": self.target.url})
            self.state.config = self.config
        return request_url(self.config.base_url or "", request_path(self.config, self.endpoint))

    def _probe_url(self) -> str:
        """Where the ``--wait-for-model-timeout`` probe goes: the endpoint type's non-streamed path (its
        ``probe_body`` is rendered not streamed; TGI's ``/generate``, not ``/generate_stream``), or
        ``--endpoint``; joined as requests are (:func:`inferload.urls.request_url`)."""
        path = self.config.endpoint or self.endpoint.path_for(False)
        return request_url(self.config.base_url or "", path)

    def _log_start(self, url: str, payloads: Payloads, phases: list[PhasePlan]) -> None:
        """What the run is about to do, in the log: target, artifacts, dataset size, request timeout."""
        config = self.config
        path = request_path(config, self.endpoint)
        if self.target is None and version_in_base(config.base_url or "", path):
            log.info("--url already ends in the API version: sending requests to %s", _safe_url(url))
        log.info(
            "benchmark %s: %s %s against %s, artifacts in %s",
            self.benchmark_id,
            config.endpoint_type,
            config.stimulus,
            _safe_url(config.url),
            self.state.artifact_dir,
        )
        conflict = config.api_key_header_conflict(self.endpoint)
        if conflict is not None:
            log.warning("both --api-key and an explicit %s header were given; sending the header", conflict)
        log.info("%s", dataset_line(config.effective_dataset, len(payloads.inputs), phases,
                                    sessions=payloads.unit_requests is not None))
        log.info(
            "request timeout %g s%s: a request with no complete response by then ends as a timeout error "
            "(--request-timeout-seconds)",
            config.request_timeout_seconds,
            " (the default)" if config.request_timeout_seconds == DEFAULT_REQUEST_TIMEOUT_S else "",
        )


def _safe_url(url: str | None) -> str:
    return redact_url(url) if url else "-"


def run_profile(
    config: ProfileConfig,
    registry: PluginRegistry,
    argv: Sequence[str] = (),
    console: Any = None,
    tokenizer: Any = None,
    start_target: Callable[[], Any] | None = None,
    slot: RunSlot | None = None,
) -> int:
    """Run one benchmark end to end; return the exit code (0 ok, 1 failed, 128 + signal: 130 SIGINT,
    143 SIGTERM, 129 SIGHUP).

    ``tokenizer`` is the already resolved ``--tokenizer``, if the caller built it to fail fast;
    ``start_target`` starts the server under test when ``config.url`` is None (see :class:`ProfileRun`);
    ``slot`` places the run in a sweep (:class:`inferload.runstate.RunSlot`)."""
    return ProfileRun(
        config, registry, argv=argv, console=console, tokenizer=tokenizer, start_target=start_target,
        slot=slot,
    ).run()
