"""inferload-hello: a complete third-party inferload plugin in one module.

It registers one thing in each of three categories — the ``hello`` command, the ``hello`` API router
(``GET /api/hello``) and the ``hello`` exporter (``hello.json``) — and is published through one entry point
in the ``inferload.plugins`` group. Heavy imports (FastAPI) happen inside functions, so merely loading the
plugin stays cheap for ``inferload --help``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from inferload import hookimpl
from inferload.types import CommandSpec, ExporterSpec, RouterSpec

DISTRIBUTION = "inferload-hello"
EXPORT_FILENAME = "hello.json"


@hookimpl
def register_commands() -> list[CommandSpec]:
    return [
        CommandSpec(
            name="hello",
            description="Say hello from the inferload-hello example plugin",
            add_arguments=_add_arguments,
            run=_run,
        )
    ]


@hookimpl
def register_api_routers() -> list[RouterSpec]:
    return [
        RouterSpec(
            name="hello",
            description="GET /api/hello: the current run's benchmark id",
            routes=("GET /api/hello",),
            factory=make_router,
        )
    ]


@hookimpl
def register_exporters() -> list[ExporterSpec]:
    return [
        ExporterSpec(
            name="hello",
            description="hello.json: which plugin wrote it and for which benchmark",
            filenames=(EXPORT_FILENAME,),
            export=export_hello,
        )
    ]


def benchmark_id(state: Any) -> str | None:
    """The run's benchmark id, or None while the run state does not carry one yet."""
    return getattr(getattr(state, "run_info", None), "benchmark_id", None)


def make_router(state: Any) -> Any:
    """A FastAPI router reading (never writing) the run state it was given."""
    from fastapi import APIRouter

    router = APIRouter()

    @router.get("/api/hello", summary="Hello from the inferload-hello plugin")
    def hello() -> dict[str, Any]:
        return {"plugin": DISTRIBUTION, "benchmark_id": benchmark_id(state)}

    return router


def export_hello(context: Any) -> list[Path]:
    """Write hello.json into the run's artifact directory and return its path."""
    artifact_dir = Path(context.artifact_dir)
    state = getattr(context, "state", None)
    run_id = benchmark_id(context) or benchmark_id(state)
    path = artifact_dir / EXPORT_FILENAME
    path.write_text(json.dumps({"plugin": DISTRIBUTION, "benchmark_id": run_id}) + "\n", encoding="utf-8")
    return [path]


def _add_arguments(parser: Any) -> None:
    parser.add_argument("--who", default="world", help="whom to greet (default: world)")


def _run(args: Any, registry: Any) -> int:
    from importlib.metadata import version

    others = sorted(name for name in registry.plugins if name != "hello")
    print(f"hello, {args.who}")
    print(f"from {DISTRIBUTION} {version(DISTRIBUTION)}, loaded beside: {', '.join(others) or 'nothing'}")
    return 0
