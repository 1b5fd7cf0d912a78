"""Chunk timestamps from the kernel's receive time (docs/metrics.md, "When a chunk is timestamped").

Causal order only, never tolerances: a chunk's stamp is never before the server began writing it (the
simulator's truth log, ``chunk_write_ns``), and never after the worker's user-space read of it
(``read_delay_ns`` >= 0); the user-space fallback (``INFERLOAD_KERNEL_TIMESTAMPS=0``) keeps the first rule
and reports no read delay.
"""

from __future__ import annotations

import itertools
import json
import socket
import struct
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from inferload_plugins.transports._protocol_client import (
    _SO_TIMESTAMPNS,
    KERNEL_TIMESTAMPS_ENV,
    _Connection,
    _KernelClock,
    _ReadQueue,
    _StampedSocket,
)
from profile_fixtures import load_run, profile, start_simulator

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_TIMESTAMPNS is Linux's")

SIMULATOR = ("--decode-step-s", "0.01", "--decode-step-per-seq-s", "0", "--prefill-tokens-per-s", "4000")
PROFILE = ("-m", "m", "--streaming", "--concurrency", "4", "--request-count", "16", "--osl", "8")


def _run(inferload_exe: Path, cli_env: Any, run_cli: Any, tmp_path: Path, **env: str) -> tuple[Any, ...]:
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, *SIMULATOR)
    try:
        result = profile(run_cli, sim.url, tmp_path / "art", *PROFILE, env=cli_env(env))
        assert result.returncode == 0, result.stderr
        _, summary, records = load_run(tmp_path / "art")
        truth = sim.truth_by_request_id()
    finally:
        sim.stop()
    assert len(records) == len(truth) == 16
    return summary, records, truth


def _chunk_wall_times(record: dict[str, Any]) -> list[int]:
    """Each output chunk's stamp as wall-clock ns: the request's wall start plus its exact ns offsets (the
    JSONL's ms floats of integer ns differences, rounded back)."""
    metrics = record["metrics"]
    ttft = round(metrics["time_to_first_token"]["value"] * 1e6)
    gaps = [round(gap * 1e6) for gap in metrics["inter_chunk_latency"]["value"]]
    start = record["metadata"]["request_start_ns"]
    return [start + offset for offset in itertools.accumulate(gaps, initial=ttft)]


def _assert_no_chunk_stamped_before_its_write(records: list[dict[str, Any]], truth: dict[str, Any]) -> None:
    for record in records:
        server = truth[record["metadata"]["x_request_id"]]
        stamps = _chunk_wall_times(record)
        assert len(stamps) == len(server["chunk_write_ns"])  # one client chunk per server token write
        for k, (stamp, written) in enumerate(zip(stamps, server["chunk_write_ns"], strict=True)):
            assert stamp >= written, (k, stamps, server["chunk_write_ns"])


def test_kernel_stamps_are_never_before_the_servers_write_nor_after_the_workers_read(
    inferload_exe: Path, cli_env: Any, run_cli: Any, tmp_path: Path
) -> None:
    summary, records, truth = _run(inferload_exe, cli_env, run_cli, tmp_path)
    _assert_no_chunk_stamped_before_its_write(records, truth)
    delays = [record["metadata"]["read_delay_ns"] for record in records]
    assert all(delay is not None and delay >= 0 for delay in delays), delays  # the kernel stamp came first
    health = summary["client_health"]["read_delay"]
    assert health["count"] == 16 and health["unit"] == "ms"
    assert health["max"] == max(delays) / 1e6


def test_user_space_stamps_without_kernel_timestamps_keep_the_order_and_report_no_read_delay(
    inferload_exe: Path, cli_env: Any, run_cli: Any, tmp_path: Path
) -> None:
    summary, records, truth = _run(inferload_exe, cli_env, run_cli, tmp_path, **{KERNEL_TIMESTAMPS_ENV: "0"})
    _assert_no_chunk_stamped_before_its_write(records, truth)
    assert [record["metadata"]["read_delay_ns"] for record in records] == [None] * 16
    assert summary["client_health"]["read_delay"] is None


@pytest.fixture
def stamped_pair() -> Any:
    """A TCP loopback connection whose reading end has SO_TIMESTAMPNS on."""
    listener = socket.create_server(("127.0.0.1", 0))
    reader = socket.create_connection(listener.getsockname())
    writer, _ = listener.accept()
    reader.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
    # Linux turns receive timestamping on for the whole stack lazily (a deferred static key) when the first
    # socket asks: until then a packet may arrive unstamped, and the reader falls back to its own read time.
    # Exchange bytes until the kernel stamps one, so the tests see the steady state.
    for _ in range(200):
        writer.sendall(b"w")
        _, ancillary, _, _ = reader.recvmsg(64, socket.CMSG_SPACE(16))
        if ancillary:
            break
        time.sleep(0.005)
    yield writer, reader
    for sock in (writer, reader, listener):
        sock.close()


def test_a_read_is_stamped_between_the_write_and_the_read(stamped_pair: Any) -> None:
    writer, reader = stamped_pair
    clock = _KernelClock()
    before_write = time.perf_counter_ns()
    writer.sendall(b"chunk")
    time.sleep(0.01)  # the bytes wait in the socket: the kernel's stamp keeps their arrival
    data, ancillary, _, _ = reader.recvmsg(64, socket.CMSG_SPACE(16))
    read_ns = time.perf_counter_ns()
    stamp = clock.stamp(ancillary, read_ns)
    assert data == b"chunk"
    assert before_write <= stamp < read_ns
    assert (clock.kernel_reads, clock.user_reads) == (1, 0)


def test_a_read_without_a_usable_kernel_stamp_takes_the_user_space_read_time() -> None:
    clock = _KernelClock()
    read_ns = time.perf_counter_ns()
    future = struct.pack("@qq", *divmod(read_ns + clock.offset + 10**9, 10**9))  # 1 s after the read: a step
    assert clock.stamp([], read_ns) == read_ns  # no control message
    assert clock.stamp([(socket.SOL_SOCKET, _SO_TIMESTAMPNS, future)], read_ns) == read_ns
    assert clock.stamp([(socket.SOL_SOCKET, _SO_TIMESTAMPNS, bytes(16))], read_ns) == read_ns  # zero
    assert (clock.kernel_reads, clock.user_reads) == (0, 3)


class _Loop:
    """What a :class:`_StampedSocket` asks of its loop, and the drains its reads schedule."""

    def __init__(self) -> None:
        self.soon: list[Any] = []

    def add_reader(self, fd: int, callback: Any) -> None:
        pass

    def remove_reader(self, fd: int) -> None:
        pass

    def call_soon(self, callback: Any) -> None:
        self.soon.append(callback)


def _stamped_read(
    ancillary: list[Any], data: bytes = b"HTTP/1.1 200 OK\r\n", clock: _KernelClock | None = None
) -> tuple[Any, ...]:
    """One :meth:`_StampedSocket.read` whose ``recvmsg_into`` returns ``data`` and ``ancillary``: the queued
    read ``(bytes, ts_ns, read_ns)`` as the queue holds it, the clock, and the time just before the read."""
    loop = _Loop()
    queue = _ReadQueue(loop)  # type: ignore[arg-type]
    clock = clock or _KernelClock()
    buffer = bytearray(64)
    left, right = socket.socketpair()
    with left, right:
        stamped = _StampedSocket(loop, left, _Connection(queue), clock, buffer)  # type: ignore[arg-type]

        def recvmsg_into(buffers: Any, ancbufsize: int) -> tuple[int, list[Any], int, None]:
            buffers[0][: len(data)] = data
            return len(data), ancillary, 0, None

        stamped._recvmsg_into = recvmsg_into  # type: ignore[method-assign]
        before = time.perf_counter_ns()
        stamped.read()
        buffer[:] = bytes(len(buffer))  # the next read reuses the buffer: the queued read is a copy
        ((_, queued, ts_ns, read_ns),) = queue._items
        assert loop.soon == [queue.drain]
    return bytes(queued), ts_ns, read_ns, clock, before


def _timespec(clock: _KernelClock, perf_ns: int) -> bytes:
    return struct.pack("@qq", *divmod(perf_ns + clock.offset, 10**9))


def test_a_socket_read_takes_the_kernel_stamp_of_its_one_control_message() -> None:
    clock = _KernelClock()
    arrived = time.perf_counter_ns() - 5_000_000
    message = [(socket.SOL_SOCKET, _SO_TIMESTAMPNS, _timespec(clock, arrived))]
    data, ts_ns, read_ns, clock, before = _stamped_read(message)
    assert data == b"HTTP/1.1 200 OK\r\n"
    assert abs(ts_ns - arrived) < 1_000_000  # the offset, re-measured by the read's own clock
    assert ts_ns < before <= read_ns
    assert (clock.kernel_reads, clock.user_reads) == (1, 0)


@pytest.mark.parametrize("case", ["none", "future", "zero", "short", "other level"])
def test_a_socket_read_without_a_usable_stamp_takes_its_read_time(case: str) -> None:
    clock = _KernelClock()
    message = {
        "none": [],
        "future": [(socket.SOL_SOCKET, _SO_TIMESTAMPNS, _timespec(clock, time.perf_counter_ns() + 10**9))],
        "zero": [(socket.SOL_SOCKET, _SO_TIMESTAMPNS, bytes(16))],
        "short": [(socket.SOL_SOCKET, _SO_TIMESTAMPNS, bytes(8))],
        "other level": [(socket.IPPROTO_TCP, _SO_TIMESTAMPNS, _timespec(clock, time.perf_counter_ns()))],
    }[case]
    _, ts_ns, read_ns, clock, _ = _stamped_read(message)
    assert ts_ns == read_ns
    assert (clock.kernel_reads, clock.user_reads) == (0, 1)


def test_a_socket_read_finds_the_stamp_among_several_control_messages() -> None:
    clock = _KernelClock()
    arrived = time.perf_counter_ns() - 5_000_000
    ancillary = [
        (socket.SOL_SOCKET, 99, b"other"),
        (socket.SOL_SOCKET, _SO_TIMESTAMPNS, _timespec(clock, arrived)),
    ]
    _, ts_ns, read_ns, clock, _ = _stamped_read(ancillary)
    assert abs(ts_ns - arrived) < 1_000_000 and ts_ns < read_ns
    assert (clock.kernel_reads, clock.user_reads) == (1, 0)


def test_a_socket_read_due_for_a_new_clock_offset_measures_it_and_keeps_the_stamp() -> None:
    clock = _KernelClock()
    clock.refresh_at, clock.offset = 0, clock.offset + 10**9  # due, and 1 s off: only a refresh fixes it
    arrived = time.perf_counter_ns() - 5_000_000
    message = [(socket.SOL_SOCKET, _SO_TIMESTAMPNS, _timespec(clock, arrived - 10**9))]
    _, ts_ns, read_ns, _, _ = _stamped_read(message, clock=clock)
    assert clock.refresh_at > read_ns
    assert abs(ts_ns - arrived) < 1_000_000
    assert (clock.kernel_reads, clock.user_reads) == (1, 0)


def test_read_delay_is_exported_per_request(tmp_path: Path) -> None:
    """The JSONL line carries the record's read delay as it is (None when stamped in user space)."""
    from inferload.record_lines import record_line
    from inferload.records import RequestRecord

    record = RequestRecord(0, "profiling", "worker_0", "c", "x", 10, 20, 30, 40, 16, read_delay_ns=1234)
    line = record_line(record, {}, lambda text: text)
    assert json.loads(json.dumps(line))["metadata"]["read_delay_ns"] == 1234
