"""Worker-side cost of reading a stream: SSE framing plus the chat endpoint's event parsing, per event.

Every streamed chunk goes through this in the worker's event loop, between the read's timestamp and the
next read, so its cost bounds how many chunks per second one worker can timestamp faithfully. Three read
shapes: one ``data:`` line per read (what servers send; the fast path), the same events with CRLF line
ends (the general path), and eight events per read. Prints the median per-event cost over repeats and
its spread (min-max); asserts nothing.

    python bench/bench_sse.py [--events 20000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any


def _event(i: int, line_end: bytes) -> bytes:
    obj = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
           "choices": [{"index": 0, "delta": {"content": f" tok{i}"}, "logprobs": None,
                        "finish_reason": None}]}
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + line_end + line_end


def _reads(shape: str, events: int) -> list[bytes]:
    if shape == "one-data-line-per-read":
        return [_event(i, b"\n") for i in range(events)]
    if shape == "crlf":
        return [_event(i, b"\r\n") for i in range(events)]
    lf = [_event(i, b"\n") for i in range(events)]
    return [b"".join(lf[i:i + 8]) for i in range(0, events, 8)]


def measure(shape: str, events: int, repeats: int) -> list[float]:
    """Microseconds per event, one figure per repeat (each a fresh parser per 64 events, as per request)."""
    from inferload_plugins.endpoints.chat import ChatAdapter

    adapter: Any = ChatAdapter()
    reads = _reads(shape, events)
    per_request = 64 if shape != "eight-events-per-read" else 8
    figures = []
    for _ in range(repeats):
        started = time.perf_counter()
        for start in range(0, len(reads), per_request):
            parser = adapter.parser(True)
            for ts, data in enumerate(reads[start:start + per_request]):
                parser.feed(data, ts)
        figures.append((time.perf_counter() - started) * 1e6 / events)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    print(f"{'read shape':<26} {'median µs/event':>16} {'min-max':>14}")
    for shape in ("one-data-line-per-read", "crlf", "eight-events-per-read"):
        figures = measure(shape, args.events, args.repeats)
        print(f"{shape:<26} {statistics.median(figures):>16.3f} {min(figures):>6.3f}-{max(figures):<7.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
