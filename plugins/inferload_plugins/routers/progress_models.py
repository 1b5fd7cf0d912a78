"""Wire models of ``GET /api/progress`` (imported when the router is built; pydantic is not cheap).

One concept, one definition: :class:`PhaseProgressModel` is derived from the engine's
:class:`inferload.runstate.PhaseProgress` — every state field, with its type and default, taken from the
dataclass — plus what the route computes at request time. A field added to the state appears on the wire
without an edit here.
"""

from __future__ import annotations

import dataclasses
from typing import Any, get_type_hints

from pydantic import BaseModel, Field, create_model

from inferload.load_control import LoadStatus
from inferload.runstate import PhaseProgress


def _state_fields(state_type: type) -> dict[str, Any]:
    hints = get_type_hints(state_type)
    return {
        f.name: (hints[f.name], ... if f.default is dataclasses.MISSING else f.default)
        for f in dataclasses.fields(state_type)
    }


PhaseProgressModel = create_model(
    "PhaseProgressModel",
    __doc__="Progress of one phase (``warmup`` or ``profiling``): the engine's PhaseProgress plus rates "
    "computed at request time. Times are wall-clock ns since the epoch.",
    **_state_fields(PhaseProgress),
    phase_name=(str, ...),
    phase_kind=(str, Field(description="warmup or profiling")),
    final_requests_sent=(int | None, Field(None, description="Set once the phase has finished")),
    final_requests_completed=(int | None, None),
    final_requests_cancelled=(int | None, None),
    final_request_errors=(int | None, None),
    requests_per_second=(float | None, Field(None, description="Completed requests per second so far")),
    requests_eta_sec=(float | None, Field(None, description="Estimated seconds until the phase ends")),
    percent=(float | None, Field(None, description="0-100, by request count or else by elapsed duration")),
    elapsed_sec=(float, 0.0),
    last_update_ns=(int | None, None),
)


def phase_progress_model(name: str, progress: PhaseProgress, now_ns: int) -> BaseModel:
    """The wire model of one phase at ``now_ns``: the state as it is, plus the derived figures."""
    done = progress.finished
    return PhaseProgressModel(
        **dataclasses.asdict(progress),
        phase_name=name,
        phase_kind="warmup" if progress.phase.startswith("warmup") else "profiling",
        final_requests_sent=progress.requests_sent if done else None,
        final_requests_completed=progress.requests_completed if done else None,
        final_requests_cancelled=progress.requests_cancelled if done else None,
        final_request_errors=progress.request_errors if done else None,
        requests_per_second=progress.requests_per_second(now_ns),
        requests_eta_sec=progress.eta_sec(now_ns),
        percent=progress.percent(now_ns),
        elapsed_sec=progress.elapsed_sec(now_ns),
        last_update_ns=now_ns,
    )


class WorkerCounts(BaseModel):
    """How many worker processes exist and how many are sending."""

    ready: int = 0
    total: int = 0


class ProgressResponse(BaseModel):
    """``GET /api/progress``: per-phase request progress and the run's lifecycle state."""

    phases: dict[str, PhaseProgressModel] = Field(default_factory=dict)  # type: ignore[valid-type]
    workers: WorkerCounts = Field(default_factory=WorkerCounts)
    results_exported: bool = Field(False, description="True once every artifact is written")
    system_state: str = Field(
        description="created, starting, running, completing, complete, cancelled or failed"
    )
    load: LoadStatus | None = Field(None, description="The load target in force and the load segments so far")
    sweep: dict[str, Any] | None = Field(
        None,
        description="During a sweep or repeated trials: sweep_id, variation_index, variation_count, "
        "variation_label, variation_values, trial, num_trials, variations_done; null for a single run",
    )
