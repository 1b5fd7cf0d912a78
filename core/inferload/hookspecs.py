"""The public API of inferload: every hook a plugin can implement.

A plugin is a module (or object) with functions marked ``@inferload.hookimpl`` whose names match the specs
below, published as one entry point in the group ``inferload.plugins``. Registration hooks return lists of
the frozen spec types from :mod:`inferload.types`; lifecycle hooks observe a run. Arguments are passed by
keyword, so an implementation may accept fewer of them than the spec lists, and new ones can be added
without breaking plugins.

pluggy calls these at start-up and at lifecycle events only, never per request or per chunk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from inferload import hookspec

if TYPE_CHECKING:
    from inferload.runstate import RunState
    from inferload.types import (
        ApiHostSpec,
        ArrivalSpec,
        BeforeLoadContext,
        CacheResetSpec,
        CommandSpec,
        DatasetSpec,
        EndpointSpec,
        ExecutorSpec,
        ExporterSpec,
        MetricSpec,
        OptionsSpec,
        RequestFlowSpec,
        RouterSpec,
        RunGuardSpec,
        RunStateSpec,
        ServerMetricMapSpec,
        SimulatorRouteSpec,
        SummarySectionSpec,
        TargetSpec,
        TokenizerSpec,
        TransportSpec,
        ViewSpec,
    )

# --------------------------------------------------------------------------------------------------
# Registration: what a plugin provides. Called once per process at start-up.
# --------------------------------------------------------------------------------------------------


@hookspec
def register_commands() -> list[CommandSpec]:
    """CLI subcommands (``inferload NAME``).

    Example::

        @hookimpl
        def register_commands():
            return [CommandSpec(name="hello", description="Say hello",
                                add_arguments=lambda p: p.add_argument("--who", default="world"),
                                run=lambda args, registry: print(f"hello {args.who}") or 0)]
    """


@hookspec
def register_endpoints() -> list[EndpointSpec]:
    """API flavours the load generator can drive (``--endpoint-type NAME``).

    Example::

        @hookimpl
        def register_endpoints():
            return [EndpointSpec(name="rerank", description="Cohere-style /v1/rerank",
                                 path="/v1/rerank", streaming=False, produces_tokens=False,
                                 factory=RerankAdapter)]
    """


@hookspec
def register_transports() -> list[TransportSpec]:
    """HTTP clients for the hot path (``--transport NAME``).

    Each worker calls ``factory(url=, headers=, max_connections=, connect_timeout=)`` once and gets an
    :class:`inferload.engine.transport.Transport` (see :class:`inferload.types.TransportSpec`).

    Example::

        @hookimpl
        def register_transports():
            return [TransportSpec(name="h2", description="HTTP/2 via httpx", factory=H2Transport,
                                  schemes=("http", "https"))]
    """


@hookspec
def register_metrics() -> list[MetricSpec]:
    """Metrics computed from request records (``name`` is the metric tag).

    Example::

        @hookimpl
        def register_metrics():
            return [MetricSpec(name="chunk_count", description="Chunks received per request",
                               header="Chunk Count", unit="chunks", kind="record",
                               compute=lambda record: len(record.chunk_ns), requires=("streaming",))]
    """


@hookspec
def register_exporters() -> list[ExporterSpec]:
    """Result writers run when a run ends (files, tables, uploads).

    ``export(context)`` gets an :class:`inferload.export.ExportContext` and returns the paths it wrote.

    Example::

        @hookimpl
        def register_exporters():
            return [ExporterSpec(name="ttft-txt", description="p50 TTFT in a text file",
                                 filenames=("ttft.txt",), export=write_ttft)]

        def write_ttft(context):
            path = context.artifact_dir / "ttft.txt"
            path.write_text(str(context.metrics["time_to_first_token"]["p50"]))
            return [path]
    """


@hookspec
def register_api_routers() -> list[RouterSpec]:
    """Route families of the live HTTP API (``--api-port``); each factory gets the read-only RunState.

    Example::

        @hookimpl
        def register_api_routers():
            return [RouterSpec(name="hello", description="GET /api/hello",
                               routes=("GET /api/hello",), factory=make_router)]

        def make_router(state):
            from fastapi import APIRouter
            router = APIRouter()
            router.add_api_route("/api/hello", lambda: {"benchmark_id": state.run_info.benchmark_id})
            return router
    """


@hookspec
def register_datasets() -> list[DatasetSpec]:
    """Prompt sources (``--dataset NAME``): synthetic, files, public sets.

    The factory is called with keywords only, before the first request, and returns the conversations
    to send: ``factory(*, tokenizer, num_entries, isl_mean, isl_stddev, osl_mean, osl_stddev, seed,
    path=None, **_) -> list[Conversation]`` (see :class:`inferload.types.DatasetSpec`; ``takes`` names
    dataset-specific settings it receives too, ``detect`` lets ``--input-file`` alone pick it).

    Example::

        from inferload.dataset import Conversation

        @hookimpl
        def register_datasets():
            return [DatasetSpec(name="fixed", description="One fixed prompt, repeated", factory=make_fixed)]

        def make_fixed(*, tokenizer, num_entries, osl_mean=None, **_):
            prompt = "Why is the sky blue?"
            return [Conversation(conversation_id=f"fixed-{i}", prompt=prompt,
                                 input_tokens=tokenizer.count(prompt), max_output_tokens=osl_mean)
                    for i in range(num_entries)]
    """


@hookspec
def register_arrival_patterns() -> list[ArrivalSpec]:
    """Inter-arrival distributions for ``--request-rate`` (``--arrival-pattern NAME``).

    ``factory(rate, rng, smoothness=None, **_)`` returns an iterator of gaps in seconds, mean ``1/rate``.
    A pattern registered with ``timed=True`` replays the dataset's timestamps instead, picked by its
    ``switch`` option (the built-in's ``--fixed-schedule``), and returns ``[(entry_index, offset_s), ...]``
    (see :class:`inferload.types.ArrivalSpec`).

    Example::

        @hookimpl
        def register_arrival_patterns():
            return [ArrivalSpec(name="burst", description="All at once", factory=lambda rate, rng, **_:
                                iter(lambda: 0.0, None))]
    """


@hookspec
def register_tokenizers() -> list[TokenizerSpec]:
    """Tokenizers for prompt synthesis and client-side token counts (``--tokenizer``).

    ``factory(name_or_path)`` returns an :class:`inferload.dataset.Tokenizer` (``name``, ``encode``,
    ``decode``, ``count``).

    Example::

        @hookimpl
        def register_tokenizers():
            return [TokenizerSpec(name="whitespace", description="Splits on spaces", factory=WsTokenizer)]
    """


@hookspec
def register_executors() -> list[ExecutorSpec]:
    """Where the worker processes run (``--executor NAME``; the default, ``local``, is this machine).

    ``factory()`` returns an executor with ``shared_counter()`` and ``start(target, inits)``; see
    :class:`inferload.types.ExecutorSpec`.

    Example::

        @hookimpl
        def register_executors():
            return [ExecutorSpec(name="ray", description="Workers on a Ray cluster", factory=RayExecutor)]
    """


@hookspec
def register_targets() -> list[TargetSpec]:
    """Servers inferload can start itself to benchmark when ``inferload profile`` has no ``--url``.

    Example::

        @hookimpl
        def register_targets():
            return [TargetSpec(name="echo", description="A local echo server", factory=EchoProvider)]

        class EchoProvider:
            model = "echo"

            def start(self):
                return start_echo_server()  # has .url and .stop()
    """


@hookspec
def register_server_metric_maps() -> list[ServerMetricMapSpec]:
    """The meaning of an inference server's (or GPU exporter's) Prometheus families.

    Example::

        from inferload.types import FamilyMeaning

        @hookimpl
        def register_server_metric_maps():
            return [ServerMetricMapSpec(name="myserver", description="MyServer's /metrics", families={
                "myserver_queue_size": FamilyMeaning("requests_waiting", "requests", "Requests queued"),
                "myserver_ttft_seconds": FamilyMeaning("time_to_first_token", "ms", "TTFT", scale=1000.0),
            })]
    """


@hookspec
def register_simulator_routes() -> list[SimulatorRouteSpec]:
    """Routes the built-in simulator serves in an endpoint plugin's dialect, so the adapter is tested
    against the same latency model, usage accounting, truth log and fault injection as the OpenAI routes
    (``inferload simulate``, and ``inferload profile`` without ``--url``). See :mod:`inferload.simulated`.

    Example::

        from inferload.simulated import SimulatedRequest

        @hookimpl
        def register_simulator_routes():
            return [SimulatorRouteSpec(name="echo_generate", description="POST /echo in the echo dialect",
                                       path="/echo", parse=parse, render=EchoResponse)]

        def parse(body):
            return SimulatedRequest(prompt=(body["text"],), max_tokens=body.get("max"),
                                    stream=bool(body.get("stream")))

        class EchoResponse:
            def __init__(self, output, request):
                self.out = output
            def opening(self):
                return b""
            def tokens(self, start, end):
                return b"data: " + json.dumps({"text": self.out.text(start, end)}).encode() + b"\\n\\n"
            def closing(self):
                return b"data: " + json.dumps({"done": self.out.output_tokens}).encode() + b"\\n\\n"
            def malformed(self):
                return b'data: {"text": "cut\\n\\n'
            def body(self):
                return json.dumps({"text": self.out.answer}).encode()
    """


@hookspec
def register_cache_resets() -> list[CacheResetSpec]:
    """Ways to empty a server's KV/prefix cache, tried by ``--reset-kv-cache`` before each run of a
    sweep or trial (the server-prep plugin's ``before_load``): the first whose request answers 2xx is used.

    Example::

        @hookimpl
        def register_cache_resets():
            return [CacheResetSpec(name="vllm", description="vLLM: POST /reset_prefix_cache",
                                   path="/reset_prefix_cache")]
    """


@hookspec
def register_summary_sections() -> list[SummarySectionSpec]:
    """Blocks of profile_export.json computed after the last record, before the exporters (e.g. the
    steady-state window's metrics): ``summary[name] = compute(context)`` unless it returns None.

    Example::

        @hookimpl
        def register_summary_sections():
            def slowest(context):  # records stream from disk: never a list of them (a run may hold millions)
                ok = (r for r in context.records if r.error is None)
                worst = max(ok, key=lambda r: r.end_ns - r.start_ns, default=None)
                return None if worst is None else {"request_id": worst.request_id}
            return [SummarySectionSpec(name="slowest_request", description="The slowest request",
                                       compute=slowest)]
    """



@hookspec
def register_api_hosts() -> list[ApiHostSpec]:
    """The server of the live HTTP API (``--api-port``); the catalogue's default one is used.

    Example::

        @hookimpl
        def register_api_hosts():
            def host(registry, state, host, port):
                return MyAsgiHost(routers=registry.all("api_router"), state=state, host=host, port=port)
            return [ApiHostSpec(name="my-host", description="The routes on my ASGI server",
                                factory=host)]
    """


@hookspec
def register_views() -> list[ViewSpec]:
    """Progress views of a running benchmark (``--ui NAME``), fed by the phase loop.

    Example::

        @hookimpl
        def register_views():
            class Dots:
                def __init__(self, state):
                    self.state = state
                def update(self):
                    print(".", end="", file=sys.stderr, flush=True)
                def close(self):
                    print(file=sys.stderr)
            return [ViewSpec(name="dots", description="A dot every second", factory=Dots, interval=1.0)]
    """

# --------------------------------------------------------------------------------------------------
# Lifecycle: observe a run. Called in the parent process, never per chunk.
# --------------------------------------------------------------------------------------------------


@hookspec
def run_started(state: RunState) -> None:
    """The run is configured and about to send its first request.

    Example::

        @hookimpl
        def run_started(state):
            print("benchmark", state.run_info.benchmark_id, "starting")
    """


@hookspec
def phase_changed(state: RunState, phase: str) -> None:
    """A phase (``warmup``, ``profiling``) began.

    Example::

        @hookimpl
        def phase_changed(state, phase):
            log.info("now in %s", phase)
    """


@hookspec
def record_batch(state: RunState, records: list[Any]) -> None:
    """A batch of finished :class:`inferload.records.RequestRecord` arrived from a worker.

    Example::

        @hookimpl
        def record_batch(state, records):
            errors.extend(r for r in records if r.error)
    """


@hookspec
def run_stopping(state: RunState) -> None:
    """Sending and draining are over, every record is in; the summary and artifacts come next.

    The place to stop background work whose results belong in the artifacts (a scraper's last scrape).

    Example::

        @hookimpl
        def run_stopping(state):
            poller.stop(final_poll=True)
    """


@hookspec
def run_finished(state: RunState) -> None:
    """The run ended (complete, cancelled or failed) and its artifacts are written.

    Example::

        @hookimpl
        def run_finished(state):
            notify_slack(state.run_info.benchmark_id, state.lifecycle)
    """



@hookspec
def register_run_states() -> list[RunStateSpec]:
    """State a plugin owns for one run, created by the engine at run start and read by name with
    ``state.plugin_state(name)`` (docs/plugins.md, "Run-scoped state").

    Example::

        @hookimpl
        def register_run_states():
            return [RunStateSpec(name="error-log", description="Errors seen in this run",
                                 create=lambda config, registry: [])]

        @hookimpl
        def record_batch(state, records):
            state.plugin_state("error-log").extend(r.error for r in records if r.error)
    """


@hookspec
def before_load(context: BeforeLoadContext) -> list[str] | None:
    """Between the target's start and the first request (no worker started yet): make the server clean
    and ready. Returns client warnings for the run's summary (or None). Called once per run, so in a sweep
    before each variation and trial. Unlike the observers below, an implementation that raises stops the
    run before any request is sent: a :class:`inferload.errors.RunFailed` or
    :class:`inferload.errors.UsageError` with its own one-line message, anything else with a line naming
    the plugin.

    Example::

        @hookimpl
        def before_load(context):
            if context.config.options(ResetOptions).reset:  # the plugin's own register_options model
                httpx.post(context.config.base_url + "/reset_prefix_cache", headers=context.headers)
            return []
    """


REGISTRATION_HOOKS: dict[str, str] = {
    "command": "register_commands",
    "endpoint": "register_endpoints",
    "transport": "register_transports",
    "metric": "register_metrics",
    "exporter": "register_exporters",
    "api_router": "register_api_routers",
    "dataset": "register_datasets",
    "arrival_pattern": "register_arrival_patterns",
    "tokenizer": "register_tokenizers",
    "executor": "register_executors",
    "target": "register_targets",
    "server_metric_map": "register_server_metric_maps",
    "simulator_route": "register_simulator_routes",
    "cache_reset": "register_cache_resets",
    "summary_section": "register_summary_sections",
    "run_state": "register_run_states",
    "request_flow": "register_request_flows",
    "run_guard": "register_run_guards",
    "api_host": "register_api_hosts",
    "view": "register_views",
}
"""Plugin category -> the hook that registers it."""

CHOSEN_CATEGORIES: dict[str, str] = {
    "endpoint": "--endpoint-type NAME",
    "transport": "--transport NAME",
    "dataset": "--dataset NAME",
    "arrival_pattern": "--arrival-pattern NAME",
    "tokenizer": "--tokenizer NAME",
    "executor": "--executor NAME",
    "target": "--url URL (the server to benchmark)",
    "api_host": "no --api-port (a run without its live API)",
    "view": "--ui NAME (--ui none: no progress view)",
}
"""Categories of which a run uses one, the catalogue's default unless the user names another -> how."""

LIFECYCLE_HOOKS: tuple[str, ...] = (
    "run_started", "phase_changed", "record_batch", "run_stopping", "run_finished", "before_load",
)


@hookspec
def register_options() -> list[OptionsSpec]:
    """Settings of ``inferload profile`` that this plugin owns: flags, ``INFERLOAD_<FLAG>`` variables and
    ``-f`` file keys, validated with the core's precedence and errors, listed under the plugin in
    ``inferload profile --help``, read back with ``config.options(Model)`` (see
    :class:`inferload.types.OptionsSpec`). A disabled plugin's options are not offered.

    Example::

        @hookimpl
        def register_options():
            class SlackOptions(BaseModel):
                slack_channel: str | None = Field(None, description="Post the summary to this channel")
                slack_token: SecretStr | None = Field(None, description="Bot token (never written out)")

            return [OptionsSpec(name="slack", description="Slack notification", model=SlackOptions)]
    """


REGISTRATION_HOOKS["options"] = "register_options"


# --------------------------------------------------------------------------------------------------
# Worker behaviour: what a worker sends next and how. Asked once per run before t=0; the objects they
# hand the workers are called directly, never through pluggy.
# --------------------------------------------------------------------------------------------------


@hookspec
def register_request_flows() -> list[RequestFlowSpec]:
    """Request flows: what a worker sends next and how (:mod:`inferload.engine.flow`). Each is asked
    whether it takes part in a run; the part it hands the workers is started once in each and called
    directly (``drive`` a phase, ``stop``, ``on_request``).

    Example::

        @hookimpl
        def register_request_flows():
            class Abandon:  # in each worker: abandon every 10th request after 50 ms
                def start(self, host):
                    return self

                def on_request(self, request_id, cancel):
                    if request_id % 10:
                        return None
                    error = RequestError("request_cancelled", "abandoned by the example flow")
                    return asyncio.get_running_loop().call_later(0.05, cancel, error).cancel

            def prepare(context):
                return FlowPlan(worker=Abandon())
            return [RequestFlowSpec(name="abandon", description="Abandon every 10th request",
                                    prepare=prepare)]
    """


@hookspec
def register_run_guards() -> list[RunGuardSpec]:
    """Run guards: checks that end a run early, with one line and an exit code, once its finished records
    show that going on would only add failures (:mod:`inferload.engine.guards`). Each gets every batch of
    finished records and is asked every pass of the phase loop; every record sent is kept.

    Example::

        @hookimpl
        def register_run_guards():
            class TooManyTimeouts:  # stop once 50 requests timed out and none succeeded
                def __init__(self):
                    self.timeouts, self.succeeded = 0, False

                def observe(self, records, now):
                    self.succeeded |= any(r.error is None for r in records)
                    self.timeouts += sum(1 for r in records if r.error and r.error.type == "timeout")

                def verdict(self, now):
                    if self.timeouts >= 50 and not self.succeeded:
                        return GuardStop(f"stopped early: 50 requests timed out in {now:.0f} s, none "
                                         "succeeded; raise --request-timeout-seconds")
                    return None

            return [RunGuardSpec(name="timeouts", description="Stop when only timeouts come back",
                                 create=lambda config: TooManyTimeouts())]
    """
