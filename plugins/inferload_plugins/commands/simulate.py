"""The built-in simulator as a plugin: the `inferload simulate` command, which runs it until stopped, and
the ``simulator`` target, which `inferload profile` starts when no --url is given (the catalogue's default
target; ``--disable-plugin simulate`` turns both off).

Flags come from the simulator's parameter table (cheap to import); the server itself, pydantic and uvloop
are imported only when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from inferload import hookimpl
from inferload.types import CommandSpec, TargetSpec

if TYPE_CHECKING:
    from inferload.registry import PluginRegistry


@hookimpl
def register_commands() -> list[CommandSpec]:
    return [
        CommandSpec(
            name="simulate",
            description="Run the built-in simulated OpenAI-compatible inference server (no GPU needed)",
            add_arguments=_add_arguments,
            run=_run,
        )
    ]


@hookimpl
def register_targets() -> list[TargetSpec]:
    return [
        TargetSpec(
            name="simulator",
            description="the built-in simulator",
            factory=_embedded_provider,
        )
    ]


def _embedded_provider() -> Any:
    from inferload_plugins.simulator.embedded import EmbeddedProvider

    return EmbeddedProvider()


def _add_arguments(parser: argparse.ArgumentParser, registry: PluginRegistry | None = None) -> None:
    from inferload_plugins.simulator.parameters import PARAMETERS

    routes = ""
    if registry is not None and registry.all("simulator_route"):
        routes = " Routes of other dialects (plugins): " + ", ".join(
            f"{spec.method} {spec.path} ({spec.name})" for spec in registry.all("simulator_route").values()
        ) + "."
    parser.epilog = ("Every flag is also an environment variable INFERLOAD_SIM_<NAME> (e.g. "
                     "INFERLOAD_SIM_MAX_RUNNING_SEQS=8); flags win. Fault header per request: "
                     "X-Inferload-Fault: KIND[:PARAM]." + routes + " See docs/simulator.md.")
    for p in PARAMETERS:
        help_text = f"{p.help} (env {p.env}; default {p.default if p.default not in (None, '') else 'none'})"
        if p.type is bool:
            parser.add_argument(p.flag, dest=p.name, action=argparse.BooleanOptionalAction,
                                default=argparse.SUPPRESS, help=help_text)
        else:
            parser.add_argument(p.flag, dest=p.name, type=str, metavar=p.metavar, default=argparse.SUPPRESS,
                                help=help_text)


def _run(args: argparse.Namespace, registry: PluginRegistry) -> int:
    from pydantic import ValidationError

    from inferload.errors import UsageError
    from inferload_plugins.simulator.config import SimulatorConfig, describe_validation_error
    from inferload_plugins.simulator.parameters import BY_NAME
    from inferload_plugins.simulator.server import run_server

    given = {name: value for name, value in vars(args).items() if name in BY_NAME}
    try:
        config = SimulatorConfig(**given)
    except ValidationError as exc:
        raise UsageError(f"simulate: {describe_validation_error(exc)}") from None

    def announce(url: str) -> None:
        mode = "fast (zero latency)" if config.fast else "performance model"
        print(f"inferload simulate: serving {config.served_model_name!r} on {url} ({mode}); "
              "Ctrl-C to stop", flush=True)

    try:
        return run_server(config, on_ready=announce)
    except OSError as exc:
        raise UsageError(f"simulate: cannot listen on {config.host}:{config.port}: {exc.strerror or exc} "
                         "(pick another --port, or --port 0 for a free one)") from None
    finally:
        sys.stdout.flush()
