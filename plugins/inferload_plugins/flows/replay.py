"""``--fixed-schedule`` (request flow ``replay``): which dataset entries a replay sends, in which order,
and when.

The timed arrival pattern (an :class:`~inferload.types.ArrivalSpec` with ``timed``) turns the dataset's
request timestamps into ``(entry, offset)`` pairs: it owns the window, the speed-up and the origin. This
module only asks it, puts the chosen conversations in sending order (request id ``i`` is entry ``i`` of
that order, so the schedule and the payloads line up whatever the worker count) and cuts the offsets by
``--request-count`` and ``--benchmark-duration``. All of it happens before the first request; the workers
send the schedule with their own rate loop, so the flow hands them nothing.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from inferload import hookimpl
from inferload.engine.flow import FlowPlan
from inferload.errors import UsageError
from inferload.types import RequestFlowSpec
from inferload_plugins.shared.fixed_schedule_options import FixedScheduleOptions

if TYPE_CHECKING:
    from inferload.config import ProfileConfig
    from inferload.dataset import Conversation
    from inferload.engine.flow import FlowContext
    from inferload.registry import PluginRegistry


@hookimpl
def register_request_flows() -> list[RequestFlowSpec]:
    return [RequestFlowSpec(name="replay", description="--fixed-schedule: a trace's requests in their order "
                            "at their timestamps", prepare=prepare_replay)]


def prepare_replay(context: FlowContext) -> FlowPlan | None:
    """The replay's conversations in sending order and its schedule, cut by ``--request-count`` and
    ``--benchmark-duration``; None when no timed arrival pattern sends the run (no ``--fixed-schedule``)."""
    config = context.config
    if config.timed_load is None:
        return None
    replay = plan_replay(config, context.registry, context.conversations, context.seed)
    offsets = cut_replay(replay.offsets_ns, config.request_count, config.benchmark_duration)
    return FlowPlan(conversations=replay.conversations, offsets_ns=offsets)


@dataclass(frozen=True)
class Replay:
    """The conversations a fixed schedule sends, in sending order, and each one's start offset (ns from
    the phase start, non-decreasing)."""

    conversations: list[Conversation]
    offsets_ns: list[int]


def plan_replay(
    config: ProfileConfig, registry: PluginRegistry, conversations: Sequence[Conversation], seed: int
) -> Replay:
    """Ask the timed arrival pattern for the replay of ``conversations``.

    Raises UsageError when an entry has no timestamp (the dataset is not a trace), when the window holds
    no request, or when the pattern returns something that is not a schedule of dataset entries.
    """
    missing = next((c for c in conversations if c.timestamp_ms is None), None)
    if missing is not None:
        raise UsageError(
            "--fixed-schedule needs a request timestamp on every dataset entry, and "
            f"{missing.conversation_id} of --dataset {config.effective_dataset} has none; use a trace "
            "(--dataset mooncake_trace --input-file FILE) or drop --fixed-schedule"
        )
    spec = registry.get("arrival_pattern", config.effective_arrival_pattern)
    options = _options(config)
    timestamps = [float(c.timestamp_ms) for c in conversations]  # type: ignore[arg-type]
    pairs = spec.factory(
        None,
        random.Random(seed ^ 0x5EED),
        timestamps_ms=timestamps,
        speedup=1.0 if options.fixed_schedule_speedup is None else options.fixed_schedule_speedup,
        start_offset_ms=options.fixed_schedule_start_offset,
        end_offset_ms=options.fixed_schedule_end_offset,
    )
    chosen: list[Conversation] = []
    offsets: list[int] = []
    for index, offset_s in pairs:
        if not 0 <= index < len(conversations):
            raise UsageError(f"arrival pattern {spec.name} scheduled entry {index} of {len(conversations)}")
        offset_ns = round(offset_s * 1e9)
        if offset_ns < 0 or (offsets and offset_ns < offsets[-1]):
            raise UsageError(f"arrival pattern {spec.name} returned offsets out of order at entry {index}")
        chosen.append(conversations[index])
        offsets.append(offset_ns)
    if not chosen:
        raise UsageError(
            f"the --fixed-schedule window {_window(config)} holds none of the {len(conversations)} requests "
            f"(timestamps {min(timestamps):g} .. {max(timestamps):g} ms); widen it"
        )
    return Replay(chosen, offsets)


def cut_replay(offsets_ns: Sequence[int], count: int | None, duration_sec: float | None) -> list[int]:
    """The replay's offsets up to ``--request-count`` requests, or before ``--benchmark-duration`` s.
    Raises UsageError when the duration ends before the first request is due."""
    kept = list(offsets_ns if count is None else offsets_ns[:count])
    if duration_sec is not None:
        limit = int(duration_sec * 1e9)
        kept = [offset for offset in kept if offset < limit]
        if not kept:
            raise UsageError(
                f"--benchmark-duration {duration_sec:g} s ends before the replay's first request is due "
                f"({offsets_ns[0] / 1e9:g} s in); lengthen it or move --fixed-schedule-start-offset"
            )
    return kept


def _options(config: ProfileConfig) -> FixedScheduleOptions:
    """The replay's speed-up and window (declared by the timed arrival pattern's plugin; their defaults when
    another plugin's timed pattern runs)."""
    try:
        return config.options(FixedScheduleOptions)
    except LookupError:
        return FixedScheduleOptions()


def _window(config: ProfileConfig) -> str:
    options = _options(config)
    start, end = options.fixed_schedule_start_offset, options.fixed_schedule_end_offset
    return f"[{'first' if start is None else f'{start:g} ms'} .. {'last' if end is None else f'{end:g} ms'}]"
