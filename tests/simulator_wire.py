"""Raw-wire helpers for the simulator tests: send exact bytes, see exactly what came back and when.

Imported directly by test modules (the fixtures live in simulator_fixtures.py, loaded as a pytest plugin).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from inferload_plugins.simulator.config import SimulatorConfig
from inferload_plugins.simulator.embedded import EmbeddedSimulator
from inferload_plugins.simulator.parameters import PARAMETERS

StartSimulator = Callable[..., EmbeddedSimulator]
"""The type of the ``start_simulator`` fixture: ``start_simulator(**settings) -> EmbeddedSimulator``."""


def simulator_config(**settings: Any) -> SimulatorConfig:
    """Defaults plus ``settings`` only: every field is given explicitly, so stray ``INFERLOAD_SIM_*``
    environment variables (which outrank defaults) cannot change what a test runs against."""
    return SimulatorConfig(**{**{p.name: p.default for p in PARAMETERS}, **settings})


@dataclass
class RawExchange:
    """Everything one request got back on the wire, with the arrival time of each read."""

    head: bytes = b""
    body: bytes = b""
    arrivals: list[tuple[float, int]] = field(default_factory=list)  # (monotonic time, body bytes so far)
    eof: bool = False
    timed_out: bool = False
    sent_at: float = 0.0
    first_byte_at: float | None = None

    @property
    def status(self) -> int:
        return int(self.head.split(b" ", 2)[1])

    def header(self, name: str) -> str | None:
        for line in self.head.decode("latin-1").split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None

    @property
    def chunked(self) -> bool:
        return (self.header("transfer-encoding") or "").lower() == "chunked"

    def payload(self) -> tuple[bytes, bool]:
        """The de-chunked body and whether it was complete (terminating chunk / full Content-Length)."""
        if not self.chunked:
            length = self.header("content-length")
            return self.body, length is None or len(self.body) == int(length)
        data, rest = b"", self.body
        while rest:
            size_line, sep, rest = rest.partition(b"\r\n")
            if not sep:
                return data, False
            size = int(size_line, 16)
            if size == 0:
                return data, rest.startswith(b"\r\n")
            if len(rest) < size + 2:
                return data + rest[:size], False
            data, rest = data + rest[:size], rest[size + 2:]
        return data, False

    def events(self) -> list[bytes]:
        """The SSE ``data:`` payloads, in order."""
        data, _ = self.payload()
        return [event[len(b"data: "):] for event in data.split(b"\n\n") if event.startswith(b"data: ")]

    def json(self) -> Any:
        return json.loads(self.payload()[0])


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def send_raw(url: str, request: bytes, *, timeout: float = 10.0) -> RawExchange:
    """Send raw request bytes and read until the server closes, the response is complete, or a read times
    out (``timed_out``); ``arrivals`` timestamps every read."""
    exchange = RawExchange()
    with socket.create_connection(_address(url), timeout=timeout) as conn:
        exchange.sent_at = time.monotonic()
        conn.sendall(request)
        buffer = b""
        while True:
            try:
                data = conn.recv(65536)
            except TimeoutError:
                exchange.timed_out = True
                break
            now = time.monotonic()
            if not data:
                exchange.eof = True
                break
            if exchange.first_byte_at is None:
                exchange.first_byte_at = now
            buffer += data
            if not exchange.head and b"\r\n\r\n" in buffer:
                exchange.head, _, buffer = buffer.partition(b"\r\n\r\n")
            if exchange.head:
                exchange.body = buffer
                exchange.arrivals.append((now, len(buffer)))
                if exchange.payload()[1] and (exchange.chunked or exchange.header("content-length")):
                    break
    return exchange


def http_request(
    method: str,
    path: str,
    payload: Any = None,
    *,
    headers: dict[str, str] | None = None,
    version: str = "HTTP/1.1",
    raw_body: bytes | None = None,
) -> bytes:
    """The bytes of one request (``connection: close`` unless headers say otherwise)."""
    body = raw_body if raw_body is not None else (b"" if payload is None else json.dumps(payload).encode())
    lines = [f"{method} {path} {version}", "host: simulator", f"content-length: {len(body)}"]
    if payload is not None:
        lines.append("content-type: application/json")
    all_headers = {"connection": "close", **(headers or {})}
    lines += [f"{name}: {value}" for name, value in all_headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def post_raw(url: str, path: str, payload: Any, *, headers: dict[str, str] | None = None,
             timeout: float = 10.0) -> RawExchange:
    """POST JSON over a raw socket and return what the wire showed."""
    return send_raw(url, http_request("POST", path, payload, headers=headers), timeout=timeout)
