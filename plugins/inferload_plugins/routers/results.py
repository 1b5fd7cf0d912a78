"""GET /api/results, /api/results/list and /api/results/files/{filename} — this run's results and files.

Only files the engine recorded in ``state.artifact_files`` exist as far as this API is concerned: a reused
artifact directory may hold another run's files, and those are never listed, served or reported ready.
``/api/results`` says ``running`` until the engine marks the artifacts written, then ``complete``
(``cancelled``/``failed``) with the final results.

A download name is checked before anything touches the disk: it must be a plain relative path (no ``..``,
no absolute path, no backslash, no NUL, no percent-encoding left after the server's one decoding, which
catches double encoding), and it must resolve — symlinks followed — inside the artifact directory. Any
violation is 400; a well-formed name that is not one of this run's files is 404.
"""

# No `from __future__ import annotations`: FastAPI must see the real Annotated[...] of the download
# route's parameter, whose types are imported inside make_router to keep this module cheap to import.
import mimetypes
from pathlib import Path, PurePosixPath
from typing import Annotated, Any
from urllib.parse import unquote

from inferload import hookimpl
from inferload.types import RouterSpec

ROUTES = ("GET /api/results", "GET /api/results/list", "GET /api/results/files/{filename:path}")

CONTENT_TYPES = {
    ".json": "application/json",
    ".jsonl": "application/x-ndjson",
    ".csv": "text/csv; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".log": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".parquet": "application/vnd.apache.parquet",
}


ARTIFACT_NAME_PATTERN = r"^[^./\\%:\x00-\x1f][^/\\%:\x00-\x1f]*(/[^./\\%:\x00-\x1f][^/\\%:\x00-\x1f]*)*$"
"""What a download name looks like (documented in OpenAPI); :func:`check_name` enforces the safety rules."""


class ForbiddenName(ValueError):
    """A download name that tries to leave the artifact directory (answered with 400)."""


@hookimpl
def register_api_routers() -> list[RouterSpec]:
    return [
        RouterSpec(
            name="api-results",
            description="GET /api/results, /api/results/list, /api/results/files/{filename}: results, files",
            routes=ROUTES,
            factory=make_router,
        )
    ]


def make_router(state: Any) -> Any:
    from fastapi import APIRouter, HTTPException
    from fastapi import Path as PathParam
    from fastapi.responses import FileResponse

    from inferload_plugins.routers.results_models import (
        BenchmarkResultsResponse,
        ErrorResponse,
        ResultsListResponse,
    )

    router = APIRouter(tags=["results"])

    @router.get(
        "/api/results",
        response_model=BenchmarkResultsResponse,
        summary="Final results (BenchmarkResultsResponse)",
        description="`running` (results null) until every artifact is written, then `complete`, "
        "`cancelled` or `failed` with the content of profile_export.json.",
    )
    async def get_results() -> BenchmarkResultsResponse:
        return results_view(state)

    @router.get(
        "/api/results/list",
        response_model=ResultsListResponse,
        summary="Artifact files of this run (ResultsListResponse)",
        description="Files this run wrote, with sizes; nested files have paths relative to the artifact "
        "directory. Files of other runs in a reused directory are never listed.",
    )
    async def list_results() -> ResultsListResponse:
        return list_view(state)

    @router.get(
        "/api/results/files/{filename:path}",
        response_class=FileResponse,
        response_model=None,
        summary="Download one artifact file",
        description="Streams the file with its content type and a Content-Disposition. `filename` is a "
        "path relative to the artifact directory as listed by /api/results/list.",
        responses={
            200: {"description": "the file, typed by its extension (application/json, text/csv, "
                  "application/x-ndjson, text/plain …)",
                  "content": {"*/*": {}}},
            400: {"model": ErrorResponse, "description": "the name leaves the artifact directory"},
            404: {"model": ErrorResponse, "description": "not a file of this run"},
        },
    )
    async def download(
        filename: Annotated[str, PathParam(
            description="Path relative to the artifact directory, as listed by /api/results/list. Names "
            "with '..', '.', empty segments, a leading '/', backslashes, control characters or leftover "
            "percent-encoding are refused with 400.",
            examples=["profile_export.json"],
            json_schema_extra={"pattern": ARTIFACT_NAME_PATTERN},  # documented, enforced by check_name
        )],
    ) -> FileResponse:
        try:
            path, relative = resolve_artifact(state, filename)
        except ForbiddenName as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        except FileNotFoundError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None
        return FileResponse(path, media_type=content_type(relative), filename=PurePosixPath(relative).name,
                            content_disposition_type="attachment")

    return router


def results_view(state: Any) -> Any:
    from inferload_plugins.routers.results_models import BenchmarkResultsResponse

    lifecycle = str(getattr(state.lifecycle, "value", state.lifecycle))
    if not state.artifacts_ready:
        # A run that failed before writing anything will never leave "running" otherwise.
        if lifecycle == "failed":
            return BenchmarkResultsResponse(status="failed", results=None, error=_safe_error(state))
        return BenchmarkResultsResponse(status="running", results=None)
    status = lifecycle if lifecycle in ("cancelled", "failed") else "complete"
    return BenchmarkResultsResponse(status=status, results=state.results,
                                    error=_safe_error(state) if status == "failed" else None)


def _safe_error(state: Any) -> str | None:
    """The run's error message, scrubbed of its secrets once more (the engine should have done it)."""
    from inferload.export import secret_values
    from inferload.redact import redact_text

    if state.error is None:
        return None
    return redact_text(str(state.error), secret_values(state.config))


def list_view(state: Any) -> Any:
    from inferload_plugins.routers.results_models import ArtifactFile, ResultsListResponse

    files = []
    recorded = run_files(state)
    for relative in recorded:
        try:
            path, _ = resolve_artifact(state, relative, recorded)
            info = path.stat()
        except (ForbiddenName, OSError):
            continue  # listed by the engine but gone, or pointing outside: not served, so not listed
        files.append(ArtifactFile(name=PurePosixPath(relative).name, path=relative, size=info.st_size,
                                  content_type=content_type(relative), modified_ns=info.st_mtime_ns))
    lifecycle = str(getattr(state.lifecycle, "value", state.lifecycle))
    ready = bool(state.artifacts_ready)
    return ResultsListResponse(
        files=files,
        ready=ready,
        processing=not ready and lifecycle in ("completing", "cancelled"),  # a cancelled run still exports
        partial=ready and (bool(state.failed_exporters) or lifecycle in ("cancelled", "failed")),
        failed_exporters=list(state.failed_exporters),
    )


def run_files(state: Any) -> list[str]:
    """This run's artifact paths, relative and POSIX-style, in the order the engine recorded them."""
    root = Path(state.artifact_dir)
    out: list[str] = []
    for entry in list(state.artifact_files):
        path = Path(entry)
        if path.is_absolute():
            for base in (root, root.resolve()):
                if path.is_relative_to(base):
                    path = path.relative_to(base)
                    break
            else:
                continue
        relative = path.as_posix()
        if relative not in out:
            out.append(relative)
    return out


def check_name(filename: str) -> str:
    """The name as a clean relative POSIX path, or ForbiddenName saying what is wrong with it."""
    shown = filename.encode("unicode_escape").decode("ascii")
    if not filename:
        raise ForbiddenName("empty file name")
    if "\x00" in filename or any(ord(ch) < 32 for ch in filename):
        raise ForbiddenName(f"invalid file name {shown!r}: control characters")
    if "\\" in filename:
        raise ForbiddenName(f"invalid file name {shown!r}: backslashes are not path separators here")
    if "%" in filename and unquote(filename) != filename:
        raise ForbiddenName(f"invalid file name {shown!r}: still percent-encoded after decoding")
    if filename.startswith("/") or (len(filename) > 1 and filename[1] == ":"):
        raise ForbiddenName(f"invalid file name {shown!r}: absolute paths are not allowed")
    parts = filename.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ForbiddenName(f"invalid file name {shown!r}: '..', '.' and empty segments are not allowed")
    return "/".join(parts)


def resolve_artifact(state: Any, filename: str, recorded: list[str] | None = None) -> tuple[Path, str]:
    """(real path, relative name) of one of this run's files (``recorded``: :func:`run_files`, if known).

    ForbiddenName if the name or its resolved target leaves the artifact directory; FileNotFoundError if
    it is not a file this run wrote (or it is gone).
    """
    relative = check_name(filename)
    files = run_files(state) if recorded is None else recorded
    if relative not in files and "/" not in relative:
        # a bare name (the list's ``name``, e.g. inferload.log) of exactly one file in a subdirectory
        matches = [path for path in files if PurePosixPath(path).name == relative]
        relative = matches[0] if len(matches) == 1 else relative
    root = Path(state.artifact_dir).resolve()
    target = (root / relative).resolve()
    if not target.is_relative_to(root):
        raise ForbiddenName(f"invalid file name {filename!r}: resolves outside the artifact directory")
    if relative not in files or not target.is_file():
        raise FileNotFoundError(f"no artifact {relative!r} in this run (see /api/results/list)")
    return target, relative


def content_type(name: str) -> str:
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in CONTENT_TYPES:
        return CONTENT_TYPES[suffix]
    return mimetypes.guess_type(name)[0] or "application/octet-stream"
