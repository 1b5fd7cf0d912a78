"""The one Server-Sent Events parser: bytes in, ``(first_byte_ns, event_type, data)`` events out.
Public API for endpoint plugins (docs/architecture.md, "The plugin model"); :mod:`inferload.endpoint`
builds its stream parser on it.

Framing follows the HTML living standard's "interpreting an event stream": a line ends in CR, LF or CRLF
(a CRLF split across two reads is one line end, not two); a blank line dispatches the event; ``data:``
fields are joined with ``\\n``; ``event:`` sets the event's type (``b""`` when absent, the standard's
"message"); comments (``:``), ``id:`` and ``retry:`` are read and ignored; a field name without a colon
has an empty value; one space after the colon is dropped; a leading UTF-8 BOM is dropped. An event with no
``data`` field is not dispatched.

One deliberate leniency: the standard discards an event that the stream ends in the middle of; servers
that omit the final blank line exist, so :meth:`SSEParser.close` dispatches a last event whose lines are
complete.

Each event keeps the arrival time of the network read that carried its first byte, so an event split
across reads is timed from when it started to arrive, and several events in one read share that read's
time.
"""

from __future__ import annotations

__all__ = ["SSEEvent", "SSEParser"]

SSEEvent = tuple[int, bytes, bytes]
"""``(first_byte_ns, event_type, data)``: ``event_type`` is ``b""`` for an event without ``event:``."""

_BOM = b"\xef\xbb\xbf"
_LF, _CR = 0x0A, 0x0D
"""Bytes as ints, for ``in`` tests: on CPython 3.11 ``b"\\n" in data`` first tries its operand as an int and
raises and clears a TypeError (about 1,800 instructions, callgrind), ``_LF in data`` is one C search. Seven
such tests per response of the client bench's server took 8 % of its receive path (commit message)."""


class SSEParser:
    """Incremental SSE framing. Feed it every body chunk in order; it returns the completed events."""

    __slots__ = ("_buf", "_cr", "_fresh", "_start_ns")

    def __init__(self) -> None:
        self._buf = b""
        self._start_ns = 0
        self._cr = False
        """The previous read ended in CR: a LF opening the next read belongs to that line end."""
        self._fresh = True
        """Nothing read yet (a BOM may open the stream)."""

    def whole_data(self, data: bytes) -> list[bytes] | None:
        """The common read, cut in one pass: the ``data`` values of ``data`` when it is whole events of
        one ``data: `` line each (LF line ends) and nothing of an earlier read is pending, in order; the
        events are then read (they share this read's time, as :meth:`feed` would give them). None, having
        read nothing, for any other read: :meth:`feed` it.

        ``data[6:-2]`` split at every ``"\\n\\ndata: "`` gives one value per event; a line break anywhere
        else (another field, a comment, a multi-line event, an extra blank line) is left inside a value,
        where no value of a single-line event holds one: the values joined are searched for one LF (one
        ``memchr``; ``bytes.count`` of the LFs walked the read byte by byte, ~1,700 instructions a bench
        response, callgrind)."""
        if self._buf or self._cr or data[:6] != b"data: " or data[-2:] != b"\n\n" or _CR in data:
            return None
        values = data[6:-2].split(b"\n\ndata: ")
        if _LF in b"".join(values):
            return None
        self._fresh = False
        return values

    def feed(self, data: bytes, ts_ns: int) -> list[SSEEvent]:
        """Add one chunk that arrived at ``ts_ns``; return ``(first_byte_ns, event_type, data)`` per
        complete event, in order."""
        if self._cr:
            self._cr = False
            if data[:1] == b"\n":
                data = data[1:]
        if _CR in data:
            self._cr = data.endswith(b"\r")
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        elif not self._buf and data.startswith(b"data:") and data.endswith(b"\n\n"):
            # the common read: whole events of one data line each (an HTTP chunk usually carries one, a
            # read of a short stream all of them), each value cut out with one copy
            if data.find(b"\n", 5) == len(data) - 2:
                self._fresh = False
                return [(ts_ns, b"", data[6:-2] if data[5] == 32 else data[5:-2])]  # 32: the optional space
            events = _single_line_events(data, ts_ns)
            if events is not None:
                self._fresh = False
                return events
        if self._fresh and data:
            self._fresh = False
            if data[:3] == _BOM:
                data = data[3:]
        if not self._buf:
            self._start_ns = ts_ns
            buf = data
        else:
            buf = self._buf + data
        events: list[SSEEvent] = []
        start = self._start_ns
        pos = 0
        while True:
            end = buf.find(b"\n\n", pos)
            if end < 0:
                break
            event = _event_of(buf[pos:end])
            pos = end + 2
            if event is not None:
                events.append((start, event[0], event[1]))
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

    def close(self) -> list[SSEEvent]:
        """At end of stream: dispatch a last event whose lines are complete but that lacks the final blank
        line (a partial last line is discarded, as the standard discards the whole event)."""
        buf, self._buf = self._buf, b""
        if not buf:
            return []
        end = buf.rfind(b"\n")
        if end < 0:
            return []
        event = _event_of(buf[:end])
        return [] if event is None else [(self._start_ns, event[0], event[1])]


def _single_line_events(data: bytes, ts_ns: int) -> list[SSEEvent] | None:
    """The events of ``data`` when it is whole events of one ``data:`` line each, else None (framing the
    general path must read: other fields, several lines, empty lines between events)."""
    blocks = data.split(b"\n\n")
    blocks.pop()  # the empty tail after the last blank line
    events: list[SSEEvent] = []
    for block in blocks:
        if block[:5] != b"data:" or _LF in block:
            return None
        events.append((ts_ns, b"", block[6:] if block[5:6] == b" " else block[5:]))
    return events


def _event_of(block: bytes) -> tuple[bytes, bytes] | None:
    """``(event_type, data)`` of one event block (its lines, LF-separated), or None if it has no data."""
    if block[:5] == b"data:" and _LF not in block:  # the common case: one data line
        value = block[5:]
        return b"", value[1:] if value[:1] == b" " else value
    parts: list[bytes] = []
    event_type = b""
    for line in block.split(b"\n"):
        if not line or line[:1] == b":":
            continue
        name, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            parts.append(value)
        elif name == b"event":
            event_type = value
    return (event_type, b"\n".join(parts)) if parts else None
