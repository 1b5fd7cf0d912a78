"""The frozen dataclasses that registration hooks return, one per plugin category.

Each carries a unique ``name`` within its category, a one-line ``description`` and whatever the core needs
to use it. Heavy work hides behind callables (``factory``, ``run``, ``export`` …) so that registering a
plugin never imports its heavy dependencies. ``priority`` settles a deliberate name clash: the higher
priority wins, equal priorities are a conflict error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

    from pydantic import BaseModel

    from inferload.api_host import ApiHost
    from inferload.config import ProfileConfig
    from inferload.dataset import Conversation, Tokenizer
    from inferload.endpoint import EndpointAdapter
    from inferload.engine.executor import Executor
    from inferload.engine.guards import RunGuard
    from inferload.engine.transport import Transport
    from inferload.export import ExportContext, SectionContext
    from inferload.registry import PluginRegistry
    from inferload.runstate import RunState
    from inferload.simulated import SimulatedOutput, SimulatedRequest, SimulatedResponse
    from inferload.target import TargetProvider
    from inferload.view import ProgressView

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")
_ROUTE = re.compile(r"^[A-Z]+ /\S*$")

EXPORT_LEVELS = ("summary", "records")
"""``--export-level`` values, least to most (AIPerf's names; its third, ``raw``, request and response
bodies, has no exporter here): ``summary``, aggregate files only; ``records``, also a line per request."""


@dataclass(frozen=True, kw_only=True)
class PluginSpec:
    """Fields every spec has. Subclasses add what their category needs."""

    category: ClassVar[str] = ""
    name: str
    description: str
    priority: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(
                f"{type(self).__name__} name {self.name!r} is invalid: use lower-case letters, digits, "
                "'-', '_' or '.'"
            )
        if not isinstance(self.description, str) or not self.description.strip():
            raise ValueError(f"{type(self).__name__} {self.name!r} needs a one-line description")
        if "\n" in self.description.strip():
            raise ValueError(f"{type(self).__name__} {self.name!r}: description must be one line")

    def provides(self) -> list[str]:
        """What `inferload plugins` shows for this spec: its name, unless a category says more."""
        return [self.name]


@dataclass(frozen=True, kw_only=True)
class CommandSpec(PluginSpec):
    """A CLI subcommand: ``inferload NAME ...``.

    ``add_arguments(parser)`` declares flags (keep it cheap: it runs for ``--help``); when it takes a
    ``registry`` keyword it is called as ``add_arguments(parser, registry=registry)``, so its help text can
    name the installed plugins (``registry.all("endpoint")`` …) instead of a list that goes stale;
    ``run(args, registry)`` does the work and returns the exit code.
    """

    category: ClassVar[str] = "command"
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, PluginRegistry], int]


@dataclass(frozen=True, kw_only=True)
class EndpointSpec(PluginSpec):
    """An API the load generator can drive (OpenAI chat, completions, embeddings, a vendor API …).

    ``factory()`` returns the adapter object that renders payloads and parses responses; see
    :mod:`inferload.endpoint` for the protocol it implements.
    """

    category: ClassVar[str] = "endpoint"
    path: str
    streaming: bool
    produces_tokens: bool
    factory: Callable[[], EndpointAdapter]
    stream_path: str | None = None
    """The path of streamed requests when the API has a separate one (TGI's ``/generate_stream``)."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Static headers the dialect needs (e.g. ``anthropic-version``); ``-H`` overrides them."""
    auth_headers: Callable[[str], dict[str, str]] | None = None
    """The headers ``--api-key KEY`` becomes (None: ``Authorization: Bearer KEY``)."""
    models_path: str | None = "/v1/models"
    """Where the server lists its models, asked when no ``--model`` is given (OpenAI's ``{"data": [{"id"}]}``,
    Ollama's ``{"models": [{"name"}]}`` or TGI's ``/info`` ``{"model_id"}``); None: it cannot list them."""
    sends_model: bool = True
    """False when the API's body has no model field (TGI, TEI serve one model): no ``--model`` is needed,
    and model discovery only names the run's model when the server answers (never fatal)."""
    recognise: Callable[[Any], bool] | None = None
    """True when a decoded stream event, NDJSON line or body is in this API's dialect: names this type in
    the error of a response that reached another endpoint type (a module-level function: workers get it)."""
    ranks_documents: bool = False
    """The API ranks documents against a query (rerank): the dataset gives each request a query and
    ``--rerank-documents N`` documents (:attr:`inferload.dataset.Conversation.documents`)."""

    def provides(self) -> list[str]:
        return [f"{self.name} ({self.path})"]

    def path_for(self, streaming: bool) -> str:
        """The path a request goes to: ``stream_path`` for streamed requests when set, else ``path``."""
        return self.stream_path if streaming and self.stream_path else self.path


@dataclass(frozen=True, kw_only=True)
class TransportSpec(PluginSpec):
    """The HTTP client used on the hot path (``--transport NAME``).

    Each worker process calls ``factory(url=..., headers=..., max_connections=..., connect_timeout=...)``
    once: ``url`` is the full request URL, ``headers`` the static headers sent with every request,
    ``max_connections`` the worker's share of ``--concurrency`` (0: no cap) and ``connect_timeout`` seconds.
    Accept ``**_`` for options added later. It returns an :class:`inferload.engine.transport.Transport`;
    ``schemes`` lists the URL schemes it serves. The factory travels to the workers, so make it a
    module-level class or function.
    """

    category: ClassVar[str] = "transport"
    factory: Callable[..., Transport]
    schemes: Sequence[str] = ("http",)


@dataclass(frozen=True, kw_only=True)
class MetricSpec(PluginSpec):
    """One metric, identified by its tag (``name``), e.g. ``time_to_first_token``.

    ``kind`` is ``record`` (one value per request, ``compute(record)`` with a
    :class:`inferload.records.RequestRecord`), ``aggregate`` (one value per run, ``compute(summary)`` with an
    :class:`inferload.metrics_engine.RunSummary`) or ``derived`` (one value per run from other metrics'
    results, also ``compute(summary)``: ``summary.metrics`` holds every block computed before it).
    ``compute`` returns ``None`` where the metric does not apply.
    ``requires`` names what a record must have for the metric to apply (``streaming``, ``tokens``,
    ``reasoning``).
    """

    category: ClassVar[str] = "metric"
    header: str
    unit: str
    kind: str
    compute: Callable[..., float | int | None]
    requires: Sequence[str] = ()
    display_order: int = 1000
    higher_is_better: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.kind not in ("record", "aggregate", "derived"):
            raise ValueError(f"MetricSpec {self.name!r}: kind must be record, aggregate or derived")


@dataclass(frozen=True, kw_only=True)
class ExporterSpec(PluginSpec):
    """Writes results at the end of a run.

    ``export(context)`` gets an :class:`inferload.export.ExportContext` (run state, records, final metrics,
    the profile_export.json summary, inputs, ``artifact_dir``) and returns the paths it wrote inside
    ``artifact_dir`` (may be empty). ``filenames`` lists them for ``inferload plugins``.

    ``level``: the least ``--export-level`` (AIPerf's flag) at which it runs, one of
    :data:`EXPORT_LEVELS`: ``"summary"`` (aggregate files and the console: runs always) or ``"records"``
    (a file with a line or row per request, skipped by ``--export-level summary``).
    ``record_lines``: it reads the ``profile_export.jsonl`` lines the engine encodes as each batch arrives
    (``RecordStore.copy_lines``/``link_lines``); the engine encodes and stores them (~1.3 kB of disk a
    request) only when an exporter that will run says so. ValueError for an unknown level, or for
    ``record_lines`` without ``level="records"``.
    """

    category: ClassVar[str] = "exporter"
    export: Callable[[ExportContext], Sequence[str | Path]]
    filenames: Sequence[str] = ()
    level: str = "summary"
    record_lines: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.level not in EXPORT_LEVELS:
            raise ValueError(f"ExporterSpec {self.name!r}: level {self.level!r} is not one of "
                             f"{', '.join(EXPORT_LEVELS)}")
        if self.record_lines and self.level != "records":
            raise ValueError(f"ExporterSpec {self.name!r}: record_lines=True reads a line per request, "
                             "so it needs level='records' (--export-level summary stores none)")

    def runs_at(self, export_level: str) -> bool:
        """Whether this exporter runs at ``export_level`` (one of :data:`EXPORT_LEVELS`)."""
        return EXPORT_LEVELS.index(self.level) <= EXPORT_LEVELS.index(export_level)

    def provides(self) -> list[str]:
        level = "" if self.level == "summary" else f" (--export-level {self.level})"
        return [self.name] + [f"file {name}{level}" for name in self.filenames]


@dataclass(frozen=True, kw_only=True)
class RouterSpec(PluginSpec):
    """A family of HTTP API routes. ``factory(state)`` receives the read-only RunState and returns a
    FastAPI ``APIRouter``; ``routes`` lists ``"METHOD /path"`` so they can be shown without importing FastAPI.
    """

    category: ClassVar[str] = "api_router"
    factory: Callable[[RunState], Any]
    """Returns a FastAPI ``APIRouter`` (typed loosely so registering never needs FastAPI)."""
    routes: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        super().__post_init__()
        # A bare string would be iterated character by character, so insist on a sequence of routes.
        routes = self.routes
        if isinstance(routes, str) or not all(isinstance(r, str) and _ROUTE.match(r) for r in routes):
            raise ValueError(
                f"RouterSpec {self.name!r}: routes must be a sequence of 'METHOD /path' strings, "
                f"got {self.routes!r}"
            )

    def provides(self) -> list[str]:
        return list(self.routes) or [self.name]


@dataclass(frozen=True, kw_only=True)
class DatasetSpec(PluginSpec):
    """A source of prompts (``--dataset NAME``).

    The engine calls the factory with keywords only, before the first request::

        factory(*, tokenizer, num_entries, isl_mean, isl_stddev, osl_mean, osl_stddev, seed,
                path=None, **_) -> list[Conversation]

    ``tokenizer`` is the run's :class:`inferload.dataset.Tokenizer`; the lengths come from ``--isl``,
    ``--isl-stddev``, ``--osl`` (``None``: the server decides), ``--osl-stddev``; ``num_entries`` from
    ``--num-dataset-entries``; ``seed`` is the run's seed; ``path`` is ``--input-file`` (or ``None``).
    Accept ``**_`` so new options do not break the plugin. Return :class:`inferload.dataset.Conversation`
    objects with exact ``input_tokens``; raise :class:`inferload.errors.UsageError` for bad input.

    ``input_file`` says the dataset reads ``--input-file`` (it is then required with this dataset, and
    ``--input-file`` without ``--dataset`` picks the one such dataset installed); others refuse it.

    Its own settings are an :class:`OptionsSpec` with ``applies_to=("dataset", (name,))`` (e.g.
    ``--prompt-block-size``): the factory gets each one that is not None as a keyword of the same name,
    and a run that sets one with another dataset stops with a usage error instead of ignoring it.

    ``detect(first)`` (readers of ``--input-file`` only) says whether the file's first JSON object is in
    this dataset's format: ``--input-file`` without ``--dataset`` picks the one reader that recognises
    it, else the one reader without ``detect`` (the generic ``file``). It must not raise.
    """

    category: ClassVar[str] = "dataset"
    factory: Callable[..., list[Conversation]]
    input_file: bool = False
    file_required: bool = True
    """With ``input_file``: False when the dataset also works without a file (synthetic sessions)."""
    sessions: bool = False
    """The dataset makes multi-turn sessions (conversations with ``turns``); the session flags
    (``--conversation-*``, ``--session-*``) apply to it alone."""
    detect: Callable[[Path], bool] | None = None
    """With ``input_file``: whether a file is in this dataset's format (cheap: its first line), so
    ``--input-file`` alone picks it among several readers; None for the plain JSONL reader."""


@dataclass(frozen=True, kw_only=True)
class ArrivalSpec(PluginSpec):
    """When requests start under ``--request-rate`` (``--arrival-pattern NAME``).

    ``factory(rate, rng, smoothness=None, **_)`` gets the rate in requests per second, a seeded
    ``random.Random`` (draw randomness only from it) and ``--arrival-smoothness`` (passed only when given),
    and returns an iterator of inter-arrival gaps in seconds with mean ``1/rate``; the engine adds them up
    into an absolute schedule. Raise :class:`inferload.errors.UsageError` for arguments it cannot use.

    ``smoothness`` says the pattern takes ``--arrival-smoothness`` (then ``--arrival-smoothness`` without
    ``--arrival-pattern`` picks the one such pattern installed); the others refuse it.

    ``timed`` marks a pattern that replays the dataset's own request timestamps instead of drawing gaps: the
    run then has no ``--request-rate`` and ``--concurrency`` is only a cap. Its factory is called as
    ``factory(None, rng, timestamps_ms=[...], speedup=X, start_offset_ms=None|ms, end_offset_ms=None|ms)``
    (one timestamp per dataset entry, in dataset order) and returns the requests to send as
    ``[(entry_index, offset_s), ...]`` in sending order, offsets in seconds from the phase start. A timed
    pattern is picked by ``switch``, a bool option its plugin declares (``"fixed_schedule"``: given
    ``--fixed-schedule`` and no rate, the run uses this pattern); ``run_name(config)`` names the run's load
    in its artifact directory (``fixed_schedule-speedup2``; default: ``switch``) and ``slower`` says how to
    send the schedule slower, for the overload warning (``"lower --fixed-schedule-speedup"``).
    """

    category: ClassVar[str] = "arrival_pattern"
    factory: Callable[..., Any]
    smoothness: bool = False
    timed: bool = False
    switch: str | None = None
    run_name: Callable[[ProfileConfig], str] | None = None
    slower: str = ""


@dataclass(frozen=True, kw_only=True)
class TokenizerSpec(PluginSpec):
    """Counts and produces tokens (``--tokenizer NAME``).

    ``factory(name_or_path)`` gets the ``--tokenizer`` value and returns an
    :class:`inferload.dataset.Tokenizer`: ``name``, ``encode(text)``, ``decode(ids)`` and a cheap
    ``count(text)``. The object travels to the worker processes, so it must pickle.

    ``accepts_paths`` says ``factory`` also takes a tokenizer file path or model name: a ``--tokenizer``
    value that is no registered name goes to the one such tokenizer installed.
    """

    category: ClassVar[str] = "tokenizer"
    factory: Callable[[str], Tokenizer]
    accepts_paths: bool = False


@dataclass(frozen=True, kw_only=True)
class ExecutorSpec(PluginSpec):
    """Where the worker processes run: on this machine (``local``), on a cluster …

    ``factory(config=ProfileConfig)`` returns an executor with ``shared_counter()`` (a process-shared
    integer with ``.value`` and ``.get_lock()``, the next request id) and ``start(target, inits)``, which
    runs ``target(conn, init)`` once per init and returns one handle each, with ``worker_id``, ``conn`` (a
    duplex connection to that worker: ``send``, ``recv``, ``close`` and a ``fileno()`` that
    ``multiprocessing.connection.wait`` can watch), ``pid``, ``join(timeout)`` and ``kill()``.
    ``--executor NAME`` chooses one; the catalogue's default (``local``) otherwise. The contract is
    :class:`inferload.engine.executor.Executor`.

    Its own flags are an :class:`OptionsSpec` with ``applies_to=("executor", (name,))`` (a run with
    another executor that sets one is a usage error); ``check(config=)``, called before anything starts,
    raises UsageError for what this executor cannot do (its extra not installed).
    """

    category: ClassVar[str] = "executor"
    factory: Callable[..., Executor]
    check: Callable[..., None] | None = None


@dataclass(frozen=True, kw_only=True)
class TargetSpec(PluginSpec):
    """A server to benchmark that inferload starts itself when ``inferload profile`` gets no ``--url``.

    ``factory()`` returns a :class:`inferload.target.TargetProvider`: its ``model`` (the model name it
    serves, used when there is no ``--model``) and ``start()``, called once the dataset is built, which
    returns a :class:`inferload.target.RunningTarget` (``url``, ``stop()``). The default target comes from
    the catalogue (the built-in simulator); disabling its plugin means ``--url`` is required.
    """

    category: ClassVar[str] = "target"
    factory: Callable[[], TargetProvider]


@dataclass(frozen=True)
class FamilyMeaning:
    """What one exposed metric family measures (see ``docs/server-metrics.md``).

    ``concept``: the field-standard name (``requests_running``, ``kv_cache_usage``,
    ``time_to_first_token``, ``gpu_power`` …); the client's metric tag where both sides measure it.
    ``unit``: the unit after scaling; ``scale``: multiplier from the exposed unit (1000 for s -> ms).
    """

    concept: str
    unit: str
    description: str
    scale: float = 1.0


@dataclass(frozen=True, kw_only=True)
class ServerMetricMapSpec(PluginSpec):
    """The meaning of a server's Prometheus families (vLLM, SGLang, TGI, TensorRT-LLM, llama.cpp, DCGM).

    ``families`` maps the exposed family name (counters with their ``_total``; histograms by base name)
    to a :class:`FamilyMeaning`. Families no map names are kept raw.
    """

    category: ClassVar[str] = "server_metric_map"
    families: Mapping[str, FamilyMeaning]

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.families:
            raise ValueError(f"server metric map {self.name!r} names no family")


@dataclass(frozen=True, kw_only=True)
class SimulatorRouteSpec(PluginSpec):
    """A route the built-in simulator serves in a plugin's dialect (see :mod:`inferload.simulated`).

    ``parse(body) -> SimulatedRequest`` reads the decoded JSON request body (raise
    :class:`~inferload.simulated.SimulatedRequestError` to refuse it); ``render(output, request)`` returns
    the :class:`~inferload.simulated.SimulatedResponse` that writes the answer. ``error_body(status,
    message)`` gives the dialect's error JSON (None: OpenAI's ``{"error": {...}}``). ``stream_content_type``
    is the streamed response's media type. The ``name`` is the endpoint type the route serves.
    """

    category: ClassVar[str] = "simulator_route"
    path: str
    parse: Callable[[dict[str, Any]], SimulatedRequest]
    render: Callable[[SimulatedOutput, SimulatedRequest], SimulatedResponse]
    method: str = "POST"
    stream_content_type: str = "text/event-stream; charset=utf-8"
    error_body: Callable[[int, str], bytes] | None = None
    generates: bool = True
    """False for an encoder route (embeddings, rerank): the request costs one prefill pass of its prompt
    tokens, is never streamed, and is answered with ``render(output, request).body()`` (``output`` has
    no tokens)."""
    models_path: str | None = None
    """The dialect's model-list route (``GET``), e.g. TGI's ``/info``: the simulator answers it with
    ``models_body(served_model_name)``; None: the dialect lists models at the OpenAI ``/v1/models``."""
    models_body: Callable[[str], bytes] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.path.startswith("/"):
            raise ValueError(f"SimulatorRouteSpec {self.name!r}: path {self.path!r} must start with '/'")

    def provides(self) -> list[str]:
        return [f"{self.method} {self.path}"]


@dataclass(frozen=True, kw_only=True)
class CacheResetSpec(PluginSpec):
    """A server's cache reset: ``method`` (default POST) to ``path`` on the server's base URL, e.g. vLLM's
    ``POST /reset_prefix_cache`` or SGLang's ``POST /flush_cache``. ``--reset-kv-cache`` tries every
    installed one in name order until one answers 2xx; a 404/405 means "not this server"."""

    category: ClassVar[str] = "cache_reset"
    path: str
    method: str = "POST"


@dataclass(frozen=True, kw_only=True)
class SummarySectionSpec(PluginSpec):
    """A block of profile_export.json computed once the last record is in, beside the whole-run metrics
    (e.g. ``steady_state``, ``output_length``).

    ``compute(context)`` gets an :class:`inferload.export.SectionContext` (state, config, registry,
    endpoint type, every record, the bodies sent, the final metrics, the steady-state window) and returns
    a JSON-safe dict (or list), stored as ``summary[name]``, or None to add nothing. Run-scoped plugin
    state (e.g. the final server metrics) is ``context.state.plugin_state(name)``, the load control's
    segments ``context.state.control.segments``. A non-empty string under the block's ``"warning"`` key is
    logged and appended to ``measurement_warnings``. Sections run in name order before any exporter, each
    isolated: one that raises is reported (``client_health.warnings``) and the summary goes on without it.
    """

    category: ClassVar[str] = "summary_section"
    compute: Callable[[SectionContext], dict[str, Any] | list[Any] | None]



@dataclass(frozen=True, kw_only=True)
class RunStateSpec(PluginSpec):
    """State a plugin owns for the length of one run (e.g. the server-metrics store its scraper fills).

    ``create(config, registry)`` is called by the engine once per run, when the RunState is made and
    before any hook sees it; what it returns is the run's ``state.plugin_state(name)`` for routers,
    exporters, summary sections and lifecycle hooks that ask for it by ``name``. A ``create`` that
    raises is reported and its state left out (``plugin_state(name)`` is then None); the run goes on.
    """

    category: ClassVar[str] = "run_state"
    create: Callable[[ProfileConfig, PluginRegistry], Any]


@dataclass(frozen=True, kw_only=True)
class BeforeLoadContext:
    """What a ``before_load`` hook gets: the run between its target's start and its first request.

    ``probe_url`` and ``probe_body`` are the endpoint type's non-streamed URL and its one-token request
    body, ``headers`` the headers every request carries (secrets included: never log them).
    """

    state: RunState
    """The run's state (lifecycle STARTING; no worker started yet)."""
    config: ProfileConfig
    """The validated ProfileConfig, ``url`` the started target's."""
    registry: PluginRegistry
    """The run's plugins (e.g. the ``cache_reset`` specs)."""
    probe_url: str
    probe_body: dict[str, Any]
    headers: dict[str, str]


@dataclass(frozen=True, kw_only=True)
class RequestFlowSpec(PluginSpec):
    """What a worker sends next and how, beyond one prepared prompt per request: multi-turn sessions, a
    trace replay's order, a cancellation timer (:mod:`inferload.engine.flow`, docs/plugins.md).

    ``prepare(context)`` is called once per run in the parent before t=0 with a
    :class:`~inferload.engine.flow.FlowContext` (config, registry, endpoint type and adapter, the dataset's
    conversations, seed). It returns None when the run does not use this flow, else a
    :class:`~inferload.engine.flow.FlowPlan`: reordered conversations, a fixed schedule, the units a phase
    counts, ``inputs.json`` entries, and the picklable part each worker starts and calls directly. It raises
    UsageError for flags that do not fit the run; any other exception ends the run with one line naming the
    plugin. Every installed flow is asked, in name order.

    ``options`` names the core ProfileConfig fields this flow reads; a field of
    :data:`inferload.engine.flow.FLOW_OPTIONS` set while no enabled flow takes it is a usage error (its
    plugin disabled), never a flag silently ignored. Flags of the flow's own belong in its plugin's
    ``register_options``.
    """

    category: ClassVar[str] = "request_flow"
    prepare: Callable[..., Any]
    options: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class RunGuardSpec(PluginSpec):
    """A check that ends a run early when going on would only add failures: the credentials refused, the
    server gone (:mod:`inferload.engine.guards`, docs/plugins.md "Run guards").

    ``create(config)`` (or ``create(config, registry)``, when it takes a second parameter: the run's
    :class:`~inferload.registry.PluginRegistry`) is called once per run in the parent, before the first
    request, and returns a
    :class:`~inferload.engine.guards.RunGuard`: its ``observe(records, now)`` gets every batch of finished
    records, its ``verdict(now)`` is asked every pass of the phase loop and returns None or a
    :class:`~inferload.engine.guards.GuardStop` (one line, exit code). The first stop ends the run: no new
    requests, the ones in flight finish within the grace period, every record is kept, ``is_complete`` is
    false. An optional ``at_end(now)`` has the final word on a phase that ended by itself
    (:class:`~inferload.engine.guards.FinalWord`). A guard that raises (in any of them) is reported and
    dropped; the run goes on. ``--disable-plugin`` turns a guard off.
    """

    category: ClassVar[str] = "run_guard"
    create: Callable[..., RunGuard]


@dataclass(frozen=True, kw_only=True)
class ApiHostSpec(PluginSpec):
    """The server of the live HTTP API (``--api-port``): it serves every ``api_router`` plugin's routes.

    ``factory(registry=..., state=..., host=..., port=...)`` returns an :class:`inferload.api_host.ApiHost`
    for the run's :class:`~inferload.runstate.RunState` on ``host``:``port`` (0: any free port), its routes
    built; a route served twice is a :class:`~inferload.errors.PluginError`. The engine calls ``bind()``
    before the artifact directory is touched, ``start()`` once the workers are ready and ``stop()`` after
    ``--api-linger``. The catalogue's default is used (the built-in FastAPI app on uvicorn); disabling its
    plugin makes ``--api-port`` a usage error naming it.
    """

    category: ClassVar[str] = "api_host"
    factory: Callable[..., ApiHost]


@dataclass(frozen=True, kw_only=True)
class ViewSpec(PluginSpec):
    """A progress view of a running benchmark on the terminal: ``--ui NAME``.

    ``factory(state)`` returns an :class:`inferload.view.ProgressView` reading the
    :class:`~inferload.runstate.RunState`; the phase loop calls its ``update()`` at most every
    ``interval`` seconds (and once at each phase's end) and ``close()`` after the last phase. Without
    ``--ui`` the catalogue's default view is shown; when stderr is not a terminal and the default names a
    ``when_piped`` view that is installed, that one is shown instead (the live bars give way to lines).
    """

    category: ClassVar[str] = "view"
    factory: Callable[[RunState], ProgressView]
    interval: float
    """Seconds between two updates, > 0."""
    when_piped: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.interval > 0:
            raise ValueError(f"ViewSpec {self.name!r}: interval must be > 0 seconds, not {self.interval!r}")


SPEC_TYPES: tuple[type[PluginSpec], ...] = (
    CommandSpec,
    EndpointSpec,
    TransportSpec,
    MetricSpec,
    ExporterSpec,
    RouterSpec,
    DatasetSpec,
    ArrivalSpec,
    TokenizerSpec,
    ExecutorSpec,
    TargetSpec,
    ServerMetricMapSpec,
    SimulatorRouteSpec,
    CacheResetSpec,
    SummarySectionSpec,
    RunStateSpec,
    RequestFlowSpec,
    RunGuardSpec,
    ApiHostSpec,
    ViewSpec,
)
"""Every category, in the order `inferload plugins` lists them."""


@dataclass(frozen=True, kw_only=True)
class OptionsSpec(PluginSpec):
    """Settings of `inferload profile` that one plugin owns (see :mod:`inferload.plugin_options`).

    ``model`` is a pydantic model: each field is one flag (``--num-profile-runs`` for
    ``num_profile_runs``), also read from ``INFERLOAD_<FIELD>`` and the ``-f`` file, with the core's
    precedence (CLI > environment > file > default); its ``description`` is the ``--help`` line, its
    constraints and validators the checks (a ValueError becomes one usage line naming the flag). Annotate a
    field with :class:`inferload.plugin_options.Flag` for a metavar, other spellings or a plain switch.
    ``--help`` lists the fields under ``title`` (default: ``description``), naming the plugin. The plugin
    reads them with ``config.options(model)``. A ``SecretStr`` or secret-named field is never written out,
    URL userinfo is redacted, as for the core's settings.

    ``applies_to`` (``(category, (names…))``, e.g. ``("dataset", ("synthetic",))``): the options only mean
    something when the run uses one of those plugins; set with another, they are refused with one line
    naming the plugin that takes them. ``check(config, options)`` cross-checks them against the whole
    :class:`inferload.config.ProfileConfig` once the run's plugins are chosen; raise ValueError with the
    message for the user. A check that needs the chosen plugins' specs takes a third parameter, the
    :class:`~inferload.registry.PluginRegistry` (``--rerank-documents``: does the endpoint type rank?).
    """

    category: ClassVar[str] = "options"
    model: type[BaseModel]
    title: str = ""
    applies_to: tuple[str, tuple[str, ...]] | None = None
    check: Callable[[ProfileConfig, Any], None] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        from pydantic import BaseModel

        if not (isinstance(self.model, type) and issubclass(self.model, BaseModel)):
            raise ValueError(f"OptionsSpec {self.name!r}: model must be a pydantic BaseModel subclass")
        if not self.model.model_fields:
            raise ValueError(f"OptionsSpec {self.name!r}: model {self.model.__name__} declares no field")
        for name in self.model.model_fields:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise ValueError(f"OptionsSpec {self.name!r}: field {name!r} must be lower_snake_case "
                                 "(it becomes the flag --" + name.replace("_", "-") + ")")

    def provides(self) -> list[str]:
        return ["--" + field.replace("_", "-") for field in self.model.model_fields]


SPEC_TYPES = (*SPEC_TYPES, OptionsSpec)
