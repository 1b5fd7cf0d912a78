"""Per-turn metrics of multi-turn sessions: TTFT of first turns apart from TTFT of later turns.

A later turn's prompt starts with everything its session sent and received before, so a server with prefix
caching answers it faster than its length suggests; the gap between the two metrics shows that effect.
Requests outside sessions (``turn_index`` None) have neither. docs/metrics.md, "Sessions".
"""

from __future__ import annotations

from inferload import hookimpl
from inferload.records import RequestRecord
from inferload.stats import ns_to
from inferload.types import MetricSpec

MS = "ms"


def time_to_first_token_first_turn(record: RequestRecord) -> float | None:
    """TTFT of a session's first turn (``turn_index`` 0)."""
    return _ttft(record) if record.turn_index == 0 else None


def time_to_first_token_later_turns(record: RequestRecord) -> float | None:
    """TTFT of a session's second and later turns (``turn_index`` >= 1)."""
    return _ttft(record) if record.turn_index else None


def _ttft(record: RequestRecord) -> float | None:
    return ns_to(record.chunk_ns[0] - record.start_ns, MS) if record.chunk_ns else None


@hookimpl
def register_metrics() -> list[MetricSpec]:
    return [
        MetricSpec(
            name="time_to_first_token_first_turn", header="TTFT First Turn", unit=MS, kind="record",
            description="TTFT of each session's first turn", compute=time_to_first_token_first_turn,
            requires=("streaming",), display_order=130,
        ),
        MetricSpec(
            name="time_to_first_token_later_turns", header="TTFT Later Turns", unit=MS, kind="record",
            description="TTFT of each session's second and later turns",
            compute=time_to_first_token_later_turns, requires=("streaming",), display_order=131,
        ),
    ]
