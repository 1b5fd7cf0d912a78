"""The options of a trace replay (``--fixed-schedule``, ``--fixed-schedule-speedup``,
``--fixed-schedule-start-offset``, ``--fixed-schedule-end-offset``; AIPerf's names and units,
docs/datasets.md): declared by the timed arrival pattern's plugin (``arrival-fixed-schedule``, which turns
the dataset's timestamps into the schedule), read by it and by the replay flow (``flow-replay``, which asks
it for the schedule).

``--fixed-schedule`` picks the timed arrival pattern (:attr:`inferload.types.ArrivalSpec.switch`); the core
then knows only that the run's schedule is timed (:attr:`inferload.config.ProfileConfig.timed_schedule`).
What a replay cannot be combined with is :func:`check_fixed_schedule`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, Field

from inferload.plugin_options import Flag, option_flag
from inferload.types import OptionsSpec

if TYPE_CHECKING:
    from inferload.config import ProfileConfig

SWITCH = "fixed_schedule"
"""The option that picks the timed arrival pattern (``--fixed-schedule``)."""


class FixedScheduleOptions(BaseModel):
    """Whether to replay the dataset's timestamps, how fast, and which window of them."""

    fixed_schedule: Annotated[bool, Flag(negatable=False)] = Field(
        False, description="send each request at its dataset timestamp, relative to the first "
        "(--dataset mooncake_trace)")
    fixed_schedule_speedup: Annotated[float | None, Flag(metavar="X")] = Field(
        None, gt=0, description="replay X times faster (default 1; 0.5 is half speed)")
    fixed_schedule_start_offset: Annotated[float | None, Flag(metavar="MS")] = Field(
        None, ge=0, description="replay only requests at or after this trace timestamp (ms); it becomes time "
        "zero")
    fixed_schedule_end_offset: Annotated[float | None, Flag(metavar="MS")] = Field(
        None, ge=0, description="replay only requests at or before this trace timestamp (ms)")


def check_fixed_schedule(config: ProfileConfig, options: FixedScheduleOptions) -> None:
    """ValueError for what a replay cannot be combined with: its options without ``--fixed-schedule``, a
    rate, a load that changes (``--load-schedule``, ramps, ``--api-token``, ``--max-concurrency``), a warmup,
    a window that ends before it starts."""
    if not options.fixed_schedule:
        for name in ("fixed_schedule_speedup", "fixed_schedule_start_offset", "fixed_schedule_end_offset"):
            if getattr(options, name) is not None:
                raise ValueError(f"{option_flag(name)} needs --fixed-schedule")
        return
    conflicts = (
        (config.concurrency_ramp_duration is not None, "--concurrency-ramp-duration ramps a "
         "concurrency-driven run; a --fixed-schedule replay sends at the trace's timestamps: drop the ramp"),
        (config.max_concurrency is not None, "--max-concurrency bounds a concurrency-driven run; with "
         "--fixed-schedule the cap is --concurrency"),
        (config.load_schedule is not None, "give either --fixed-schedule (the dataset's timestamps) or "
         f"--load-schedule {config.load_schedule}, not both"),
        (config.request_rate is not None, "give either --fixed-schedule (the dataset's timestamps) or "
         "--request-rate, not both"),
        (config.api_token is not None, "--api-token changes the load while a run runs, but a "
         "--fixed-schedule replay's load is the trace's; drop it, or replay at another "
         "--fixed-schedule-speedup"),
        (bool(config.warmup_request_count), "--warmup-request-count does not apply with --fixed-schedule: "
         "the trace is replayed as recorded; cut a window with --fixed-schedule-start-offset instead"),
    )
    conflict = next((message for found, message in conflicts if found), None)
    if conflict is not None:
        raise ValueError(conflict)
    start, end = options.fixed_schedule_start_offset, options.fixed_schedule_end_offset
    if start is not None and end is not None and end < start:
        raise ValueError(f"--fixed-schedule-end-offset {end:g} ms is before "
                         f"--fixed-schedule-start-offset {start:g} ms; give a window whose end is not "
                         "before its start")


def run_name(config: ProfileConfig) -> str:
    """The replay's load as the artifact directory names it: ``fixed_schedule``, ``fixed_schedule-speedup2``
    (``-concurrencyN`` is the core's)."""
    speedup = config.options(FixedScheduleOptions).fixed_schedule_speedup
    return "fixed_schedule" + (f"-speedup{speedup:g}" if speedup not in (None, 1) else "")


FIXED_SCHEDULE_OPTIONS = OptionsSpec(
    name="fixed-schedule", description="Trace replay at the dataset's timestamps", model=FixedScheduleOptions,
    check=check_fixed_schedule, title="trace replay (docs/datasets.md)")
"""The replay's :class:`~inferload.types.OptionsSpec`, registered by the timed arrival pattern's plugin."""
