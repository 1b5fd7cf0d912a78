"""The options of sweeps, repeated trials and the SLA search (docs/sweeps.md), declared by the profile
command that runs them (``register_options``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, Field

from inferload.plugin_options import Flag
from inferload.types import OptionsSpec

if TYPE_CHECKING:
    from inferload.config import ProfileConfig


class SweepOptions(BaseModel):
    """``--num-profile-runs``, ``--confidence-level``, ``--max-variations`` and the ``--search-*`` flags."""

    num_profile_runs: Annotated[int, Flag(metavar="N")] = Field(
        1, ge=1, description="run each variation N times; the summary gives mean, std, confidence interval "
        "and CV (AIPerf's name)")
    confidence_level: Annotated[float, Flag(metavar="P")] = Field(
        0.95, gt=0, lt=1, description="of the trials' Student-t intervals (default 0.95)")
    max_variations: Annotated[int, Flag(metavar="N")] = Field(
        64, ge=1, description="refuse a sweep of more variations (default 64)")
    search_max_load: bool = Field(
        False, description="find the highest --request-rate (or --concurrency) whose goodput ratio stays at "
        "--search-min-goodput-ratio; needs --goodput")
    search_min_goodput_ratio: Annotated[float, Flag(metavar="R")] = Field(
        0.99, gt=0, le=1, description="share of requests that must meet every SLO (default 0.99)")
    search_precision: Annotated[float, Flag(metavar="F")] = Field(
        0.05, gt=0, lt=1,
        description="relative gap the --request-rate bisection stops at (default 0.05; concurrency: 1)")

    @property
    def repeated(self) -> bool:
        """Whether one configuration runs more than once (trials or the search)."""
        return self.num_profile_runs > 1 or self.search_max_load


def check_sweep_options(config: ProfileConfig, options: SweepOptions) -> None:
    """The search needs SLOs to search against, and a load it may vary."""
    if not options.search_max_load:
        return
    if config.goodput is None:
        raise ValueError("--search-max-load needs --goodput SLOs ('time_to_first_token:500 ...')")
    if config.timed_load is not None:
        raise ValueError("--search-max-load varies --request-rate or --concurrency, but a --fixed-schedule "
                         "replay's load is the trace's; replay at several --fixed-schedule-speedup values")


SWEEP_OPTIONS = OptionsSpec(
    name="sweeps", description="Sweeps, trials and the SLA search", model=SweepOptions,
    title="sweeps, trials and the SLA search (docs/sweeps.md)", check=check_sweep_options,
)
