"""The `inferload` command: a thin shell whose subcommands all come from `command` plugins.

Plugin controls (``--disable-plugin``, ``-p``) are read from the whole argv before any plugin is imported,
because the set of subcommands itself depends on which plugins load.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from inferload import __version__
from inferload.errors import EXIT_RUN_FAILED, EXIT_USAGE, InferloadError

if TYPE_CHECKING:
    from inferload.registry import PluginRegistry

PROG = "inferload"


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the fix, and exit code 2, and no abbreviated long
    options: ``--api-ke`` is an error, not a silent ``--api-key`` that redaction by flag name would miss."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.disabled_plugins: list[str] = []
        """Set by :func:`build_parser`: an unknown command may be one of theirs (they are never imported,
        so which one provides it is unknown), and the error line says so."""

    def error(self, message: str) -> None:  # type: ignore[override]
        if self.disabled_plugins and message.startswith("argument COMMAND: invalid choice"):
            names = ", ".join(self.disabled_plugins)
            message += (f"; plugin(s) {names} are disabled: if one of them provides it, enable it (drop "
                        "--disable-plugin NAME / INFERLOAD_DISABLE_PLUGINS)")
        sys.stderr.write(f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")
        raise SystemExit(EXIT_USAGE)


def plugin_control_parser() -> argparse.ArgumentParser:
    """Options accepted before or after the subcommand.

    Also parses the whole argv before plugins load, so it shares the one-line usage error.
    """
    parent = ArgumentParser(prog=PROG, add_help=False)
    group = parent.add_argument_group("plugin controls")
    group.add_argument("--disable-plugin", action="append", default=[], metavar="NAME",
                       help="do not load this plugin (repeatable; also INFERLOAD_DISABLE_PLUGINS=a,b)")
    group.add_argument("-p", "--plugin", action="append", default=[], metavar="NAME",
                       help="load this plugin even when INFERLOAD_DISABLE_PLUGIN_AUTOLOAD=1 (repeatable)")
    group.add_argument("-v", "--verbose", action="count", default=None,
                       help="debug logging and full tracebacks; -vv also shows third-party libraries' "
                       "INFO/DEBUG (an HTTP client's per-request and wire lines)")
    return parent


def build_parser(registry: PluginRegistry) -> ArgumentParser:
    """The full parser: global options plus one subparser per registered command."""
    controls = plugin_control_parser()
    parser = ArgumentParser(
        prog=PROG,
        description="Benchmark LLM inference servers: time to first token, inter-token latency, "
        "throughput and goodput, live over HTTP while the run goes on.",
        parents=[controls],
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    from inferload.registry import DISABLED

    parser.disabled_plugins = sorted(name for name, info in registry.plugins.items()
                                     if info.status == DISABLED)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    for name, spec in registry.all("command").items():
        sub = subparsers.add_parser(name, help=spec.description, description=spec.description,
                                    parents=[controls])
        add_arguments(spec, sub, registry)
        sub.set_defaults(_command=spec)
    return parser


def add_arguments(spec: Any, parser: argparse.ArgumentParser, registry: PluginRegistry) -> None:
    """Let a command declare its flags: ``add_arguments(parser, registry=registry)`` when its function takes
    a ``registry`` keyword (so help text names what is installed: endpoint types, transports …), else
    ``add_arguments(parser)``."""
    import inspect  # here, not at import time: a Ctrl-C while the command starts stays one line

    if "registry" in inspect.signature(spec.add_arguments).parameters:
        spec.add_arguments(parser, registry=registry)
    else:
        spec.add_arguments(parser)


class _OwnRecordsBelowWarning(logging.Filter):
    """With ``-v``: our own records at every level, a third-party library's (an HTTP client's
    per-request INFO, its wire-level DEBUG) only from WARNING up; ``-vv`` drops this filter."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.name.split(".", 1)[0] in OWN_LOGGERS


OWN_LOGGERS = frozenset({"inferload", "inferload_plugins", "inferload_contrib"})
"""Top-level logger names of this project's packages."""


def configure_logging(verbose: int) -> None:
    """Console logging: warnings by default; ``-v`` (1) our debug, third-party libraries still from
    WARNING up; ``-vv`` (2+) everything. Every console handler gets a :class:`~inferload.redact.SecretFilter`,
    so a third-party record (an HTTP client's ``HTTP Request: GET <url>``) is scrubbed like ours: URL
    userinfo and secret-named query values and fields never reach the console."""
    from inferload.redact import SecretFilter

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(name)s: %(levelname)s: %(message)s" if verbose else "inferload: %(levelname)s: %(message)s",
    )
    logging.getLogger("inferload").setLevel(logging.DEBUG if verbose else logging.INFO)
    if not verbose:  # the run's own timings are for the log file and -v, not what a user acts on
        from inferload.engine.run_log import ConsoleFilter

        for handler in logging.getLogger().handlers:
            handler.addFilter(ConsoleFilter())
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, SecretFilter) and not f.secrets for f in handler.filters):
            handler.addFilter(SecretFilter(()))
        if verbose == 1 and not any(isinstance(f, _OwnRecordsBelowWarning) for f in handler.filters):
            handler.addFilter(_OwnRecordsBelowWarning())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    early, _ = plugin_control_parser().parse_known_args(argv)
    verbose = int(early.verbose or 0)
    configure_logging(verbose)
    try:
        from inferload.registry import LoadRules, load_plugins

        registry = load_plugins(LoadRules.from_env(disabled=early.disable_plugin, requested=early.plugin))
        parser = build_parser(registry)
        args = parser.parse_args(argv)
        spec = getattr(args, "_command", None)
        if spec is None:
            parser.print_help()
            return EXIT_USAGE
        return int(spec.run(args, registry) or 0)
    except InferloadError as exc:
        if verbose:
            traceback.print_exc()
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt as exc:
        sys.stderr.write(f"{PROG}: interrupted\n")
        return getattr(exc, "exit_code", 130)
    except Exception as exc:  # noqa: BLE001 - one line for the user, the traceback with --verbose
        if _interrupted(exc):  # Ctrl+C inside an import, which Python may wrap (RuntimeError …)
            sys.stderr.write(f"{PROG}: interrupted\n")
            return 130
        if verbose:
            traceback.print_exc()
        from inferload.redact import redact_text  # an unexpected error may quote a URL or a header

        message = redact_text(f"{type(exc).__name__}: {exc}")
        sys.stderr.write(f"{PROG}: error: {message} (run with --verbose for details)\n")
        return EXIT_RUN_FAILED


def _interrupted(exc: BaseException) -> bool:
    """True when ``exc`` was caused by a KeyboardInterrupt somewhere in its chain."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False
