"""A raw HTTP/1.1 server whose every answer a test scripts, byte for byte.

``ScriptedServer(answer)`` calls ``answer(request, number)`` for the ``number``-th request (from 0) and writes
the bytes it returns. With ``close_after_response`` it closes the connection after each answer *without*
saying so (no ``Connection: close``), as some servers and proxies do. It records every request it got (the
raw request line, headers, body and which connection carried it). The server-metrics scraper's
``GET /metrics``, the model-list check's ``GET /v1/models`` and the start-up check's ``HEAD /`` get a 404
and are none of these: not recorded, numbered, grouped, nor their connection counted. It runs on its own
event loop in a thread, on 127.0.0.1 and a port the OS picks.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self


@dataclass
class ScriptedRequest:
    request_line: str
    headers: dict[str, str]
    body: bytes
    connection: int

    @property
    def target(self) -> str:
        """The request target as sent: ``/v1/chat/completions?api-version=2024``."""
        return self.request_line.split(" ")[1]


async def read_request(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes] | None:
    """One HTTP/1.1 request from ``reader``: (request line, headers by lower-case name, the
    ``Content-Length`` body); None when the client closed before a complete head."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return lines[0], headers, await reader.readexactly(int(headers.get("content-length", "0")))


NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


def is_scrape(request_line: str) -> bool:
    """The server-metrics scraper's ``GET {url}/metrics``, the model-list check's GET of the endpoint type's
    ``models_path`` (``/v1/models``, Ollama's ``/api/tags``, TGI's and TEI's ``/info``; query kept) or the
    start-up check's ``HEAD /`` (an ``http://`` URL's probe for a TLS port): not one of
    the run's requests, so a test server answers it 404 and neither records, numbers nor groups it."""
    method, _, rest = request_line.partition(" ")
    if method == "HEAD":
        return True
    return method == "GET" and rest.split(" ", 1)[0].split("?", 1)[0].endswith(
        ("/metrics", "/models", "/api/tags", "/info"))


def json_response(status: int, obj: Any, *, reason: str = "OK") -> bytes:
    """A complete ``Content-Length`` response with a JSON body."""
    body = json.dumps(obj).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def chat_completion(text: str = "hello there") -> bytes:
    """A 200 non-streamed chat completion of ``text`` with usage."""
    return json_response(200, {
        "id": "chatcmpl-1", "object": "chat.completion", "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    })


def self_signed_tls(directory: Path) -> ssl.SSLContext:
    """A server-side TLS context with a fresh self-signed certificate for ``localhost``, made by the
    ``openssl`` command in ``directory``."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-subj", "/CN=localhost", "-days", "1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


class LoopbackServer:
    """Serves ``self._handle`` (an asyncio stream handler) on 127.0.0.1 and a port the OS picks, on its own
    event loop in a thread, as a context manager; ``self.url`` is set on entry. With ``tls`` (a server-side
    context, e.g. :func:`self_signed_tls`) it speaks HTTPS and ``url`` starts ``https://``."""

    url: str
    tls: ssl.SSLContext | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._loop = asyncio.new_event_loop()

        async def serve() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.tls)
            scheme = "https" if self.tls else "http"
            self.url = f"{scheme}://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(serve(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            self._server.close()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@dataclass
class ScriptedServer(LoopbackServer):
    """``with ScriptedServer(answer) as server: server.url ...``; ``server.requests`` holds what arrived."""

    answer: Callable[[ScriptedRequest, int], bytes]
    close_after_response: bool = False
    answer_in_groups_of: int = 1
    """Hold each answer until this many requests are waiting, then answer them all at once (so that their
    responses arrive at the client together)."""
    group_delay_s: float = 0.0
    """With groups: how long a complete group is held before it is answered (a slow server)."""
    requests: list[ScriptedRequest] = field(default_factory=list)
    connections: int = 0
    url: str = ""
    tls: ssl.SSLContext | None = None

    async def _group_released(self, number: int) -> None:
        """Wait until the group of request ``number`` is complete (see ``answer_in_groups_of``)."""
        size = self.answer_in_groups_of
        if size <= 1:
            return
        groups: dict[int, asyncio.Event] = self.__dict__.setdefault("_groups", {})
        event = groups.setdefault(number // size, asyncio.Event())
        if number % size == size - 1:
            await asyncio.sleep(self.group_delay_s)
            event.set()
        await event.wait()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection: int | None = None  # numbered at its first scripted request: a scrape's is not counted
        try:
            while True:
                got = await read_request(reader)
                if got is None:
                    return
                if is_scrape(got[0]):
                    writer.write(NOT_FOUND)
                    await writer.drain()
                    continue
                if connection is None:
                    connection = self.connections
                    self.connections += 1
                request = ScriptedRequest(*got, connection)
                number = len(self.requests)
                self.requests.append(request)
                await self._group_released(number)
                writer.write(self.answer(request, number))
                await writer.drain()
                if self.close_after_response:
                    return
        finally:
            writer.close()
