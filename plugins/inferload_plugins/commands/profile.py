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
from inferload.sweep import single_value, sweep_value
from inferload.types import CommandSpec

if TYPE_CHECKING:
    from collections.abc import Callable

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


_S = argparse.SUPPRESS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the flags (no defaults here: ProfileConfig owns them, so env and file values can apply)."""
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
    target.add_argument("--endpoint-type", default=_S, help="chat (default), completions, embeddings")
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
        "--api-key", default=_S, help="sent as 'Authorization: Bearer KEY'; never written out"
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
    target.add_argument("--transport", default=_S, help="hot-path HTTP client plugin (default: protocol)")
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
    load.add_argument("--arrival-pattern", default=_S, help="constant, poisson (default) or gamma")
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
        help="where the worker processes run: an executor plugin (default: local, this machine; "
        "ray: actors on a Ray cluster, needs 'inferload[ray]')",
    )
    ray = parser.add_argument_group("--executor ray (docs/scale-out.md)")
    ray.add_argument(
        "--ray-address",
        default=_S,
        metavar="ADDR",
        help="the cluster to join: auto, HOST:PORT or ray://HOST:PORT (default: start a local Ray instance, "
        "shut down at the end)",
    )
    ray.add_argument(
        "--ray-workers",
        type=single_value(int, "--ray-workers"),
        default=_S,
        metavar="N",
        help="worker actors, spread over the nodes (default: one per alive node)",
    )
    ray.add_argument(
        "--ray-worker-resources",
        default=_S,
        metavar="RES",
        help="what each worker actor asks Ray for: 'CPU=1,NAME=AMOUNT' or a JSON object (default CPU=1)",
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
        "--tokenizer", default=_S, help="builtin (default), a tokenizer.json path or a cached HF name"
    )
    data.add_argument(
        "--dataset",
        default=_S,
        metavar="NAME",
        help="dataset plugin: synthetic (default), file, or any installed one (see `inferload plugins`)",
    )
    data.add_argument(
        "--input-file",
        default=_S,
        metavar="PATH",
        help='JSONL prompts, one {"text": ...} or {"messages": [...]} per line; implies --dataset file',
    )
    out = parser.add_argument_group("results")
    out.add_argument(
        "--goodput", default=_S, metavar="'TAG:VALUE ...'", help="SLOs, e.g. 'time_to_first_token:100'"
    )
    out.add_argument("--artifact-dir", default=_S, metavar="DIR", help="default ./artifacts")
    out.add_argument(
        "--report",
        action=argparse.BooleanOptionalAction,
        default=_S,
        help="also write report.html (self-contained, opens offline) and plots/*.png",
    )
    out.add_argument(
        "--ui",
        choices=("none", "simple", "rich"),
        default=_S,
        help="progress view (default: rich on a terminal, else simple)",
    )
    scrape = parser.add_argument_group("server metrics and GPU telemetry (docs/server-metrics.md)")
    scrape.add_argument(
        "--server-metrics",
        action="append",
        default=_S,
        metavar="URL",
        help="also scrape this Prometheus endpoint (repeatable); the target's {url}/metrics is scraped too",
    )
    scrape.add_argument(
        "--no-server-metrics",
        action="store_const",
        const=True,
        default=_S,
        help="scrape no server metrics (neither {url}/metrics nor --server-metrics)",
    )
    scrape.add_argument(
        "--server-metrics-interval",
        type=single_value(float, "--server-metrics-interval"),
        default=_S,
        metavar="S",
        help="seconds between scrapes of each source (default 1)",
    )
    scrape.add_argument(
        "--gpu-telemetry",
        action="append",
        default=_S,
        metavar="URL",
        help="a DCGM exporter's /metrics URL (repeatable): power, utilisation, memory, SM clock per GPU",
    )
    scrape.add_argument(
        "--no-gpu-telemetry",
        action="store_const",
        const=True,
        default=_S,
        help="scrape no GPU telemetry, even if --gpu-telemetry comes from the environment or -f file",
    )
    integrations = parser.add_argument_group("integrations (docs/integrations.md)")
    integrations.add_argument(
        "--otel-url",
        default=_S,
        metavar="URL",
        help="send live and final metrics to this OTLP/HTTP collector (needs 'inferload[otel]')",
    )
    integrations.add_argument(
        "--mlflow-tracking-uri",
        default=_S,
        metavar="URI",
        help="log the run to MLflow: params, metrics, time series, artifacts (needs 'inferload[mlflow]')",
    )
    integrations.add_argument(
        "--mlflow-experiment", default=_S, metavar="NAME", help="MLflow experiment (default inferload)"
    )
    sweep = parser.add_argument_group("sweeps, trials and the SLA search (docs/sweeps.md)")
    sweep.add_argument("--run-label", default=_S, metavar="TEXT", help="written as run_info.run_label")
    sweep.add_argument(
        "--num-profile-runs",
        type=single_value(int, "--num-profile-runs"),
        default=_S,
        metavar="N",
        help="run each variation N times; the summary gives mean, std, confidence interval and CV",
    )
    sweep.add_argument(
        "--confidence-level",
        type=single_value(float, "--confidence-level"),
        default=_S,
        metavar="P",
        help="of the trials' Student-t intervals (default 0.95)",
    )
    sweep.add_argument(
        "--max-variations",
        type=single_value(int, "--max-variations"),
        default=_S,
        metavar="N",
        help="refuse a sweep of more variations (default 64)",
    )
    sweep.add_argument(
        "--search-max-load",
        action=argparse.BooleanOptionalAction,
        default=_S,
        help="find the highest --request-rate (or --concurrency) whose goodput ratio stays at "
        "--search-min-goodput-ratio; needs --goodput",
    )
    sweep.add_argument(
        "--search-min-goodput-ratio",
        type=single_value(float, "--search-min-goodput-ratio"),
        default=_S,
        metavar="R",
        help="share of requests that must meet every SLO (default 0.99)",
    )
    sweep.add_argument(
        "--search-precision",
        type=single_value(float, "--search-precision"),
        default=_S,
        metavar="F",
        help="relative gap the --request-rate bisection stops at (default 0.05; concurrency: 1)",
    )
    server = parser.add_argument_group("a clean, ready server (docs/sweeps.md)")
    server.add_argument(
        "--reset-kv-cache",
        action=argparse.BooleanOptionalAction,
        default=_S,
        help="reset the server's KV/prefix cache before each run (vLLM, SGLang; see `inferload plugins`)",
    )
    server.add_argument(
        "--reset-kv-cache-path",
        default=_S,
        metavar="PATH",
        help="POST this path to reset the cache instead (e.g. /reset_prefix_cache)",
    )
    server.add_argument(
        "--wait-for-model-timeout",
        type=single_value(float, "--wait-for-model-timeout"),
        default=_S,
        metavar="S",
        help="before the first request (and after a reset), wait up to S s until a one-token request "
        "succeeds",
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


def run(args: argparse.Namespace, registry: PluginRegistry) -> int:
    """Validate the configuration, start the default target (the catalogue's: the built-in simulator) when
    there is no --url, run the engine."""
    from inferload.config import ProfileConfig, flag_name
    from inferload.dataset import resolve_tokenizer
    from inferload.engine.preflight import check_plugins
    from inferload.engine.runner import run_profile
    from inferload.errors import UsageError
    from inferload.sweep import expand, split_axes

    cli = {name: value for name, value in vars(args).items() if name in ProfileConfig.model_fields}
    axes, cli = split_axes(cli)  # list-valued flags: a sweep (each value checked when it runs)
    first = {name: values[0] for name, values in axes.items()}
    config = ProfileConfig.load({**cli, **first}, args.config_file).with_plugin_defaults(registry)
    if config.search_max_load and axes:
        raise UsageError("--search-max-load chooses the loads itself: give one value, not the list for "
                         + ", ".join(flag_name(name) for name in axes))
    variations = expand(axes, config.max_variations) if axes else []
    endpoint, _, _ = check_plugins(config, registry)
    if config.url is not None and not config.model:
        # after the cheap checks, before the tokenizer, any target or worker: a plain GET (urllib, not the
        # transport plugin) to the endpoint type's models_path with the run's headers; once for a sweep,
        # whose every variation and trial then uses that model
        from inferload.discovery import discover_model

        model = discover_model(config, endpoint)
        sys.stderr.write(f"inferload: no --model given: using {model!r}, the one model the server lists\n")
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

    if not variations and config.num_profile_runs == 1 and not config.search_max_load:
        return run_profile(
            config, registry, argv=sys.argv[1:], tokenizer=tokenizer, start_target=start_target
        )
    from inferload.load_search import search_max_load
    from inferload.sweep import Sweep, Variation

    sweep = Sweep(cli, args.config_file, registry, argv=sys.argv[1:], tokenizer=tokenizer,
                  start_target=start_target)
    if config.search_max_load:
        return search_max_load(sweep)
    if variations:
        return sweep.run(variations, "sweep")
    return sweep.run([Variation(0, {})], config.stimulus)  # trials of one configuration
