"""A tiny OpenAI-shaped HTTP server for secret-leak tests: it echoes every request back.

Each POST is answered with a streamed chat completion (chunked SSE) whose content is the request's
headers and body as JSON; every ``error_every``-th POST gets a 500 whose JSON error message is the
same echo, so the echo lands in error records too. A GET (the server-metrics scraper's ``GET /metrics``)
gets the same echo, never a 500, and is not counted among the POSTs: scrapes, whenever they happen,
do not move which of the run's requests fail. It records every request it received but the start-up
check's ``HEAD /`` (answered 404). It runs on its
own event loop in a thread, on 127.0.0.1 and a port the OS picks.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from scripted_server import LoopbackServer


@dataclass
class EchoedRequest:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class EchoServer(LoopbackServer):
    """``with EchoServer() as server: server.url ...``; ``server.requests`` holds what arrived."""

    error_every: int = 4
    requests: list[EchoedRequest] = field(default_factory=list)
    url: str = ""

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = [
                    (n.strip(), v.strip()) for n, _, v in (line.partition(":") for line in lines[1:] if line)
                ]
                length = int(next((v for n, v in headers if n.lower() == "content-length"), "0"))
                body = await reader.readexactly(length)
                if method == "HEAD":  # the start-up check's probe of an http:// URL: not the run's
                    writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                    await writer.drain()
                    continue
                self.requests.append(EchoedRequest(method, path, headers, body))
                # a scrape is echoed too (its body then holds the secrets it was sent with), unnumbered
                number = None if method == "GET" else sum(r.method != "GET" for r in self.requests)
                await self._answer(writer, headers, body, number)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _answer(
        self, writer: asyncio.StreamWriter, headers: list[tuple[str, str]], body: bytes, number: int | None
    ) -> None:
        echo = json.dumps({"headers": dict(headers), "body": body.decode("utf-8", "replace")})
        if self.error_every and number is not None and number % self.error_every == 0:
            payload = json.dumps(
                {"error": {"message": f"rejected, you sent {echo}", "type": "echo"}}
            ).encode()
            writer.write(
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload)
            )
            await writer.drain()
            return
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        pieces = [echo[i : i + 64] for i in range(0, len(echo), 64)][:8]
        events: list[dict[str, Any]] = [
            {
                "id": f"c{number}",
                "object": "chat.completion.chunk",
                "model": "echo",
                "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
            }
            for piece in pieces
        ]
        events.append(
            {
                "id": f"c{number}",
                "object": "chat.completion.chunk",
                "model": "echo",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                "usage": {
                    "prompt_tokens": 5,
                    "completion_tokens": len(pieces),
                    "total_tokens": 5 + len(pieces),
                },
            }
        )
        for event in events:
            data = f"data: {json.dumps(event)}\n\n".encode()
            writer.write(b"%x\r\n%s\r\n" % (len(data), data))
            await writer.drain()
        data = b"data: [DONE]\n\n"
        writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data))
        await writer.drain()
