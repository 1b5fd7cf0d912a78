"""`inferload profile`: benchmark an OpenAI-compatible server (or the built-in simulator) and write results.

Flags follow AIPerf's names. Every flag is also an ``INFERLOAD_<FLAG>`` environment variable and a key of
the ``-f`` YAML/JSON file; only flags typed on the command line are passed on (argparse defaults are
suppressed), so precedence is CLI > environment > file > default. This module stays cheap to import: the
engine and the simulator are imported only when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from inferload import hookimpl
from inferload.types import EXPORT_LEVELS, CommandSpec, OptionsSpec
from inferload.view import view_choices
from inferload_plugins.sweeps.options import SWEEP_OPTIONS, SweepOptions
from inferload_plugins.sweeps.sweep import single_value, sweep_value

if TYPE_CHECKING:
    from collections.abc import Callable

    from inferload.config import ProfileConfig
    from inferload.registry import PluginRegistry
    from inferload.target import RunningTarget


@hookimpl
def register_commands() -> list[CommandSpec]:
    return [
        CommandSpec(
            name="profile",
            description="Benchmark an inference server: TTFT, ITL, throughput, goodput; writes artifacts",
            add_arguments=add_arguments,
            run=run,
        )
    ]


@hookimpl
def register_options() -> list[OptionsSpec]:
    return [SWEEP_OPTIONS]


_S = argparse.SUPPRESS


def installed(registry: PluginRegistry | None, category: str, fallback: str) -> str:
    """The names registered in ``category`` for help text, the catalogue's default marked: ``chat
    (default), completions, …`` (``fallback`` without a registry, e.g. when a test builds the parser).
    ``CATEGORY:ATTRIBUTE`` (``endpoint:ranks_documents``, a :class:`~inferload.plugin_options.Flag`'s
    ``lists``): only the plugins whose spec has that attribute true, in name order."""
    if registry is None:
        return fallback
    category, _, attribute = category.partition(":")
    specs = registry.all(category)
    if attribute:
        specs = {name: specs[name] for name in sorted(specs) if getattr(specs[name], attribute, False)}
    try:
        default = registry.default(category, choose="").name
    except Exception:  # noqa: BLE001 - no (enabled) default: list the names only
        default = None
    names = [f"{name} (default)" if name == default else name for name in specs]
    return ", ".join(names) or "none installed"


def _piped_view(registry: PluginRegistry | None) -> str:
    """`` (simple)``: the view shown in a pipe without ``--ui``, for the help; "" when there is none."""
    try:
        piped = registry.default("view", choose="").when_piped if registry is not None else None
    except Exception:  # noqa: BLE001 - no (enabled) default view: nothing to name
        piped = None
    return f" ({piped})" if piped else ""


def add_arguments(parser: argparse.ArgumentParser, registry: PluginRegistry | None = None) -> None:
    """Declare the flags (no defaults here: ProfileConfig owns them, so env and file values can apply).
    Lists of choices in the help (endpoint types, transports …) come from ``registry``."""
    parser.add_argument(
        "-f",
        "--config-file",
        dest="config_file",
        default=None,
        metavar="FILE",
        help="YAML or JSON file of settings (flag names as keys); CLI and env override it",
    )
    target = parser.add_argument_group("target")
    target.add_argument(
        "-m", "--model", default=_S, help="model name (default with no --url: the simulator's)"
    )
    target.add_argument(
        "-u",
        "--url",
        default=_S,
        help="server base URL, e.g. http://127.0.0.1:8000 (omitted: start the built-in simulator)",
    )
    target.add_argument("--endpoint-type", default=_S, metavar="NAME",
                        help=installed(registry, "endpoint", "an endpoint plugin (see `inferload plugins`)"))
    target.add_argument(
        "--endpoint",
        default=_S,
        metavar="PATH",
        help="request path instead of the endpoint type's own (e.g. /v2/chat)",
    )
    target.add_argument(
        "--streaming",
        action=argparse.BooleanOptionalAction,
        default=_S,
        help="request streamed responses (needed for TTFT and ITL)",
    )
    target.add_argument(
        "--api-key", default=_S,
        help="sent as 'Authorization: Bearer KEY' (or the endpoint type's own header, e.g. x-api-key); "
        "never written out",
    )
    target.add_argument(
        "-H",
        "--header",
        action="append",
        default=_S,
        metavar="'NAME: VALUE'",
        help="extra request header (repeatable)",
    )
    target.add_argument(
        "--extra-inputs",
        action="append",
        default=_S,
        metavar="K:V|JSON",
        help="extra request body fields, 'key:value' or a JSON object (repeatable)",
    )
    target.add_argument(
        "--use-legacy-max-tokens",
        action=argparse.BooleanOptionalAction,
        default=_S,
        help="chat: ask the output length as 'max_tokens' (default; honoured by every common server); "
        "--no-use-legacy-max-tokens sends 'max_completion_tokens' (AIPerf's default, OpenAI o-series)",
    )
    target.add_argument(
        "--ignore-eos",
        action=argparse.BooleanOptionalAction,
        default=_S,
        help="send 'ignore_eos': true so the server generates the full --osl (vLLM, SGLang, TensorRT-LLM); "
        "strict servers reject it",
    )
    target.add_argument(
        "--request-timeout-seconds",
        type=single_value(float, "--request-timeout-seconds"),
        default=_S,
        metavar="S",
        help="seconds one request may take, first byte out to last byte in (default 600)",
    )
    target.add_argument("--transport", default=_S, metavar="NAME", help="hot-path HTTP client plugin: "
                        + installed(registry, "transport", "see `inferload plugins`"))
    load = parser.add_argument_group("load")
    load.add_argument(
        "--concurrency",
        type=sweep_value(int, "--concurrency"),
        default=_S,
        metavar="N",
        help="requests in flight (hard cap; a list like 1,2,4 sweeps)",
    )
    load.add_argument("--request-rate", type=sweep_value(float, "--request-rate"), default=_S, metavar="RPS",
                      help="requests per second (a list sweeps)")
    load.add_argument("--arrival-pattern", default=_S, metavar="NAME",
                      help=installed(registry, "arrival_pattern", "see `inferload plugins`"))
    load.add_argument(
        "--arrival-smoothness",
        type=single_value(float, "--arrival-smoothness"),
        default=_S,
        metavar="K",
        help="gamma shape",
    )
    load.add_argument(
        "--request-count",
        type=sweep_value(int, "--request-count"),
        default=_S,
        metavar="N",
        help="profiling requests (default 10)",
    )
    load.add_argument(
        "--benchmark-duration",
        type=sweep_value(float, "--benchmark-duration"),
        default=_S,
        metavar="S",
        help="send for S seconds",
    )
    load.add_argument(
        "--benchmark-grace-period",
        type=single_value(float, "--benchmark-grace-period"),
        default=_S,
        metavar="S",
        help="after the duration, wait S s for in-flight requests (default 30)",
    )
    load.add_argument(
        "--warmup-request-count",
        type=sweep_value(int, "--warmup-request-count"),
        default=_S,
        metavar="N",
        help="requests sent first and excluded from metrics",
    )
    load.add_argument(
        "--workers",
        type=single_value(int, "--workers"),
        default=_S,
        metavar="N",
        help="worker processes (default: auto)",
    )
    load.add_argument(
        "--executor",
        default=_S,
        metavar="NAME",
        help="where the worker processes run: "
        + installed(registry, "executor", "an executor plugin (see `inferload plugins`)"),
    )
    data = parser.add_argument_group("dataset")
    data.add_argument(
        "--isl",
        "--synthetic-input-tokens-mean",
        dest="isl",
        type=sweep_value(int, "--isl"),
        default=_S,
        metavar="TOKENS",
        help="input length mean (default 550)",
    )
    data.add_argument(
        "--isl-stddev",
        "--synthetic-input-tokens-stddev",
        dest="isl_stddev",
        type=sweep_value(float, "--isl-stddev"),
        default=_S,
        metavar="TOKENS",
    )
    data.add_argument(
        "--osl",
        "--output-tokens-mean",
        dest="osl",
        type=sweep_value(int, "--osl"),
        default=_S,
        metavar="TOKENS",
        help="output length mean (default: the server decides)",
    )
    data.add_argument(
        "--osl-stddev",
        "--output-tokens-stddev",
        dest="osl_stddev",
        type=sweep_value(float, "--osl-stddev"),
        default=_S,
        metavar="TOKENS",
    )
    data.add_argument(
        "--num-dataset-entries", type=sweep_value(int, "--num-dataset-entries"), default=_S, metavar="N"
    )
    data.add_argument("--random-seed", type=single_value(int, "--random-seed"), default=_S, metavar="N")
    data.add_argument(
        "--tokenizer", default=_S,
        help=installed(registry, "tokenizer", "a tokenizer plugin")
        + ", a tokenizer.json path or a cached HF name",
    )
    data.add_argument(
        "--dataset",
        default=_S,
        metavar="NAME",
        help="dataset plugin: " + installed(registry, "dataset", "see `inferload plugins`"),
    )
    data.add_argument(
        "--input-file",
        default=_S,
        metavar="PATH",
        help='JSONL prompts, one {"text": ...} or {"messages": [...]} per line; implies --dataset file',
    )
    _add_session_arguments(parser)
    out = parser.add_argument_group("results")
    out.add_argument(
        "--goodput", default=_S, metavar="'TAG:VALUE ...'", help="SLOs, e.g. 'time_to_first_token:100'"
    )
    out.add_argument("--artifact-dir", default=_S, metavar="DIR", help="default ./artifacts")
    out.add_argument(
        "--export-level", "--profile-export-level", dest="export_level", choices=EXPORT_LEVELS, default=_S,
        help="records (default): also profile_export.jsonl, a line per request (~1.3 kB each); summary: "
        "the aggregate files and the table only, for long runs (AIPerf's flag)",
    )
    out.add_argument("--run-label", default=_S, metavar="TEXT", help="written as run_info.run_label")
    out.add_argument(
        "--ui",
        choices=view_choices(registry) if registry is not None else None,
        default=_S,
        metavar="NAME",
        help=f"progress view: {installed(registry, 'view', 'a view plugin')} or none; without --ui the "
        "default on a terminal, else the one it names for pipes" + _piped_view(registry),
    )
    api = parser.add_argument_group("live API")
    api.add_argument(
        "--api-port",
        type=single_value(int, "--api-port"),
        default=_S,
        metavar="PORT",
        help="serve the live HTTP API on this port (env INFERLOAD_API_SERVER_PORT)",
    )
    api.add_argument(
        "--api-host",
        default=_S,
        metavar="HOST",
        help="address of the live API (default 127.0.0.1; env INFERLOAD_API_SERVER_HOST)",
    )
    api.add_argument(
        "--api-linger",
        type=single_value(float, "--api-linger"),
        default=_S,
        metavar="S",
        help="keep the API up S seconds after the artifacts are written (default 5; inf)",
    )
    control = parser.add_argument_group("live control and load over time (docs/control.md)")
    control.add_argument(
        "--api-token",
        default=_S,
        metavar="TOKEN",
        help="enable the control routes (/api/control/*), which then need 'Authorization: Bearer TOKEN' "
        "(env INFERLOAD_API_TOKEN); never written out",
    )
    control.add_argument(
        "--api-token-file", default=_S, metavar="FILE", help="read --api-token from FILE's first line"
    )
    control.add_argument(
        "--max-concurrency",
        type=single_value(int, "--max-concurrency"),
        default=_S,
        metavar="N",
        help="highest concurrency a live change may set (PATCH /api/control/load)",
    )
    control.add_argument(
        "--request-rate-ramp-duration",
        type=single_value(float, "--request-rate-ramp-duration"),
        default=_S,
        metavar="S",
        help="ramp the request rate linearly up to --request-rate over S seconds",
    )
    control.add_argument(
        "--concurrency-ramp-duration",
        type=single_value(float, "--concurrency-ramp-duration"),
        default=_S,
        metavar="S",
        help="ramp concurrency from 1 up to --concurrency over S seconds",
    )
    control.add_argument(
        "--load-schedule",
        default=_S,
        metavar="FILE",
        help='JSON array of segments [{"duration": S, "request_rate": R | "concurrency": C}, ...] run in '
        "order (a step or spike test in one run)",
    )
    if registry is not None:
        _add_plugin_options(parser, registry)


def _add_plugin_options(parser: argparse.ArgumentParser, registry: PluginRegistry) -> None:
    """The options the enabled plugins declare (``register_options``), one group per plugin; a flag of a
    disabled plugin is accepted by the parser only to be refused with one line naming the plugin."""
    from inferload.plugin_options import flag_of, option_flag, value_kind

    for name, spec in registry.all("options").items():
        plugin = registry.provider("options", name)
        group = parser.add_argument_group(f"{spec.title or spec.description} (plugin {plugin})")
        for field, info in spec.model.model_fields.items():
            flag, shape = option_flag(field), flag_of(info)
            kind, number = value_kind(info)
            names = (flag, *shape.aliases)
            described = info.description or ""
            if shape.lists:
                described += f" ({installed(registry, shape.lists, 'see `inferload plugins`')})"
            common = {"dest": field, "default": _S, "help": described}
            if kind == "switch":
                action = argparse.BooleanOptionalAction if shape.negatable else "store_const"
                extra = {"const": True} if not shape.negatable else {}
                group.add_argument(*names, action=action, **extra, **common)
                continue
            metavar = shape.metavar or field.rpartition("_")[2].upper()
            if kind == "list":
                group.add_argument(*names, action="append", metavar=metavar, **common)
            elif kind == "choice":
                choices = list(getattr(info.annotation, "__args__", ()))
                group.add_argument(*names, choices=choices, **common)
            elif number is not None:
                parse = (sweep_value if shape.sweep else single_value)(number, flag)
                group.add_argument(*names, type=parse, metavar=metavar, **common)
            else:
                group.add_argument(*names, metavar=metavar, **common)
    disabled = disabled_flags(registry)
    if disabled:
        refused = parser.add_argument_group("options of disabled plugins")
        taken = set(parser._option_string_actions)
        for flag, plugin in disabled.items():
            if flag in taken:  # a core flag the plugin consumes: refused by ProfileConfig.load
                continue
            refused.add_argument(flag, dest=f"_disabled_{flag[2:]}", action=_DisabledOption, nargs="?",
                                 default=_S, help=_S, plugin=plugin)


def disabled_flags(registry: PluginRegistry) -> dict[str, str]:
    """``{flag: plugin}`` for every spelling of the options of the catalogue's plugins that are disabled
    (the catalogue lists each plugin's flags, aliases and ``--no-`` forms under ``options``, checked
    against what the plugin declares by tests/test_plugin_contract.py, and the core flags only it acts
    on under ``consumes``), so using one names the plugin to enable."""
    from inferload.registry import DISABLED

    names = {name for name, info in registry.plugins.items() if info.status == DISABLED}
    if not names:
        return {}
    from inferload_plugins import catalogue  # the package's own plugins.yaml, not another family's module

    return {flag: entry["name"] for entry in catalogue.read_catalogue()
            if entry["name"] in names for flag in (*entry.get("options", ()), *entry.get("consumes", ()))}


def disabled_options(registry: PluginRegistry) -> dict[str, str]:
    """``{option field: plugin}`` of :func:`disabled_flags` (``--prefix-prompt-pool-size`` ->
    ``prefix_prompt_pool_size``): what ``ProfileConfig.load`` refuses from a variable or file key."""
    return {flag[2:].replace("-", "_"): plugin for flag, plugin in disabled_flags(registry).items()}


class _DisabledOption(argparse.Action):
    """A flag of a disabled plugin: refused with one line naming the plugin to enable (exit 2)."""

    def __init__(self, *args: object, plugin: str, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.plugin = plugin

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        from inferload.errors import UsageError
        from inferload.plugin_options import disabled_message

        raise UsageError(disabled_message(str(option_string), self.plugin))


def run(args: argparse.Namespace, registry: PluginRegistry) -> int:
    """Validate the configuration, start the default target (the catalogue's: the built-in simulator) when
    there is no --url, run the engine."""
    from inferload.config import ProfileConfig, flag_name
    from inferload.dataset import resolve_tokenizer
    from inferload.engine.preflight import check_plugins
    from inferload.engine.runner import run_profile
    from inferload.errors import UsageError
    from inferload.plugin_options import declared_options
    from inferload_plugins.sweeps.sweep import expand, split_axes, sweepable_options

    settings = {*ProfileConfig.model_fields, *declared_options(registry, ProfileConfig.model_fields)}
    cli = {name: value for name, value in vars(args).items() if name in settings}
    # list-valued flags, INFERLOAD_ variables or config-file keys: a sweep (each value checked when it runs)
    axes, cli = split_axes(cli, args.config_file, sweepable_options(registry))
    first = {name: values[0] for name, values in axes.items()}
    config = ProfileConfig.load({**cli, **first}, args.config_file, registry=registry,
                                disabled_options=disabled_options(registry)).with_plugin_defaults(registry)
    sweeps = config.options(SweepOptions)
    if sweeps.search_max_load and axes:
        raise UsageError("--search-max-load chooses the loads itself: give one value, not the list for "
                         + ", ".join(flag_name(name) for name in axes))
    variations = expand(axes, sweeps.max_variations) if axes else []
    endpoint, _, _ = check_plugins(config, registry)
    if config.url is not None and not _waits_for_server(config, registry):
        # one connection (for http:// one HEAD /), before any line of the run and the artifact directory:
        # an unreachable --url is one line and exit 1, with nothing left behind (docs/profile.md)
        from inferload.engine.preflight import REACH_TIMEOUT_S, check_reachable

        check_reachable(config.url, min(REACH_TIMEOUT_S, config.request_timeout_seconds))
    if config.url is not None and not config.model:
        # after the cheap checks, before the tokenizer, any target or worker: a plain GET (urllib, not the
        # transport plugin) to the endpoint type's models_path with the run's headers; once for a sweep,
        # whose every variation and trial then uses that model
        from inferload_plugins.commands.model_discovery import model_for_run

        model, note = model_for_run(config, endpoint)
        sys.stderr.write(f"inferload: no --model given: {note}\n")
        config = config.model_copy(update={"model": model})
        cli["model"] = model
    # before any target starts, so a bad --tokenizer fails in a moment, not after a server start
    tokenizer = resolve_tokenizer(registry, config.tokenizer)
    start_target: Callable[[], RunningTarget] | None = None
    if config.url is None:
        spec = registry.default("target", choose="--url URL (the server to benchmark)")
        provider = spec.factory()
        config = config.model_copy(update={"model": config.model or provider.model})
        model = config.model
        cli["model"] = model

        def start_target() -> RunningTarget:
            """Started by the run once its dataset is built, so bad input never starts a server."""
            target = provider.start()
            sys.stderr.write(
                f"inferload: no --url given: started {spec.description} at {target.url} (model {model!r})\n"
            )
            return target

    if not variations and not sweeps.repeated:
        return run_profile(
            config, registry, argv=sys.argv[1:], tokenizer=tokenizer, start_target=start_target
        )
    from inferload_plugins.plotting.options import ReportOptions
    from inferload_plugins.sweeps.load_search import search_max_load
    from inferload_plugins.sweeps.sweep import Sweep, Variation

    report = None
    try:
        wants_report = config.options(ReportOptions).report
    except LookupError:  # the plot command (which declares --report) is disabled
        wants_report = False
    if wants_report:  # each run writes its own; the sweep adds its curves
        from inferload_plugins.plotting.report import write_sweep_report as report
    # with the axes' first values: an axis read from INFERLOAD_ or the file must not be read there again
    sweep = Sweep({**cli, **first}, args.config_file, registry, argv=sys.argv[1:], tokenizer=tokenizer,
                  start_target=start_target, after_summary=report)
    if sweeps.search_max_load:
        return search_max_load(sweep)
    if variations:
        return sweep.run(variations, "sweep")
    return sweep.run([Variation(0, {})], config.stimulus)  # trials of one configuration


def _waits_for_server(config: ProfileConfig, registry: PluginRegistry) -> bool:
    """Whether ``--wait-for-model-timeout`` (an option of whichever enabled plugin declares it: server-prep)
    asks the run to wait for a server that may not be up yet; then an unreachable --url at start is
    expected, and that wait decides."""
    return any(
        getattr(config.options(spec.model), "wait_for_model_timeout", None) is not None
        for spec in registry.all("options").values() if "wait_for_model_timeout" in spec.model.model_fields
    )


def _add_session_arguments(parser: argparse.ArgumentParser) -> None:
    """How many multi-turn sessions a run sends and how many are open at once (docs/profile.md; AIPerf's
    names). The flags that shape the sessions are the dataset's options, those that send them the session
    flow's, mixes the synthetic dataset's and cancellation the cancellation flow's (``register_options``)."""
    group = parser.add_argument_group("multi-turn sessions (docs/datasets.md)")
    for flag, metavar, text in (
        ("--conversation-num", "N", "sessions to send (default: every session of a file; 10 synthetic)"),
        ("--session-concurrency", "N", "hard cap on open sessions (default: --concurrency)"),
    ):
        group.add_argument(flag, type=single_value(int, flag), default=_S, metavar=metavar, help=text)
