"""A tiny OpenAI-shaped HTTP server for secret-leak tests: it echoes every request back.

Each POST is answered with a streamed chat completion (chunked SSE) whose content is the request's
headers and body as JSON; every ``error_every``-th request gets a 500 whose JSON error message is the
same echo, so the echo lands in error records too. It records every request it received. It runs on its
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
                self.requests.append(EchoedRequest(method, path, headers, body))
                await self._answer(writer, headers, body, len(self.requests))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _answer(
        self, writer: asyncio.StreamWriter, headers: list[tuple[str, str]], body: bytes, number: int
    ) -> None:
        echo = json.dumps({"headers": dict(headers), "body": body.decode("utf-8", "replace")})
        if self.error_every and number % self.error_every == 0:
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
