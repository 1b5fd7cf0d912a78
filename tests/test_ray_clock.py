"""Clock offsets of the Ray executor: the NTP-style estimate and how a record is moved onto the driver's
clocks (no Ray needed: the estimate takes any function that answers with a process's clocks)."""

from __future__ import annotations

import time
from time import perf_counter_ns

from inferload.records import RequestRecord
from inferload_plugins.executors.ray_clock import ClockEstimate, measure, read_clocks
from inferload_plugins.executors.ray_link import _to_driver_clock

WALL_OFFSET_NS = 5_000_000
MONO_OFFSET_NS = -3_000_000_000


def _far_clocks() -> tuple[int, int]:
    """A 'worker' whose wall clock runs 5 ms ahead and whose monotonic clock started 3 s later."""
    time.sleep(0.0005)  # a round trip that takes some time, as over a network
    wall, mono = read_clocks()
    return wall + WALL_OFFSET_NS, mono + MONO_OFFSET_NS


def test_clock_estimate_finds_a_known_offset_within_its_own_uncertainty() -> None:
    estimate = measure(_far_clocks, samples=5)
    assert not estimate.same_host
    assert estimate.uncertainty_ns > 0
    assert abs(estimate.wall_offset_ns - WALL_OFFSET_NS) <= estimate.uncertainty_ns
    assert abs(estimate.mono_offset_ns - MONO_OFFSET_NS) <= estimate.uncertainty_ns


def test_clock_estimate_keeps_the_fastest_round_trip() -> None:
    delays = iter([0.02, 0.0, 0.02])

    def answer() -> tuple[int, int]:
        time.sleep(next(delays))
        return read_clocks()

    estimate = measure(answer, samples=3)
    assert estimate.uncertainty_ns < 10_000_000  # the 0-delay sample, not a 20 ms one


def test_a_record_moves_onto_the_driver_clock_with_its_durations_unchanged() -> None:
    start = perf_counter_ns()
    record = RequestRecord(7, "profiling", "worker_0", "c", "x", start - 5, start, start + 900, 1_000_000,
                           16, ack_ns=start + 100, chunk_ns=[start + 200, start + 300],
                           first_answer_ns=start + 300)
    durations = (record.ack_ns - record.start_ns, record.chunk_ns[0] - record.start_ns,
                 record.chunk_ns[1] - record.chunk_ns[0], record.end_ns - record.start_ns,
                 record.start_ns - record.scheduled_ns)
    clock = ClockEstimate(wall_offset_ns=400, mono_offset_ns=MONO_OFFSET_NS, uncertainty_ns=50,
                          same_host=False)
    _to_driver_clock(record, clock)
    assert record.start_ns == start - MONO_OFFSET_NS
    assert record.start_wall_ns == 1_000_000 - 400
    assert (record.ack_ns - record.start_ns, record.chunk_ns[0] - record.start_ns,
            record.chunk_ns[1] - record.chunk_ns[0], record.end_ns - record.start_ns,
            record.start_ns - record.scheduled_ns) == durations
    assert record.first_answer_ns == start + 300 - MONO_OFFSET_NS


def test_a_record_of_the_driver_host_is_not_moved() -> None:
    record = RequestRecord(1, "profiling", "worker_0", "c", "x", 10, 20, 30, 40, 16, chunk_ns=[25])
    _to_driver_clock(record, ClockEstimate())
    assert (record.scheduled_ns, record.start_ns, record.end_ns, record.start_wall_ns, record.chunk_ns) == (
        10, 20, 30, 40, [25]
    )
