"""A worker's messages to its parent, written from the worker's event loop without ever blocking it.

The connection is the executor's duplex ``multiprocessing`` connection (a Unix socket pair). A message
is framed exactly as :meth:`multiprocessing.connection.Connection.send` frames it (a 4-byte big-endian
length, then the pickle), so the parent reads it with ``recv`` as before. Each write asks the kernel not
to wait (``MSG_DONTWAIT``): what the socket does not take now — the parent busy with another worker's
batch — waits in a buffer and goes, in order, when the socket is writable again. Messages therefore reach
the parent whole and in the order they were sent, and the loop that timestamps chunks never waits on the
parent.

Writing here instead of on a sender thread saves the thread hop (a queue put, a wake-up, and the GIL
passed back and forth) on every batch; the pickling costs the same CPU on either thread.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import select
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

_LENGTH = struct.Struct("!i")
"""``Connection.send``'s length prefix for messages under 2 GiB (the only size a record slice reaches)."""
_LONG = struct.Struct("!iQ")
"""Its prefix for larger ones: -1, then the length as 8 bytes."""


def framed(message: Any) -> tuple[bytes, bytes]:
    """``message`` as ``Connection.send(message)`` frames it: ``(length prefix, pickle)``, two buffers
    written as one (no copy of a batch's bytes to join them). Messages are plain data (tuples, strings,
    bytes, numbers, dataclasses of those), so ``pickle.dumps`` makes what ``recv`` reads, without the
    per-message set-up of multiprocessing's ``ForkingPickler`` (which only adds reducers for sockets and
    connections)."""
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    size = len(payload)
    return (_LENGTH.pack(size) if size <= 0x7FFFFFFF else _LONG.pack(-1, size)), payload


class ParentPipe:
    """Sends a worker's messages to its parent over ``conn`` from ``loop``'s thread, never blocking it.

    ``on_lost`` is called once (soon after, from the loop) when the parent has gone (its end closed);
    later sends are dropped, as nobody is left to read them. The connection's own descriptor is left
    blocking, for the worker's ``conn.recv`` of the parent's commands.
    """

    def __init__(self, conn: Any, loop: asyncio.AbstractEventLoop, on_lost: Callable[[], None]) -> None:
        self._loop = loop
        self._on_lost = on_lost
        self._shared_fd = conn.fileno()
        # A second descriptor of the same socket, for writing: the writer callback is registered on it,
        # so the loop's reader of commands on the connection's own descriptor is left as it is.
        self._sock = socket.socket(fileno=os.dup(self._shared_fd))
        self._pending = bytearray()
        self._watching = False
        self.lost = False

    def send(self, message: Any) -> None:
        """Queue ``message`` for the parent and write as much of what is queued as the socket takes now."""
        if self.lost:
            return
        head, payload = framed(message)
        if self._pending:
            self._pending += head
            self._pending += payload
            return
        sent = self._write(head, payload)
        if sent is None or sent == len(head) + len(payload):
            return
        if sent < len(head):
            self._pending += head[sent:]
            self._pending += payload
        else:
            self._pending += memoryview(payload)[sent - len(head) :]
        self._watch()

    def _write(self, *buffers: bytes | bytearray) -> int | None:
        """Bytes of ``buffers`` (in order) the socket took without waiting; None once the parent is gone."""
        try:
            return self._sock.sendmsg(buffers, (), socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError:
            self._lose()
            return None

    def _watch(self) -> None:
        if not self._watching:
            self._watching = True
            self._loop.add_writer(self._sock.fileno(), self._writable)
            # the loop makes a watched descriptor non-blocking, and both descriptors share that flag:
            # give the connection back its blocking reads (a command may be larger than one read)
            os.set_blocking(self._shared_fd, True)

    def _unwatch(self) -> None:
        if self._watching:
            self._watching = False
            self._loop.remove_writer(self._sock.fileno())

    def _writable(self) -> None:
        sent = self._write(self._pending)
        if sent is None:
            return
        del self._pending[:sent]
        if not self._pending:
            self._unwatch()

    def _lose(self) -> None:
        self._unwatch()
        self._pending.clear()
        if not self.lost:
            self.lost = True
            self._loop.call_soon(self._on_lost)  # not from inside the send that found it out

    def close(self, timeout: float = 5.0) -> None:
        """Write what is still queued (waiting up to ``timeout`` seconds for the parent to take it), then
        release the write descriptor. The connection itself stays open."""
        self._unwatch()
        deadline = time.monotonic() + timeout
        while self._pending and not self.lost:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            select.select([], [self._sock], [], remaining)
            sent = self._write(self._pending)
            if sent:
                del self._pending[:sent]
        self._sock.close()
