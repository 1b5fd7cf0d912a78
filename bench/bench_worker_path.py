"""Worker CPU per request, by part, on a load-insensitive footing: process CPU of one code path, repeated.

The client bench (``bench_client.py``, ceiling) measures a worker's CPU per request end to end, but its
figures move with the machine's load. These parts are measured in this process alone, each as the
minimum / median / maximum over repeats of process CPU time per item (asserts nothing):

- ``receive``: one response of the client bench's server (a 4-token chunked SSE stream, usage, ``[DONE]``)
  fed to the protocol transport's connection as one read, through the worker's exchange and the chat
  endpoint's parser, then the parser's ``finish`` with the builtin tokenizer: everything a worker does
  with a response's bytes after reading them;
- ``batch encode`` / ``batch decode``: a 64-record batch encoded in the worker (``encode_batch``) and
  decoded in the parent, per record;
- ``kernel stamp``: turning one read's ``SO_TIMESTAMPNS`` control message into a ``perf_counter_ns`` time;
- ``request id``: one take of the id counter every worker shares (a ``multiprocessing.Value`` and its
  lock), uncontended.

    python bench/bench_worker_path.py [--repeats 7]
    python bench/run.py worker_path

Issue 17 item 3 (worker CPU per request at concurrency 256 at most 40 µs), 2026-12-01, 2 CPUs shared with
about six other builds and a soak (load average 9-11), niced; µs per item, min / median / max of 7:

- receive, before (da79894): 18.81 / 18.90 / 19.03; a read's HTTP chunks handed to the sink as one and
  whole one-line SSE events split in one pass (c2bc60e): 15.85 / 16.04 / 16.20 (another run of the
  parent: 16.09 / 16.15 / 16.51); the three-count usage copied directly (554412a): 14.89 / 14.95 / 15.16;
  a chat delta of text alone returned at once (cc219c7), medians of two runs each 14.63, 14.85 -> 14.38,
  14.36;
- receive, 2026-12-01 later (branch parse, load average 3-3.7), in instructions (callgrind, PYTHONHASHSEED=0,
  1,200 minus 200 runs) per response: 158,556 (770474e) -> about 157,400 (_event: msgspec direct, one
  get; a run without the fixed seed) ->
  144,118 (newline tests as ``10 in data``: ``b"\\n" in data`` raises and clears a TypeError inside
  CPython 3.11) -> 142,711 (builtin count summed in C) -> 141,689 (chat text delta without _output);
  CPU 14.03 / 19.68 / 23.43 (a noisy run) -> 12.49 / 12.76 / 14.22; another pair 13.89 / 14.05 / 14.74 ->
  12.90 / 13.29 / 15.63;
- batch encode 1.58 / 1.60 / 1.76 -> 1.23 / 1.24 / 1.25 per record (the batch pickled as field tuples,
  f3583a4); batch decode, in the parent, 0.92 / 0.93 / 0.94 -> 0.91 / 0.91 / 0.98;
- kernel stamp 0.346 / 0.348 / 0.353 -> 0.314 / 0.317 / 0.320 (305c475);
- request id 0.338 / 0.343 / 0.360, left as it is: handing ids out in blocks would save at most that
  (under 1 % of a request) and change the cross-worker id order.

So about 4.8 µs of user-space CPU per request less in the worker (receive 4.4, encode 0.4, stamp 0.03),
and ~0.35 µs more from the request's own header (timeit, bench_client.py's notes).
Instruction counts of the whole worker (callgrind, one worker, concurrency 256, the difference between a
1,000- and a 3,000-request run over 2,000, so start-up cancels): see bench_client.py's notes.

The fourth session of the day (276bf59 -> a8ed68f, one after the other, quiet): receive 12.44 / 12.65 /
17.22 -> 9.70 / 9.98 / 11.01 (whole one-line events cut in one pass, the chat event's typed decode, one
loop over a read's events; 142,210 -> 107,739 instructions a response, callgrind); batch encode 1.18 /
1.19 / 1.20 -> 0.71 / 0.72 / 0.73 (MessagePack rows); batch decode, in the parent, 0.88 / 0.90 / 0.91 ->
0.94 / 0.96 / 1.05 (the rows are lists; bench_run_end's ingest did not move). About 3.2 µs of user-space
CPU a response less in all (receive 2.7, encode 0.5).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _per_item(run: Callable[[], Any], items: int, per: int, repeats: int) -> list[float]:
    """µs of process CPU per item: ``run`` called ``items`` times, each call ``per`` items; one figure per
    repeat (after one untimed pass)."""
    for _ in range(max(1, items // 10)):
        run()
    figures = []
    for _ in range(repeats):
        start = time.process_time_ns()
        for _ in range(items):
            run()
        figures.append((time.process_time_ns() - start) / items / per / 1000)
    return figures


def receive_path() -> Callable[[], None]:
    """One response of the client bench's server through a worker's receive path."""
    from bench_client import _WHOLE
    from inferload.engine.worker import _Exchange
    from inferload.records import RequestRecord
    from inferload_plugins.endpoints.chat import ChatAdapter
    from inferload_plugins.tokenizers.builtin import BuiltinTokenizer
    from inferload_plugins.transports._protocol_client import _Connection

    loop = asyncio.new_event_loop()
    adapter, tokenizer, conn, data = ChatAdapter(), BuiltinTokenizer(), _Connection(), memoryview(_WHOLE)

    def one() -> None:
        record = RequestRecord(1, "profiling", "worker_0", "c", "x", 0, 0, 0, 0, 8, 4)
        exchange = _Exchange(record, adapter.parser(True), 0)
        conn.sink, conn.waiter, conn.received, conn.ends_at_eof = exchange, loop.create_future(), 0, False
        conn.deliver = exchange.on_body_read
        conn.feed(data, 100, 200)
        exchange.parser.finish(record, tokenizer)
        conn.sink = conn.waiter = conn.deliver = None
        if record.error is not None or len(record.chunk_ns) != 4:
            raise RuntimeError(f"the response was not read as the bench server's: {record}")

    return one


def _batch() -> list[Any]:
    from inferload.records import RequestRecord

    records = []
    for i in range(64):
        base = 10**12 + i * 1000
        request_id = f"4f1c2d3e-aaaa-4bbb-8ccc-{i:012x}"
        record = RequestRecord(i, "profiling", "worker_0", f"conv-{i % 100}", request_id, base, base + 5,
                               base + 900, 1_700_000_000 * 10**9 + base, 8, 4)
        record.status, record.ack_ns, record.chunk_ns = 200, base + 100, [base + 200 + k for k in range(4)]
        record.usage_prompt_tokens, record.usage_completion_tokens, record.usage_total_tokens = 8, 4, 12
        record.client_output_tokens, record.bytes_sent, record.bytes_received = 4, 300, 600
        record.read_delay_ns = 3000
        records.append(record)
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    from inferload.engine.messages import decode_batch, encode_batch
    from inferload_plugins.transports._protocol_client import _SO_TIMESTAMPNS, _KernelClock

    batch = _batch()
    data = encode_batch(batch)
    clock = _KernelClock()
    now = time.perf_counter_ns()
    ancillary = [(1, _SO_TIMESTAMPNS, struct.pack("@qq", *divmod(now + clock.offset - 1000, 10**9)))]
    counter = multiprocessing.get_context("fork").Value("q", 0)
    lock, raw = counter.get_lock(), counter.get_obj()

    def take_id() -> int:
        with lock:
            taken = raw.value
            raw.value = taken + 1
        return taken

    parts: list[tuple[str, Callable[[], Any], int, int]] = [
        ("receive (per response)", receive_path(), 20000, 1),
        ("batch encode (per record)", lambda: encode_batch(batch), 2000, 64),
        ("batch decode (per record)", lambda: decode_batch(data), 2000, 64),
        ("kernel stamp (per read)", lambda: clock.stamp(ancillary, now), 300000, 1),
        ("request id (per take)", take_id, 300000, 1),
    ]
    print(f"{'part':<28} {'µs min':>8} {'median':>8} {'max':>8}")
    for name, run, items, per in parts:
        figures = _per_item(run, items, per, args.repeats)
        print(f"{name:<28} {min(figures):>8.3f} {statistics.median(figures):>8.3f} {max(figures):>8.3f}",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
