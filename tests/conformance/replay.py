"""A raw-socket replay server for the conformance corpus: plays one recorded response with set timing.

Each case (``cases/*.json``, see ``README.md``) lists the response body as *writes*; the server sends the
status line and headers, then each write after its delay, framed as asked:

- ``chunked``: HTTP/1.1, ``Transfer-Encoding: chunked``, one HTTP chunk per write, keep-alive;
- ``content-length``: HTTP/1.1 with the total ``Content-Length``, the writes sent as they are, keep-alive;
- ``close10``: ``HTTP/1.0``, no length: the body ends when the server closes;
- ``close11``: HTTP/1.1, ``Connection: close`` and no length: the same, as HTTP/1.1.

``TCP_NODELAY`` and a delay between writes make each write its own TCP segment, so a write that ends in
CR and one that starts with LF reach the client as two reads. The server logs ``time.perf_counter_ns()``
immediately before every write (CLOCK_MONOTONIC on Linux, the clock the client's workers stamp chunks
with), per request in arrival order, so a test can place the client's timestamps between two writes.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scripted_server import read_request

FRAMINGS = ("chunked", "content-length", "close10", "close11")
DEFAULT_DELAY_MS = 3.0
"""Pause before each write that sets none: enough for separate reads on loopback, short for the suite."""
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 422: "Unprocessable Entity",
            500: "Internal Server Error", 503: "Service Unavailable"}


@dataclass(frozen=True)
class Write:
    data: bytes
    delay_ms: float


@dataclass
class Case:
    """One recorded response and what inferload must measure from it."""

    name: str
    about: str
    source: str
    endpoint: str
    streaming: bool
    status: int
    content_type: str
    framings: tuple[str, ...]
    writes: list[Write]
    alternate_writes: list[Write] | None
    expect: dict[str, Any]
    request_count: int

    @classmethod
    def load(cls, path: Path) -> Case:
        raw = json.loads(path.read_text(encoding="utf-8"))
        framings = tuple(raw.get("framings", ["chunked"]))
        unknown = set(framings) - set(FRAMINGS)
        if unknown:
            raise ValueError(f"{path.name}: unknown framing {sorted(unknown)}; known: {FRAMINGS}")
        alternate = raw.get("alternate_writes")
        return cls(
            name=path.stem,
            about=raw["about"],
            source=raw["source"],
            endpoint=raw.get("endpoint", "chat"),
            streaming=raw.get("streaming", True),
            status=raw.get("status", 200),
            content_type=raw.get("content_type", "text/event-stream" if raw.get("streaming", True)
                                 else "application/json"),
            framings=framings,
            writes=_writes(raw["writes"]),
            alternate_writes=None if alternate is None else _writes(alternate),
            expect=raw["expect"],
            request_count=raw.get("request_count", 2),
        )


def _writes(items: list[Any]) -> list[Write]:
    """``"text"`` or ``{"data": "text", "delay_ms": n}``; text is sent as UTF-8, byte for byte."""
    out = []
    for item in items:
        if isinstance(item, str):
            out.append(Write(item.encode("utf-8"), DEFAULT_DELAY_MS))
        else:
            out.append(Write(item["data"].encode("utf-8"), float(item.get("delay_ms", DEFAULT_DELAY_MS))))
    return out


@dataclass
class ReplayServer:
    """Serves ``case`` with ``framing`` on 127.0.0.1 (an ephemeral port) from a background thread."""

    case: Case
    framing: str
    write_ns: list[list[int]] = field(default_factory=list)
    """Per request served, in order: perf_counter_ns() taken just before each body write."""
    request_bodies: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"replay-{self.case.name}", daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ReplayServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("replay server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                got = await read_request(reader)
                if got is None:
                    return
                self.request_bodies.append(got[2])
                index = len(self.write_ns)
                stamps: list[int] = []
                self.write_ns.append(stamps)
                writes = self.case.writes
                if self.case.alternate_writes is not None and index % 2 == 1:
                    writes = self.case.alternate_writes
                await self._respond(writer, writes, stamps)
                if self.framing.startswith("close"):
                    return
        finally:
            writer.close()

    async def _respond(self, writer: asyncio.StreamWriter, writes: list[Write], stamps: list[int]) -> None:
        status, framing = self.case.status, self.framing
        version = "HTTP/1.0" if framing == "close10" else "HTTP/1.1"
        lines = [
            f"{version} {status} {_REASONS.get(status, 'Status')}", f"Content-Type: {self.case.content_type}"
        ]
        if framing == "chunked":
            lines.append("Transfer-Encoding: chunked")
        elif framing == "content-length":
            lines.append(f"Content-Length: {sum(len(w.data) for w in writes)}")
        elif framing == "close11":
            lines.append("Connection: close")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        for write in writes:
            await asyncio.sleep(write.delay_ms / 1000)
            data = write.data
            if framing == "chunked":
                data = b"%x\r\n%s\r\n" % (len(data), data)
            stamps.append(time.perf_counter_ns())
            writer.write(data)
            await writer.drain()
        if framing == "chunked":
            writer.write(b"0\r\n\r\n")
            await writer.drain()


def load_cases(directory: Path) -> list[Case]:
    """Every case file of the corpus, in name order."""
    return [Case.load(path) for path in sorted(directory.glob("*.json"))]
