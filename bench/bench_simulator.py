"""Capacity of the built-in simulator in --fast mode: requests/s under load from a second process.

The simulator runs embedded (its own process); this process drives it with a bare asyncio client over
keep-alive connections — the cheapest client there is, so the figure is the server's, not the client's.
Each case runs for a fixed time at a fixed concurrency (closed loop: every connection sends its next
request as soon as the previous answer is complete). Besides requests/s it prints the server's CPU time
per request, which gives the ceiling of one server core (1e6 / µs-per-request) even when the client,
sharing the machine, is what saturates first.

    python bench/bench_simulator.py                      # default cases, ~5 s each
    python bench/bench_simulator.py --duration 10 --concurrency 1,32,256 --tokens 64
    python bench/bench_simulator.py --compare-stacks     # the same load against aiohttp and FastAPI

``--compare-stacks`` is the measurement behind the simulator's HTTP stack (raw asyncio Protocol with
httptools on uvloop): it serves the simulator's exact response bytes from minimal aiohttp.web and
FastAPI-on-uvicorn apps and loads all three the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import psutil

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
    uvloop = None  # type: ignore[assignment]


@dataclass
class CaseResult:
    server: str
    stream: bool
    concurrency: int
    requests: int
    seconds: float
    server_cpu_s: float
    client_cpu_s: float
    tokens: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def server_us_per_request(self) -> float:
        return self.server_cpu_s / max(1, self.requests) * 1e6

    def row(self) -> str:
        return (f"{self.server:<10} {'stream' if self.stream else 'json':<7} {self.concurrency:>5} "
                f"{self.rps:>10,.0f} {self.rps * self.tokens:>12,.0f} "
                f"{self.server_cpu_s / self.seconds * 100:>7.0f}% "
                f"{self.client_cpu_s / self.seconds * 100:>7.0f}% "
                f"{self.server_us_per_request:>9.0f} {1e6 / max(self.server_us_per_request, 1e-9):>12,.0f}")


HEADER = (f"{'server':<10} {'mode':<7} {'conc':>5} {'req/s':>10} {'tokens/s':>12} {'srv CPU':>8} "
          f"{'cli CPU':>8} {'µs/req':>9} {'1-core cap':>12}")


class _LoadConnection(asyncio.Protocol):
    """Sends one request, reads until the answer is complete, repeats until told to stop."""

    def __init__(self, request: bytes, stream: bool, counter: list[int], stop: asyncio.Future[None]) -> None:
        self.request = request
        self.stream = stream
        self.counter = counter
        self.stop = stop
        self.buffer = bytearray()
        self.body_end = -1
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if self.stream:
            done = buffer.endswith(b"\r\n0\r\n\r\n")
        else:
            if self.body_end < 0:
                head_end = buffer.find(b"\r\n\r\n")
                if head_end < 0:
                    return
                head = bytes(buffer[:head_end]).lower()
                start = head.find(b"content-length:") + 15
                length = int(head[start: head.find(b"\r\n", start) if head.find(b"\r\n", start) > 0
                                  else head_end])
                self.body_end = head_end + 4 + length
            done = len(buffer) >= self.body_end
        if not done:
            return
        if not buffer.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"unexpected answer: {bytes(buffer[:200])!r}")
        self.counter[0] += 1
        buffer.clear()
        self.body_end = -1
        if self.stop.done():
            self.transport.close()  # type: ignore[union-attr]
        else:
            self.transport.write(self.request)  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


def _request_bytes(host: str, port: int, stream: bool, tokens: int) -> bytes:
    body = json.dumps({
        "model": "bench", "prompt": "Measure the simulator's capacity.", "max_tokens": tokens,
        "ignore_eos": True, "stream": stream,
    }).encode()
    return (f"POST /v1/completions HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n").encode() + body


async def _drive(host: str, port: int, stream: bool, tokens: int, concurrency: int, seconds: float,
                 warmup: float) -> tuple[int, float]:
    loop = asyncio.get_running_loop()
    request = _request_bytes(host, port, stream, tokens)
    counter = [0]
    stop: asyncio.Future[None] = loop.create_future()
    connections = []
    for _ in range(concurrency):
        _, protocol = await loop.create_connection(lambda: _LoadConnection(request, stream, counter, stop),
                                                   host, port)
        connections.append(protocol)
    await asyncio.sleep(warmup)
    start_count, start = counter[0], time.perf_counter()
    await asyncio.sleep(seconds)
    done, elapsed = counter[0] - start_count, time.perf_counter() - start
    stop.set_result(None)
    await asyncio.wait([c.closed for c in connections], timeout=5)
    return done, elapsed


def run_case(server: str, url: str, pid: int, stream: bool, tokens: int, concurrency: int, seconds: float,
             warmup: float) -> CaseResult:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    server_proc = psutil.Process(pid)
    me = psutil.Process()
    # CPU is read around the whole case; warm-up is short compared with the measured window.
    server_before, client_before = server_proc.cpu_times(), me.cpu_times()
    runner = uvloop.run if uvloop is not None else asyncio.run
    requests, elapsed = runner(_drive(host, int(port), stream, tokens, concurrency, seconds, warmup))
    server_after, client_after = server_proc.cpu_times(), me.cpu_times()
    share = elapsed / (elapsed + warmup)
    return CaseResult(
        server=server, stream=stream, concurrency=concurrency, requests=requests, seconds=elapsed,
        server_cpu_s=(server_after.user + server_after.system - server_before.user - server_before.system)
        * share,
        client_cpu_s=(client_after.user + client_after.system - client_before.user - client_before.system)
        * share,
        tokens=tokens,
    )


# -- alternative stacks for --compare-stacks ---------------------------------------------------------


def _canned_responses(tokens: int) -> tuple[bytes, list[bytes]]:
    """The simulator's own body and SSE events for the bench request, so only the stack differs."""
    from inferload_plugins.simulator.api import Generation
    from inferload_plugins.simulator.config import SimulatorConfig
    from inferload_plugins.simulator.text import TokenTape

    data = {"model": "bench", "prompt": "Measure the simulator's capacity.", "max_tokens": tokens,
            "ignore_eos": True, "stream": True}
    gen = Generation(data, SimulatorConfig(fast=True), TokenTape(0), chat=False)
    events = [gen.token_events(i, i + 1) for i in range(tokens)] + [gen.final_events()]
    return gen.body(), events


def serve_alternative(stack: str, port_fd: int, tokens: int) -> None:
    """Body of the alternative-server process: serve canned answers on the inherited socket."""
    body, events = _canned_responses(tokens)
    sock = socket.socket(fileno=port_fd)

    async def handle_json(data: dict) -> bool:
        return bool(data.get("stream"))

    if stack == "aiohttp":
        from aiohttp import web

        async def completions(request: web.Request) -> web.StreamResponse:
            if not await handle_json(await request.json()):
                return web.Response(body=body, content_type="application/json")
            response = web.StreamResponse(headers={"content-type": "text/event-stream"})
            await response.prepare(request)
            for event in events:
                await response.write(event)
            await response.write_eof()
            return response

        app = web.Application()
        app.router.add_post("/v1/completions", completions)
        web.run_app(app, sock=sock, print=None, access_log=None)
    elif stack == "fastapi":
        import uvicorn
        from fastapi import FastAPI, Request
        from fastapi.responses import Response, StreamingResponse

        api = FastAPI()

        async def completions(request: Request) -> Response:
            if not await handle_json(await request.json()):
                return Response(body, media_type="application/json")

            async def stream() -> AsyncIterator[bytes]:
                for event in events:
                    yield event

            return StreamingResponse(stream(), media_type="text/event-stream")

        # Annotations are strings here (PEP 563); FastAPI needs the real Request class to inject it.
        completions.__annotations__ = {"request": Request, "return": Response}
        api.post("/v1/completions")(completions)

        config = uvicorn.Config(api, log_level="warning", access_log=False, loop="uvloop", http="httptools")
        uvicorn.Server(config).run(sockets=[sock])
    else:
        raise SystemExit(f"unknown stack {stack!r}")


def start_alternative(stack: str, tokens: int) -> tuple[str, subprocess.Popen[bytes]]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4096)
    port = listener.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve-stack", stack, "--listen-fd", str(listener.fileno()),
         "--tokens", str(tokens)], pass_fds=(listener.fileno(),),
    )
    listener.close()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:  # queued until it serves
        conn.sendall(_request_bytes("127.0.0.1", port, False, tokens).replace(
            b"HTTP/1.1\r\n", b"HTTP/1.1\r\nconnection: close\r\n", 1))
        while conn.recv(65536):
            pass
    return f"http://127.0.0.1:{port}", process


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds per case")
    parser.add_argument("--warmup", type=float, default=0.5, help="unmeasured seconds before each case")
    parser.add_argument("--concurrency", default="1,16,64", help="comma-separated connection counts")
    parser.add_argument("--tokens", type=int, default=16, help="output tokens per request (max_tokens)")
    parser.add_argument("--mode", choices=("both", "json", "stream"), default="both")
    parser.add_argument("--compare-stacks", action="store_true",
                        help="also load minimal aiohttp.web and FastAPI/uvicorn servers the same way")
    parser.add_argument("--serve-stack", help=argparse.SUPPRESS)
    parser.add_argument("--listen-fd", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_stack:
        serve_alternative(args.serve_stack, args.listen_fd, args.tokens)
        return 0

    from inferload_plugins.simulator.config import SimulatorConfig
    from inferload_plugins.simulator.embedded import start_embedded

    modes = {"both": (False, True), "json": (False,), "stream": (True,)}[args.mode]
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    print(f"simulator capacity, --fast, {args.tokens} tokens/request, {args.duration:g} s per case, "
          f"{os.cpu_count()} CPUs, python {sys.version.split()[0]}")
    print(HEADER)
    results = []
    simulator = start_embedded(SimulatorConfig(fast=True))
    try:
        for stream in modes:
            for concurrency in concurrencies:
                result = run_case("simulator", simulator.url, simulator.pid, stream, args.tokens, concurrency,
                                  args.duration, args.warmup)
                results.append(result)
                print(result.row(), flush=True)
    finally:
        simulator.stop()
    if args.compare_stacks:
        for stack in ("aiohttp", "fastapi"):
            url, process = start_alternative(stack, args.tokens)
            try:
                for stream in modes:
                    for concurrency in concurrencies:
                        result = run_case(stack, url, process.pid, stream, args.tokens, concurrency,
                                          args.duration, args.warmup)
                        print(result.row(), flush=True)
            finally:
                process.terminate()
                process.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
