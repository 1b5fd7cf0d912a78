"""The one Server-Sent Events parser: bytes in, ``(first_byte_ns, data)`` events out.

Each event keeps the arrival time of the network read that carried its first byte, so an event split
across reads is timed from when it started to arrive, and several events in one read share that read's
time. Only ``data:`` fields matter for inference streams; comments, ``event:``, ``id:`` and ``retry:`` are
skipped.
"""

from __future__ import annotations

__all__ = ["SSEParser"]


class SSEParser:
    """Incremental SSE framing. Feed it every body chunk in order; it returns the completed events."""

    __slots__ = ("_buf", "_start_ns")

    def __init__(self) -> None:
        self._buf = b""
        self._start_ns = 0

    def feed(self, data: bytes, ts_ns: int) -> list[tuple[int, bytes]]:
        """Add one chunk that arrived at ``ts_ns``; return ``(first_byte_ns, data_field)`` per complete event.

        ``data_field`` joins multi-line ``data:`` fields with ``\\n``; events without data are dropped.
        """
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        elif (
            not self._buf
            and data[:5] == b"data:"
            and data.find(b"\n") == len(data) - 2
            and data[-1:] == b"\n"
        ):
            # the common read: exactly one event of one data line (what an HTTP chunk usually carries)
            value = data[5:-2]
            return [(ts_ns, value[1:] if value[:1] == b" " else value)]
        if not self._buf:
            self._start_ns = ts_ns
            buf = data
        else:
            buf = self._buf + data
        events: list[tuple[int, bytes]] = []
        start = self._start_ns
        pos = 0
        while True:
            end = buf.find(b"\n\n", pos)
            if end < 0:
                break
            block = buf[pos:end]
            pos = end + 2
            payload = _data_of(block)
            if payload is not None:
                events.append((start, payload))
            start = ts_ns  # anything after the first completed event began in this read
        rest = buf[pos:]
        if rest.strip(b"\n"):
            self._buf = rest
            if pos:
                self._start_ns = ts_ns
        else:
            self._buf = b""
        return events

    def pending(self) -> bytes:
        """Bytes of an incomplete event left at end of stream (a server that omits the final blank line)."""
        return self._buf

    def close(self) -> list[tuple[int, bytes]]:
        """Flush an unterminated last event, as browsers do at end of stream."""
        if not self._buf:
            return []
        payload = _data_of(self._buf.rstrip(b"\n"))
        start, self._buf = self._start_ns, b""
        return [(start, payload)] if payload is not None else []


def _data_of(block: bytes) -> bytes | None:
    """The data field of one event block, or None if it has none."""
    if block.startswith(b"data:") and b"\n" not in block:  # the common case: one data line
        value = block[5:]
        return value[1:] if value.startswith(b" ") else value
    parts = []
    for line in block.split(b"\n"):
        if line.startswith(b"data:"):
            value = line[5:]
            parts.append(value[1:] if value.startswith(b" ") else value)
    return b"\n".join(parts) if parts else None
