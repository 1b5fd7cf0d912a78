"""`inferload profile`'s engine in the parent process: prepare everything, drive the workers, keep RunState
current, then compute, export, serve the results for a while and clean up.

Order of events (docs/architecture.md, "Data flow"): RunState exists first; the dataset is built and every
payload serialised; worker processes start with those bytes; the live API binds (a port in use is a usage
error before any request is sent); ``run_started``; then each phase (``phase_changed``) with records
streaming back in batches (``record_batch``); then metrics, exporters, ``run_finished`` and the API linger.
SIGINT stops sending, lets in-flight requests finish within the grace period and still writes every
artifact with ``was_cancelled: true``; a second SIGINT cancels what is still in flight at once.
SIGTERM and SIGHUP act as SIGINT; workers ignore all of them (a signal to the process group reaches them
too) and wait for the parent's word.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import random
import re
import signal
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait
from pathlib import Path
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any

from inferload import __version__
from inferload.artifact_files import artifact_path, clear_run_dir
from inferload.config import ProfileConfig
from inferload.engine.aggregator import RecordAggregator
from inferload.engine.messages import (
    CANCEL,
    EXIT,
    FAILED,
    PHASE,
    PHASE_DONE,
    READY,
    RECORDS,
    STOP,
    PhaseCommand,
    WorkerInit,
)
from inferload.engine.progress_view import ProgressView, resolve_ui
from inferload.engine.schedule import PhasePlan, build_phases, default_workers, split_concurrency
from inferload.errors import EXIT_OK, EXIT_RUN_FAILED, PluginError, RunFailed, UsageError
from inferload.records import DEFAULT_REQUEST_TIMEOUT_S, ERROR_TIMEOUT, PROFILING
from inferload.redact import SecretFilter, build_cli_command, redact_text, redact_url
from inferload.runstate import Lifecycle, PhaseProgress, RunInfo, RunState
from inferload.stats import ns_to

if TYPE_CHECKING:
    from inferload.registry import PluginRegistry

log = logging.getLogger("inferload.profile")

_TICK_SEC = 0.25
_START_LEAD_NS = 10_000_000
"""Phase start is set this far ahead so every worker has the command before t0."""
_READY_TIMEOUT_SEC = 60.0
_EXIT_TIMEOUT_SEC = 5.0


_MODEL_DIR_CHARS = 80
"""Characters of the model name kept in the run directory's name (a path component is 255 bytes)."""


def artifact_dir_for(config: ProfileConfig) -> Path:
    """``<artifact-dir>/<model>-<endpoint-type>-<stimulus>``, absolute (resolved once, against the
    working directory at start), with the model name made filesystem-safe by :func:`model_dir_name`."""
    root = Path(os.path.abspath(Path(config.artifact_dir).expanduser()))
    return root / f"{model_dir_name(config.model or 'model')}-{config.endpoint_type}-{config.stimulus}"


def model_dir_name(model: str) -> str:
    """The model name as a directory name: ``/`` becomes ``_`` (AIPerf's habit), letters and digits of
    any script, ``.``, ``-`` and ``_`` are kept. When anything else had to go, or the name is longer than
    80 characters, a short hash of the full name is appended so that different models never share a
    directory (``мод€l 名前`` -> ``мод_l_名前-1f3a9c2e``)."""
    base = model.replace("/", "_")
    safe = re.sub(r"[^\w.-]+", "_", base).strip("._") or "model"
    if safe == base and len(safe) <= _MODEL_DIR_CHARS:
        return safe
    digest = hashlib.sha256(model.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{safe[:_MODEL_DIR_CHARS].rstrip('._')}-{digest}"


def check_artifact_dir(run_dir: Path) -> None:
    """A UsageError naming the path unless the run directory can be created and written: not a file,
    not under a file, not in a pseudo filesystem (/proc, /sys, /dev), no component too long."""
    for part in run_dir.parts:
        if len(part.encode("utf-8", "surrogatepass")) > 255:
            raise UsageError(f"--artifact-dir: the path component {part[:40]!r}… is longer than 255 bytes; "
                             "use a shorter --artifact-dir")
    for pseudo in ("/proc", "/sys", "/dev"):
        if run_dir == Path(pseudo) or run_dir.is_relative_to(pseudo):
            raise UsageError(f"--artifact-dir {run_dir.parent} is in {pseudo}, which holds no files; "
                             "choose a directory on disk")
    existing = run_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        what = "is a file" if existing == run_dir.parent else f"is under the file {existing}"
        raise UsageError(f"--artifact-dir {run_dir.parent} {what}; give a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"--artifact-dir {run_dir.parent}: {existing} is not writable by this user")


def check_plugins(config: ProfileConfig, registry: PluginRegistry) -> tuple[Any, Any, Any]:
    """The endpoint, transport and executor specs the config names; a UsageError (exit 2) naming the
    choices if one is missing or they do not fit together. Cheap: call it before starting anything.
    Choices the config leaves open are the catalogue's defaults (:meth:`ProfileConfig.with_plugin_defaults`).
    """
    config = config.with_plugin_defaults(registry)
    endpoint = registry.get("endpoint", config.endpoint_type)
    if config.streaming and not endpoint.streaming:
        raise UsageError(f"--streaming is not supported by --endpoint-type {config.endpoint_type}")
    transport = registry.get("transport", config.transport)
    scheme = (config.url or "http://").split("://", 1)[0]
    if scheme not in transport.schemes:
        raise UsageError(f"--transport {config.transport} does not support {scheme}:// URLs")
    executor = registry.get("executor", config.executor)
    check_artifact_dir(artifact_dir_for(config))
    if config.input_file is not None and registry.get("dataset", config.effective_dataset).input_file:
        check_input_file(config.input_file)
    if config.request_rate is not None:
        registry.get("arrival_pattern", config.effective_arrival_pattern)
    if config.goodput:
        from inferload.metrics_engine import MetricsAccumulator

        MetricsAccumulator(registry, config)  # raises UsageError for an SLO on an unknown metric
    return endpoint, transport, executor


def check_input_file(path: Path) -> None:
    """A UsageError naming ``path`` unless it is a file this process can read (its lines are checked when
    the dataset is built, still before the first request)."""
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise UsageError(f"cannot read --input-file {path}: {exc.strerror or exc}") from None


class ProfileRun:
    """One run of `inferload profile`; :meth:`run` returns the exit code."""

    def __init__(
        self,
        config: ProfileConfig,
        registry: PluginRegistry,
        argv: Sequence[str] = (),
        console: Any = None,
        tokenizer: Any = None,
        start_target: Callable[[], Any] | None = None,
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
        self.endpoint, self.transport, self.executor_spec = check_plugins(config, registry)
        self.seed = (
            config.random_seed if config.random_seed is not None else random.SystemRandom().randrange(2**31)
        )
        self.benchmark_id = uuid.uuid4().hex[:12]
        self.state = RunState(
            run_info=RunInfo(
                benchmark_id=self.benchmark_id,
                random_seed=self.seed,
                cli_command=build_cli_command(list(argv), secrets=config.secret_values()),
            ),
            config=config,
            artifact_dir=artifact_dir_for(config),
            version=__version__,
        )
        self.api_server: Any = None
        self.handles: list[Any] = []
        self.interrupts = 0
        self.stop_signal = signal.SIGINT
        self.stopping_sent = False
        self.worker_failure: str | None = None
        self._log_handler: logging.Handler | None = None
        self._secret_filter: logging.Filter | None = None
        self.inputs: list[dict[str, Any]] = []
        self.client_warnings: list[str] = []

    # -- the whole run ---------------------------------------------------------------------------

    def run(self) -> int:
        # SIGTERM (a supervisor, `timeout` or Kubernetes stopping us) and SIGHUP (the terminal went away)
        # end the run as gracefully as Ctrl-C does: stop sending, drain, write every artifact with
        # was_cancelled. Workers ignore all three (a group signal reaches them too) and wait for our word.
        stop_signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        previous = {signum: signal.getsignal(signum) for signum in stop_signals}
        on_main = threading.current_thread() is threading.main_thread()
        if on_main:
            for signum in stop_signals:
                signal.signal(signum, self._on_sigint)
        try:
            return self._run()
        except BaseException as exc:
            self._record_abort(exc)
            raise
        finally:
            if on_main:
                for signum, handler in previous.items():
                    signal.signal(signum, handler)
            self._shutdown_workers()
            if self.api_server is not None:
                with contextlib.suppress(Exception):
                    self.api_server.stop()
            if self.target is not None:
                with contextlib.suppress(Exception):
                    self.target.stop()
            self._close_log()

    def _run(self) -> int:
        state, config = self.state, self.config
        state.lifecycle = Lifecycle.STARTING
        # The schedule and the dataset come before the log file: a bad --input-file line is a usage error
        # that must not leave a fresh log over a previous run's artifacts.
        phases = build_phases(config, self.registry, self.seed)
        init_kwargs = self._prepare_payloads()
        if self.start_target is not None:
            self.target = self.start_target()
            self.config = config = config.model_copy(update={"url": self.target.url})
            state.config = config
        path = config.endpoint or self.endpoint.path_for(bool(config.streaming))
        init_kwargs["url"] = url = request_url(config.base_url or "", path)
        self._open_log()
        if self.target is None and url != f"{config.base_url}{path}":
            log.info("--url already ends in the API version: sending requests to %s", _safe_url(url))
        log.info(
            "benchmark %s: %s %s against %s, artifacts in %s",
            self.benchmark_id,
            config.endpoint_type,
            config.stimulus,
            _safe_url(config.url),
            state.artifact_dir,
        )
        if config.authorization_conflict:
            log.warning("both --api-key and an explicit Authorization header were given; sending the header")
        log.info("dataset %s: %d prompt(s)", config.effective_dataset, len(self.inputs))
        log.info(
            "request timeout %g s%s: a request with no complete response by then ends as a timeout error "
            "(--request-timeout-seconds)",
            config.request_timeout_seconds,
            " (the default)" if config.request_timeout_seconds == DEFAULT_REQUEST_TIMEOUT_S else "",
        )
        from inferload.metrics_engine import MetricsAccumulator

        self._spawn_workers(init_kwargs)
        # built while the workers start and open their connections: its imports (numpy) overlap with them
        accumulator = MetricsAccumulator(self.registry, config)
        aggregator = RecordAggregator(state, self.registry, accumulator)
        self._await_workers(aggregator)
        if config.api_port is not None:
            from inferload.api_server import ApiServer

            self.api_server = ApiServer(self.registry, state, host=config.api_host, port=config.api_port)
            self.api_server.start()
        view = ProgressView(resolve_ui(config.ui), state)
        state.started_ns = time.time_ns()
        state.lifecycle = Lifecycle.RUNNING
        self.registry.hooks.run_started(state=state)
        first_profiling_wall: int | None = None
        try:
            for index, plan in enumerate(phases):
                if self.interrupts or self.worker_failure:
                    break
                if plan.phase == PROFILING:
                    first_profiling_wall = time.time_ns()
                self._run_phase(index, plan, aggregator, view)
        finally:
            view.close()
        self._stop_workers(aggregator)
        return self._finish(aggregator, accumulator, first_profiling_wall)

    # -- preparation -----------------------------------------------------------------------------

    def _prepare_payloads(self) -> dict[str, Any]:
        """Dataset, then every request body rendered and serialised: all prompt work before t=0."""
        from inferload.dataset import resolve_tokenizer

        config = self.config
        tokenizer = self.tokenizer or resolve_tokenizer(self.registry, config.tokenizer)
        dataset = self.registry.get("dataset", config.effective_dataset)
        conversations = dataset.factory(
            tokenizer=tokenizer,
            num_entries=config.num_dataset_entries,
            isl_mean=config.isl,
            isl_stddev=config.isl_stddev,
            osl_mean=config.osl,
            osl_stddev=config.osl_stddev,
            seed=self.seed,
            path=None if config.input_file is None else str(config.input_file),
        )
        if not conversations:
            raise UsageError(
                f"the {config.effective_dataset} dataset produced no prompts; check --num-dataset-entries"
                " or --input-file"
            )
        adapter = self.endpoint.factory()
        bodies = [adapter.render(conversation, config) for conversation in conversations]
        self.inputs = [
            {"session_id": c.conversation_id, "payloads": [body]}
            for c, body in zip(conversations, bodies, strict=True)
        ]
        return {
            "headers": config.headers_for(self.endpoint),
            "transport_factory": self.transport.factory,
            "endpoint_factory": self.endpoint.factory,
            "streaming": bool(config.streaming),
            "payloads": [
                json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode() for body in bodies
            ],
            "conversation_ids": [c.conversation_id for c in conversations],
            "input_tokens": [c.input_tokens for c in conversations],
            "output_tokens": [c.max_output_tokens for c in conversations],
            "request_timeout": config.request_timeout_seconds,
            "output_limited": config.osl is not None,
            "tokenizer": tokenizer if self.endpoint.produces_tokens else None,
        }

    def _spawn_workers(self, init_kwargs: dict[str, Any]) -> None:
        """Start the worker processes (as many as useful, never more than the concurrency cap)."""
        from inferload.engine.worker import terminal_signals_blocked, worker_main

        config = self.config
        count = config.workers or default_workers(config)
        cap = config.effective_concurrency
        if cap is not None:
            count = min(count, cap)
        self.shares = split_concurrency(cap, count)
        executor = self.executor_spec.factory()
        self.counter = executor.shared_counter()
        inits = [
            WorkerInit(
                worker_id=f"worker_{i}",
                counter=self.counter,
                max_connections=self.shares[i] or 0,
                **init_kwargs,
            )
            for i in range(count)
        ]
        with terminal_signals_blocked():
            self.handles = executor.start(worker_main, inits)

    def _await_workers(self, aggregator: RecordAggregator) -> None:
        """Wait until every worker has its transport, adapter and warm connections ready."""
        pending = {h.conn: h for h in self.handles}
        setup_ns = 0
        deadline = time.monotonic() + _READY_TIMEOUT_SEC
        while pending:
            ready = wait(list(pending), timeout=max(0.0, deadline - time.monotonic()))
            if not ready:
                raise RunFailed("worker processes did not start within 60 s")
            for conn in ready:
                handle = pending.pop(conn)
                try:
                    kind, payload = conn.recv()
                except (EOFError, OSError):
                    raise RunFailed(f"{handle.worker_id} exited while starting") from None
                if kind == FAILED:
                    raise RunFailed(self._scrub(f"{handle.worker_id} failed to start: {payload}"))
                if kind == READY:
                    aggregator.add_worker(handle.worker_id, payload.pid, payload.ready_wall_ns)
                    setup_ns = max(setup_ns, payload.setup_ns)
        log.info(
            "%d worker process(es) ready; transport set-up and connection warming took up to %.1f ms, all "
            "before the first request", len(self.handles), ns_to(setup_ns, "ms"),
        )

    # -- phases ----------------------------------------------------------------------------------

    def _check_output_length(self, records: list[Any]) -> dict[str, Any] | None:
        """The asked-versus-measured output length block; its warning goes to the log here."""
        from inferload.output_length import LENGTH_FIELDS, check_output_length

        if not self.endpoint.produces_tokens:
            return None
        bodies = (entry["payloads"][0] for entry in self.inputs)
        sent = next((field for body in bodies for field in LENGTH_FIELDS if field in body), None)
        default: str | None = None
        with contextlib.suppress(UsageError, PluginError):  # a disabled default: no generic tokenizer
            default = self.registry.default("tokenizer", choose="--tokenizer NAME").name
        generic = self.config.tokenizer if self.config.tokenizer == default else None
        result = check_output_length(
            records, length_field=sent, ignore_eos=self.config.ignore_eos, generic_tokenizer=generic
        )
        if result is not None and result["warning"]:
            log.warning("%s", result["warning"])
        return result

    def _run_phase(
        self, index: int, plan: PhasePlan, aggregator: RecordAggregator, view: ProgressView
    ) -> None:
        state = self.state
        progress = PhaseProgress(
            phase=plan.phase,
            phase_index=index,
            total_expected_requests=len(plan.offsets_ns) if plan.offsets_ns is not None else plan.count,
            expected_duration_sec=plan.duration_sec,
            expected_grace_period_sec=plan.grace_sec,
        )
        aggregator.begin_phase(progress)
        self.registry.hooks.phase_changed(state=state, phase=plan.phase)
        self.counter.value = plan.first_id
        t0 = perf_counter_ns() + _START_LEAD_NS
        stop_ns = t0 + int(plan.duration_sec * 1e9) if plan.duration_sec is not None else None
        grace_ns = stop_ns + int((plan.grace_sec or 0.0) * 1e9) if stop_ns is not None else None
        end_id = plan.first_id + plan.count if plan.count is not None else None
        running = {}
        for i, handle in enumerate(self.handles):
            command = PhaseCommand(
                phase=plan.phase,
                t0_ns=t0,
                end_id=end_id,
                concurrency=self.shares[i],
                schedule=plan.worker_schedule(i, len(self.handles)),
                stop_ns=stop_ns,
                grace_ns=grace_ns,
            )
            handle.conn.send((PHASE, command))
            running[handle.conn] = handle
        self.stopping_sent = False
        last_refresh = 0.0
        while running:
            if self.interrupts and not self.stopping_sent:
                self._send_stop(progress)
            if self.interrupts > 1:
                self._broadcast((CANCEL, None))
            for conn in wait(list(running), timeout=_TICK_SEC):
                handle = running[conn]
                try:
                    message = conn.recv()
                except (EOFError, OSError):
                    self._worker_lost(handle, aggregator)
                    del running[conn]
                    continue
                kind = message[0]
                if kind == RECORDS:
                    aggregator.on_records(handle.worker_id, progress, message[1], message[2])
                elif kind == PHASE_DONE:
                    aggregator.on_records(handle.worker_id, progress, [], message[2])
                    del running[conn]
                elif kind == FAILED:
                    self.worker_failure = self._scrub(f"{handle.worker_id} failed: {message[1]}")
                    log.error("%s", self.worker_failure)
                    aggregator.set_worker_state(handle.worker_id, "failed")
                    del running[conn]
            now = time.monotonic()
            if now - last_refresh >= 0.5:
                last_refresh = now
                aggregator.refresh_live_metrics()
                aggregator.refresh_workers()
            if stop_ns is not None and progress.sent_end_ns is None and perf_counter_ns() >= stop_ns:
                progress.sent_end_ns = time.time_ns()
            if grace_ns is not None and perf_counter_ns() >= grace_ns:
                progress.grace_period_timeout_triggered = True
            view.update()
        if progress.sent_end_ns is None:
            progress.sent_end_ns = time.time_ns()
        progress.requests_end_ns = time.time_ns()
        if stop_ns is not None and perf_counter_ns() >= stop_ns:
            progress.timeout_triggered = True  # ended by --benchmark-duration, not by its request count
        if self.interrupts:
            progress.was_cancelled = True
        aggregator.refresh_live_metrics()
        aggregator.refresh_workers()
        view.update(force=True)

    def _send_stop(self, progress: PhaseProgress) -> None:
        grace = self.config.effective_grace_period
        deadline = perf_counter_ns() + int(grace * 1e9)
        self._broadcast((STOP, deadline))
        self.stopping_sent = True
        progress.was_cancelled = True
        progress.sent_end_ns = time.time_ns()
        log.warning(
            "interrupted: no new requests; waiting up to %g s for %d in flight (Ctrl+C again to "
            "cancel them now)",
            grace,
            max(0, progress.requests_sent - progress.requests_completed - progress.requests_cancelled),
        )

    def _worker_lost(self, handle: Any, aggregator: RecordAggregator) -> None:
        self.worker_failure = f"{handle.worker_id} (pid {handle.pid}) exited unexpectedly"
        log.error("%s; its unreported requests are lost", self.worker_failure)
        aggregator.set_worker_state(handle.worker_id, "failed")

    def _broadcast(self, message: tuple[str, Any]) -> None:
        for handle in self.handles:
            with contextlib.suppress(OSError, ValueError):
                handle.conn.send(message)

    def _on_sigint(self, signum: int, frame: Any) -> None:
        self.interrupts += 1
        self.stop_signal = signum
        if self.interrupts > 2:
            raise KeyboardInterrupt

    # -- the end ---------------------------------------------------------------------------------

    def _finish(
        self, aggregator: RecordAggregator, accumulator: Any, profiling_start_wall: int | None
    ) -> int:
        from inferload.export import ExportContext, build_summary, run_exporters

        state, config = self.state, self.config
        state.lifecycle = Lifecycle.COMPLETING
        cancelled = bool(self.interrupts)
        records = aggregator.records
        sent = sum(p.requests_sent for p in state.phases.values())
        if len(records) != sent:
            message = f"{sent} requests were sent but {len(records)} records arrived (a worker was lost)"
            self.client_warnings.append(message)
            log.error("%s", message)
        if self.worker_failure:
            self.client_warnings.append(self.worker_failure)
            # before the summary, so is_complete says false, as for a run whose every request failed
            state.error = self.worker_failure
            state.lifecycle = Lifecycle.FAILED
        metrics = accumulator.final()
        self.client_warnings.extend(self.registry.hooks.failure_lines())  # plugins that failed so far
        all_failed = bool(accumulator.error_count) and not accumulator.request_count and not cancelled
        if all_failed:
            # Nothing was measured: the run failed, though every request is still accounted for on disk.
            state.error = self._scrub(_all_failed_message(accumulator, config, self._scrub))
            state.lifecycle = Lifecycle.FAILED  # before the summary, so is_complete says false
            log.error("%s", state.error)
        for warning in [*accumulator.client_warnings(), *accumulator.measurement_warnings()]:
            log.warning("%s", warning)
        output_length = self._check_output_length(records)
        timeouts = [r.error for r in records if r.error is not None and r.error.type == ERROR_TIMEOUT]
        if timeouts:
            log.warning("%d request(s) timed out: %s", len(timeouts), timeouts[0].message)
        state.ended_ns = time.time_ns()
        if cancelled and not self.worker_failure:
            state.lifecycle = Lifecycle.CANCELLED
        summary = build_summary(
            state,
            accumulator,
            metrics,
            config=config,
            client_warnings=self.client_warnings,
            start_wall_ns=profiling_start_wall or state.started_ns,
            end_wall_ns=state.ended_ns,
        )
        if output_length is not None:
            summary["output_length"] = output_length
            if output_length["warning"]:
                summary["measurement_warnings"].append(output_length["warning"])
        context = ExportContext(
            state=state,
            config=config,
            records=records,
            metrics=metrics,
            summary=summary,
            inputs=self.inputs,
            artifact_dir=state.artifact_dir,
            accumulator=accumulator,
            console=self.console,
            client_warnings=summary["client_health"]["warnings"],
        )
        written, failed = run_exporters(self.registry, context)
        if self._log_handler is not None:
            self._log_handler.flush()
        state.failed_exporters = failed
        state.artifact_files = ["logs/inferload.log", *[p for p in written if p != "logs/inferload.log"]]
        state.results = summary
        state.artifacts_ready = True
        if self.worker_failure:
            state.error = self.worker_failure
            state.lifecycle = Lifecycle.FAILED
        elif not cancelled and not all_failed:
            state.lifecycle = Lifecycle.COMPLETE
        self.registry.hooks.run_finished(state=state)
        log.info("artifacts written to %s", state.artifact_dir)
        self._linger()
        if self.worker_failure or all_failed:
            return EXIT_RUN_FAILED
        return 128 + int(self.stop_signal) if cancelled else EXIT_OK

    def _linger(self) -> None:
        """Keep the API up after the artifacts, so a client can fetch them; Ctrl+C ends it early."""
        if self.api_server is None:
            return
        linger = self.config.api_linger
        if linger <= 0:
            return
        shown = "until Ctrl+C" if math.isinf(linger) else f"for {linger:g} s (Ctrl+C ends it)"
        log.info("results served at %s %s", self.api_server.url, shown)
        seen = self.interrupts
        deadline = time.monotonic() + linger
        while self.interrupts == seen and time.monotonic() < deadline:
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))

    def _stop_workers(self, aggregator: RecordAggregator) -> None:
        """End the worker processes once sending is over, before the results are computed: in RunState
        each goes ``stopping`` when told to exit, then ``stopped`` once its process has exited cleanly
        (``failed`` if it had to be killed or exited with an error; a failed worker stays failed)."""
        handles, self.handles = self.handles, []
        if not handles:
            return
        aggregator.refresh_workers()  # the last CPU and memory figures, while the processes still exist
        for handle in handles:
            aggregator.set_worker_state(handle.worker_id, "stopping")
        for handle in handles:
            with contextlib.suppress(OSError, ValueError):
                handle.conn.send((EXIT, None))
        for handle in handles:
            handle.join(_EXIT_TIMEOUT_SEC)
            # is_alive() and exitcode are optional in an executor's handle (the local one has both)
            is_alive = getattr(handle, "is_alive", None)
            killed = bool(is_alive()) if is_alive is not None else False
            if killed:
                log.warning("%s did not exit within %g s; killed", handle.worker_id, _EXIT_TIMEOUT_SEC)
            handle.kill()  # a no-op for a process that has exited
            exitcode = getattr(handle, "exitcode", None)
            clean = not killed and exitcode in (0, None)
            aggregator.set_worker_state(handle.worker_id, "stopped" if clean else "failed")
            with contextlib.suppress(OSError):
                handle.conn.close()

    def _record_abort(self, exc: BaseException) -> None:
        """A run that ends by an exception still leaves a finished RunState: open phases get their end,
        the lifecycle CANCELLED (interrupted) or FAILED, and ``ended_ns``."""
        state = self.state
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
            state.error = state.error or self._scrub(f"{type(exc).__name__}: {exc}")
            state.lifecycle = Lifecycle.FAILED

    def _scrub(self, text: str) -> str:
        """``text`` without the run's secret values or URL passwords: RunState.error and worker failures
        quote servers and exceptions, and every reader of the state (routes, observers) must get it safe."""
        from inferload.export import secret_values

        return redact_text(text, secret_values(self.state.config))

    def _shutdown_workers(self) -> None:
        self._broadcast((EXIT, None))
        for handle in self.handles:
            handle.join(5.0)
            handle.kill()
        self.handles = []

    # -- logging ---------------------------------------------------------------------------------

    def _open_log(self) -> None:
        """``logs/inferload.log`` in the artifact dir; it and the terminal's handlers scrub the run's
        secrets from every record that reaches them (any logger, third-party libraries included)."""
        run_dir = self.state.artifact_dir
        removed = clear_run_dir(run_dir)
        path = artifact_path(run_dir, "logs/inferload.log")
        # created here, exclusively and without following a link; the handler then appends to it
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644))
        handler = logging.FileHandler(path, mode="a", encoding="utf-8")
        handler.setLevel(
            logging.DEBUG if logging.getLogger("inferload").isEnabledFor(logging.DEBUG) else logging.INFO
        )
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self._secret_filter = SecretFilter(self.config.secret_values())
        handler.addFilter(self._secret_filter)
        for terminal in logging.getLogger().handlers:
            terminal.addFilter(self._secret_filter)
        logging.getLogger("inferload").addHandler(handler)
        self._log_handler = handler
        if removed:
            shown = ", ".join(removed[:5]) + (f" and {len(removed) - 5} more" if len(removed) > 5 else "")
            log.warning("%s held an earlier run's files (%s); removed them: a run owns its directory",
                        run_dir, shown)

    def _close_log(self) -> None:
        if self._secret_filter is not None:
            for terminal in logging.getLogger().handlers:
                terminal.removeFilter(self._secret_filter)
        if self._log_handler is not None:
            logging.getLogger("inferload").removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None


def request_url(base_url: str, path: str) -> str:
    """The URL requests go to: ``base_url`` + the endpoint ``path``, except that a base URL already
    ending in the path's API version (``http://host:8000/v1``, the OpenAI SDK's ``base_url`` habit) does
    not get it twice: ``/v1`` + ``/v1/chat/completions`` -> ``/v1/chat/completions``."""
    base = base_url.rstrip("/")
    version = path.split("/", 2)[1] if path.count("/") >= 2 else ""
    if version and base.endswith("/" + version):
        return base + path[len(version) + 1 :]
    return base + path


def _safe_url(url: str | None) -> str:
    return redact_url(url) if url else "-"


def run_profile(
    config: ProfileConfig,
    registry: PluginRegistry,
    argv: Sequence[str] = (),
    console: Any = None,
    tokenizer: Any = None,
    start_target: Callable[[], Any] | None = None,
) -> int:
    """Run one benchmark end to end; return the exit code (0 ok, 1 failed, 128 + signal: 130 SIGINT,
    143 SIGTERM, 129 SIGHUP).

    ``tokenizer`` is the already resolved ``--tokenizer``, if the caller built it to fail fast;
    ``start_target`` starts the server under test when ``config.url`` is None (see :class:`ProfileRun`)."""
    return ProfileRun(
        config, registry, argv=argv, console=console, tokenizer=tokenizer, start_target=start_target
    ).run()


def _all_failed_message(accumulator: Any, config: ProfileConfig, scrub: Callable[[str], str]) -> str:
    """One line for a run in which no request succeeded: the commonest error and the hint that fits it."""
    errors = accumulator.error_summary(scrub)
    commonest = ""
    hint = f"check the server at {_safe_url(config.url)}"
    if errors:
        details = errors[0]["error_details"]
        code = f" {details['code']}" if details.get("code") is not None else ""
        commonest = f" (most often {details['type']}{code}: {details['message']})"
        hint = errors[0].get("hint") or hint
    return (
        f"every one of the {accumulator.error_count} profiling requests failed{commonest}; {hint} "
        "(error_summary in profile_export.json has every error)"
    )
