"""The dataset line a run says at start: what it will send, from what the dataset built.

Request ``i`` of a run takes entry ``i mod N`` of the dataset's ``N`` entries (ids run on across warmup
and profiling), so the line says how many requests go out and how many entries they use:
``dataset synthetic: 20 requests using 20 of the 100 prompts built``, ``dataset synthetic: 250 requests
cycling through the 100 prompts built``, ``dataset synthetic: requests for 60 s cycling through the 100
prompts built``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inferload.engine.schedule import PhasePlan


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def dataset_line(dataset: str, entries: int, phases: Sequence[PhasePlan], sessions: bool) -> str:
    """One line: ``dataset NAME: `` and the requests the run sends out of ``entries`` dataset entries
    (prompts, or conversations when ``sessions``), per phase when there is a warmup.

    A phase whose end is a duration (``count`` None) sends an open number of requests; it is said as
    ``requests for S s``."""
    noun = "conversation" if sessions else "prompt"
    unit = "session" if sessions else "request"
    counts: list[tuple[str, int]] = []
    ids = 0
    open_ended: float | None = None
    for plan in phases:
        count = len(plan.offsets_ns) if plan.offsets_ns is not None else plan.count
        if count is None:
            open_ended = plan.duration_sec
            continue
        ids = max(ids, plan.first_id + count)
        counts.append((plan.phase, count))
    built = _plural(entries, noun)
    each = ", ".join(f"{count:,} {phase}" for phase, count in counts)
    if open_ended is not None:
        head = f"{unit}s for {open_ended:g} s" + (f" after {each}" if counts else "")
        return f"dataset {dataset}: {head} cycling through the {built} built"
    head = _plural(sum(count for _, count in counts), unit) + (f" ({each})" if len(counts) > 1 else "")
    if ids > entries:
        return f"dataset {dataset}: {head} cycling through the {built} built"
    return f"dataset {dataset}: {head} using {ids:,} of the {built} built"
