"""Wire models of ``GET /api/results``, ``/api/results/list`` and ``/api/results/files/{name}`` (imported
when the router is built; pydantic is not cheap)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class BenchmarkResultsResponse(BaseModel):
    """``GET /api/results``: ``running`` until every artifact is written, then the final results
    (the content of profile_export.json)."""

    status: Literal["running", "complete", "cancelled", "failed"]
    results: dict[str, Any] | None = None
    error: str | None = Field(None, description="Why the run failed, when status is failed")


class ArtifactFile(BaseModel):
    """One artifact file of this run."""

    name: str = Field(description="File name without directories")
    path: str = Field(description="Path relative to the artifact directory; use it to download")
    size: int = Field(description="Size in bytes")
    content_type: str
    modified_ns: int = Field(description="Last modification, wall-clock ns")


class ResultsListResponse(BaseModel):
    """``GET /api/results/list``: the files this run wrote (never another run's files in a reused dir)."""

    files: list[ArtifactFile] = Field(default_factory=list)
    ready: bool = Field(False, description="True once every artifact is written")
    processing: bool = Field(False, description="True while the run is computing and writing results")
    partial: bool = Field(False, description="True when some exporter failed or the run did not complete")
    failed_exporters: list[str] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    """Body of 4xx answers, as FastAPI writes them."""

    detail: str
