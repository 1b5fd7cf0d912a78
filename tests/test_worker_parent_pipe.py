"""The worker's messages to its parent (engine/parent_pipe.py) over a real duplex multiprocessing pipe and
a real uvloop loop: whole, in order, never blocking the loop, and the parent's end read with ``recv``."""

from __future__ import annotations

import os
import threading
from multiprocessing import Pipe

import uvloop

from inferload.engine.parent_pipe import ParentPipe, framed


def _messages(count: int, size: int) -> list[tuple[str, bytes, int]]:
    return [("records", bytes([i % 251]) * size, i) for i in range(count)]


async def _turn(loop: uvloop.Loop) -> None:
    """A few milliseconds of the loop running (its writer callbacks among them)."""
    done = loop.create_future()
    loop.call_later(0.005, done.set_result, None)
    await done


def test_messages_the_parent_is_not_reading_wait_in_order_without_blocking_the_loop() -> None:
    parent_end, worker_end = Pipe(duplex=True)
    loop = uvloop.new_event_loop()
    lost: list[bool] = []
    messages = _messages(40, 200_000)  # 8 MB: far more than the socket pair buffers
    received: list[object] = []
    try:
        pipe = ParentPipe(worker_end, loop, lambda: lost.append(True))
        for message in messages:
            pipe.send(message)  # returns at once although nobody reads yet
        assert pipe._pending, "the socket should have refused part of 8 MB without a reader"
        assert os.get_blocking(worker_end.fileno()), "the worker's command reads must stay blocking"

        reader = threading.Thread(target=lambda: received.extend(parent_end.recv() for _ in messages))
        reader.start()
        while pipe._pending:  # the loop writes the rest as the reader drains the socket
            loop.run_until_complete(_turn(loop))
        reader.join(30)
        pipe.close()
    finally:
        loop.close()
    assert received == messages
    assert not lost


def test_close_writes_what_is_still_queued() -> None:
    parent_end, worker_end = Pipe(duplex=True)
    loop = uvloop.new_event_loop()
    messages = _messages(12, 100_000)
    received: list[object] = []
    try:
        pipe = ParentPipe(worker_end, loop, lambda: None)
        for message in messages:
            pipe.send(message)
        reader = threading.Thread(target=lambda: received.extend(parent_end.recv() for _ in messages))
        reader.start()
        pipe.close(timeout=30)
        reader.join(30)
    finally:
        loop.close()
    assert received == messages


def test_a_gone_parent_is_reported_once_and_later_messages_are_dropped() -> None:
    parent_end, worker_end = Pipe(duplex=True)
    loop = uvloop.new_event_loop()
    lost: list[bool] = []
    try:
        pipe = ParentPipe(worker_end, loop, lambda: lost.append(True))
        parent_end.close()
        pipe.send(("records", b"x", 1))
        pipe.send(("records", b"y", 2))
        loop.run_until_complete(_turn(loop))
        assert pipe.lost
        pipe.close()
    finally:
        loop.close()
    assert lost == [True]


def test_framing_is_what_connection_send_writes() -> None:
    parent_end, worker_end = Pipe(duplex=True)
    message = ("phase_done", "profiling", 12345)
    worker_end.send_bytes(b"")  # any frame first, to show the reader stays in step
    os.write(worker_end.fileno(), b"".join(framed(message)))
    assert parent_end.recv_bytes() == b""
    assert parent_end.recv() == message
