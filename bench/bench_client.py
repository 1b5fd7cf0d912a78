"""Client benchmark of `inferload profile` (its own runner, not part of the tests): prints figures.

Runs against a minimal fast HTTP/1.1 SSE server started here in a second process (uvloop + a hand-rolled
parser: far cheaper per request than any real inference server), so the figures are the *client's*:

- ceiling in requests/s for 4-token streams at concurrency 1, 32, 256, per transport;
- CPU microseconds per request (worker processes, and the parent's aggregation, separately);
- TTFT error against the server's truth at concurrency 1, 64, 256, with the protocol transport's kernel
  receive stamps and with user-space ones (``--stamps``), against two truths side by side, and whether
  each run meets the target (mean < 1 ms, p99 < 5 ms); then where the time goes: the request's way in and
  the first chunk's way back, how long bytes sat in the client's sockets (and the server's) before being
  read, and how much of the time the workers' event loops were on a CPU or waiting for one;
- achieved versus asked rate at 500, 2,000 and 8,000 requests/s, with the schedule lag;
- start-up time from launching `inferload profile` to the server receiving the first request;
- peak memory (RSS of the parent and its workers) during a 20,000-request run.

The two truths. Both end at "first chunk written": the server's ``time.time_ns()`` right after the
``send`` of the first chunk returned. On loopback the kernel carries the segment to the client's socket
and stamps it there inside that call, so the time after it returns is a little later than the client's
kernel receive stamp: the "way back" is the client's wake-up and read, minus that tail of ``send``
(the breakdown prints the call's duration and the way back's minimum, which can be below 0).

- "server read" starts at the server's read of the request (``time.time_ns()`` after ``recvmsg``): the
  server's own view. It leaves out how long the request sat in the server's socket before the server got
  a CPU to read it, which every client TTFT contains; on a shared machine that wait is the bench
  server's, not the client's.
- "server kernel receive" ("kernel rx") starts at the kernel's receive stamp of the request's last segment
  (SO_TIMESTAMPNS on the server's socket). The error against it is the client's own part: its send path
  after its start stamp, the loopback both ways, and its own first-chunk stamp. It can be slightly
  negative (by up to the tail of the server's ``send`` above, a few µs) and never by more.

The server's TTFT (read -> send returned) is a difference of its monotonic clock; the kernel receive
stamp is wall-clock time, so "kernel rx" adds the server's wall-clock span from that stamp to its read. A
request whose wall-clock and monotonic spans at the server differ by more than 0.1 ms (a wall-clock step,
or the server preempted between its two adjacent clock reads) is counted in the "steps" column and left
out of "kernel rx" and the breakdown, as is one whose kernel stamp came after the server's read (seen
once here, 0.76 s after it). No clock offset between processes enters either truth; the
client's TTFT is a difference of its worker's ``perf_counter_ns`` (a kernel stamp converted with an offset
measured to tens of ns and re-measured every second: docs/metrics.md, "When a chunk is timestamped").

CPU placement. A real server runs on another machine; sharing the client's cores with it is this
benchmark's artefact. With 2 or more usable CPUs the bench server runs on the last quarter of them (at
least one) and inferload's parent and workers (this process and the workers it starts, which inherit the
mask) on the rest, by ``os.sched_setaffinity``; ``--no-pin`` leaves both on every CPU. The output says
which. Pinned, the default worker count is capped at inferload's CPUs (inferload counts
``os.cpu_count()``, not its affinity mask), as a user running it under ``taskset`` would with
``--workers``. The start-up and memory figure runs the real CLI, which inherits the same mask.

Usage: python bench/bench_client.py [--quick] [--transports protocol,aiohttp] [--stamps kernel,user]
       [--only ceiling,ttft,rate,startup] [--no-pin]

The issue-17 accuracy table, 5 runs with min/median/max (TTFT error at 1/64/256 against both truths,
runs meeting the target for each, worker CPU per request):
    python bench/run.py client --repeat 5 -- --only ttft,ceiling --transports protocol

Notes: worker CPU per request at concurrency 256 (issue 17 item 3, target 40 µs). Before this work, on a
quiet machine (``bench/run.py client --repeat 5 -- --only ceiling --transports protocol``), c256 kernel
stamps 42.5 / 43.5 / 45.5 µs (min/median/max), user-space stamps 39.5 / 40.0 / 42.5, c32 38 / 40 / 43.5,
parent 19.0 / 19.6 / 21.0. The changes of 2026-12-01 (c2bc60e..cc219c7), measured on a machine shared
with about six other builds and a soak (load average 4-14), so by parts and by instruction counts first:

- by parts (``bench/bench_worker_path.py``, process CPU, min/median/max of 7): the receive path of one
  response 18.81 / 18.90 / 19.03 -> 14.89 / 14.95 / 15.16 µs (a read's HTTP chunks handed to the sink as
  one, whole one-line SSE events split in one pass, the three-count usage copied directly), ~14.4 with a
  chat delta of text alone returned at once (cc219c7); the batch to the parent 1.58 / 1.60 / 1.76 ->
  1.23 / 1.24 / 1.25 µs per record (parent's unpickling unchanged, 0.93 -> 0.91); the kernel stamp
  0.35 -> 0.32 µs; the request's own header ~0.35 µs less (timeit);
  about 5 µs of user-space CPU per request in all;
- instructions (callgrind, one worker, c256, ``inferload profile`` against this server; the worker's
  count of a 3,000-request run minus a 1,000-request one, over 2,000, so start-up cancels; libc's
  ``memset`` left out, which under valgrind counts each connection's 256 KiB read buffer byte by byte and
  varied with how many connections a run opened): 289.6 k per request before, 227.1 k at f3583a4,
  233.8 k at a3c341d (-19 %; the two after-figures, 3 % apart with one more saving in the second, show
  the method's own spread); the parent's 390.6 k per record -> 409.8 k, 377.8 k (unchanged within that);
- end to end, niced, base (da79894) and after (33e0a13) interleaved, 5 runs each at load 4-7
  (``bench_client.py --only ceiling --transports protocol --stamps kernel`` with each tree on
  PYTHONPATH), min/median/max: c256 worker 47.5 / 49.5 / 50.0 -> 38.0 / 42.0 / 46.5 µs, parent 22.7 /
  24.4 / 25.9 -> 20.0 / 22.0 / 26.9; c32 worker 39.5 / 47.0 / 50.0 -> 35.0 / 42.0 / 43.0. The base reads
  ~6 µs above its quiet figure here: the quiet re-run decides the target (two earlier pairs at load
  8-14 read 49.5, 52.5 -> 45.0, 48.5 at c256);
- the issue's own command on the final tree (ec5c9fe), ``bench/run.py client --repeat 3 -- --only ceiling
  --transports protocol``, niced, load 3-5: c256 kernel 38.5 / 41.0 / 42.0 µs, user-space 34.0 / 37.5 /
  45.5; c32 kernel 34.0 / 36.5 / 39.0; parent at c256 20.6 / 22.7 / 23.0;
- one read buffer per transport instead of one per connection (81c7a03): peak worker RSS of a 20,000-
  request c256 run 113 -> 48 MB.

Left as they are: the request id counter (a lock and a shared integer, 0.31-0.34 µs per take: blocks of
ids would save at most that and change the cross-worker id order); the tokenizer count (~0.5 µs, one
regex pass); a compact fixed-layout batch encoding (the parent stores the worker's pickled bytes and
reads them back: the field-tuple pickle kept that format for ~0.4 µs of the ~1.6).

The quiet re-run, 2026-12-01, main at 4107a30 (everything above merged; load 0.9 at the start, nothing
else running), ``bench/run.py client --repeat 5 -- --only ttft,ceiling --transports protocol`` (242 s):
c256 kernel stamps 43.0 / 43.5 / 53.0 µs, user-space 39.5 / 43.0 / 45.5; c32 kernel 35.5 / 40.0 / 49.0;
c1 86.7 / 96.7 / 116.7; parent at c256 24.1 / 24.8 / 25.9. This machine read slower than the day
before: the base (da79894) against main, interleaved right after, 5 runs each, c256 kernel worker 47.0 /
48.5 / 54.0 -> 42.0 / 45.0 / 48.0 µs (the base read 43.5 median on the quiet machine of 2026-11-30). So
the changes are ~4 µs (~9 %) and the target of 40 µs at every repeat is not met on this machine. TTFT
error, kernel stamps, against the server's read (5 runs): c1 mean 0.060 / 0.081 / 0.099 ms, p99 0.133 /
0.202 / 2.330; c64 0.057 / 0.089 / 0.168, p99 0.337 / 0.533 / 4.825; c256 0.166 / 0.266 / 0.528, p99
0.805 / 1.549 / 11.767 (4 of 5 runs meet the target; the fifth's worst socket wait p99 12.97 ms: bytes
queued in the client's socket while its one loop was on-CPU 59.5 % and runnable-but-waiting 17 %);
against the server's kernel receive stamp 5 of 5 at every concurrency.

Reads first, then sweeps (2026-12-01, second session; a new machine of the same kind, quiet, load 0.5-1.0
at the start of each measurement). The issue's command on 770474e read worse here than on the machine
before: c256 kernel stamps, error vs read mean 0.318 / 0.500 / 3.296 ms, p99 5.584 / 5.949 / 15.116 (0 of 5
runs meeting the target), vs kernel rx p99 0.004 / 5.611 / 14.938 (1 of 5); worker CPU c256 kernel 44.0 /
48.5 / 59.0 µs, user 39.0 / 43.0 / 56.0. Where the time went: the streams of this bench run in lockstep
(the server's TTFT and token gaps are exact), so 256 first chunks arrive in one instant, and the client's
socket wait was 2.2 ms at the median and 7.5 ms at p99; once it passes the 5 ms token gap, the kernel
merges the next chunk into the unread one and the read carries the later chunk's stamp (+5 ms, the p99's
value). perf sched showed the parent (same CPU) delaying the worker's wake-ups by up to 4-5 ms too.
Changes, each measured interleaved with the base (3-4 runs each, ``bench_client.py --only ttft``):

- the protocol transport reads and stamps every socket found readable before it parses any (b07d645):
  socket wait p99 7.4-8.5 -> 4.7-5.6 ms;
- and, with kernel stamps, sweeps its sockets (an epoll of its own) once 1 ms has passed since one was
  last read, between two parses and before each send (0868d43): socket wait p99 3.2-5.3 ms, kernel rx p99
  0.002-0.003 ms in 3 of 4 runs (a helper's tests running beside);
- the parse path, 10.6 % fewer instructions per response (callgrind; the parse branch, bench_worker_path);
- tried and dropped: the parent at nice 10 or SCHED_BATCH, a 0.1 ms EEVDF slice (sched_setattr) for the
  parent or the worker: no better, the parent's short slice clearly worse (worker runq 29-38 %).

The issue's command on 250dbdc, quiet (243 s): c256 kernel stamps, error vs read mean 0.202 / 0.294 /
0.347 ms, p99 1.151 / 1.387 / 2.638, max 2.192 / 3.226 / 4.666 (5 of 5 runs meeting the target); vs
kernel rx mean -0.002 / -0.001 / -0.000, p99 0.001 / 0.003 / 0.004 (5 of 5); socket wait p99 2.471 /
3.161 / 4.829 ms. c64 and c1: 5 of 5 both truths. User-space stamps at c256: 3 of 5 (read), 4 of 5
(kernel rx): their stamp is taken after the read, so the wait itself is in it. Worker CPU per request,
c256: kernel stamps 39.0 / 44.5 / 47.0 µs, user-space 37.0 / 40.0 / 50.0; c32 kernel 33.5 / 35.5 / 36.0;
parent at c256 21.0 / 23.8 / 25.9. Per request at c256 the worker makes one ``sendto`` and one ``recvmsg``
(strace -c), so the kernel-stamped path's extra is its Python read callback (recvmsg_into with ancillary
data, the stamp, a copy out of the shared buffer), against uvloop's C read in user-space mode.

Item 3, 2026-12-01, third session (branch cpu, from d503094; a 1-hour soak and other builds on the machine,
load average 3.5-6.6 throughout, everything of this session niced, so instruction counts first). Where a
c256 worker's CPU goes (one worker, kernel stamps, the ceiling's server; ``perf record -g``, strace -c,
py-spy): the kernel 27 % (``sendto`` 15 %: on loopback it carries the request into the server's socket,
TCP receive included; ``recvmsg`` 3 %, of which ``put_cmsg`` for the stamp 0.1 %; epoll 2.5 %, the
sweeps' ``epoll_wait`` 1.3 % of it; the batches' ``sendmsg`` to the parent 0.4 %; preemption ~5 %), user
space 73 %. py-spy's 12 % in ParentPipe._write is the worker waiting runnable while the parent (same CPU)
runs, not CPU. User space, callgrind (one worker, c256, ``inferload profile`` against this server,
5,000 minus 1,000 requests over 4,000, PYTHONHASHSEED=0; libc ``memset`` and the OpenBLAS thread's spin,
which only valgrind's serialised threads show in a worker, left out): 219.7 k instructions per request
at d503094 (a 3,000 minus 1,000 pair: 218.5 k): the receive path ~142 k (bench_worker_path), the record's
share of the batch pickle ~18.7 k (bench_worker_path's batch: 41 attrgetter reads ~5.5 k, the big ints'
``save_long`` ~3.7 k), the request's building, sending and stamped read the rest. Changes, each measured
by callgrind on its own path, then the whole worker:

- the stamped read (787172e): the read joins the queue inline, copied by one bytearray slice (was a
  memoryview slice and ``tobytes``), ``recvmsg_into`` and ``send`` bound once, the sweep's due check inline
  in ``request``: one send plus one ``_StampedSocket.read`` 20,427 -> 19,478 instructions;
- the request id (7618cfb): the shared counter's lock taken with its own acquire/release, not ``with``
  (two Python calls of multiprocessing's SemLock wrapper): 515 -> 133 ns per take (timeit, loaded);
- one coroutine per exchange (bf48c85): ``_exchange`` folded into ``request``: 1,239 instructions per
  await less (callgrind of one coroutine level);
- the whole worker: 219.7 k -> 212.8 k (the first two) -> 212.7 k (all three) per request, -3.2 %
  (the method's spread is ~1 k, so the third is not seen there); with user-space stamps
  (INFERLOAD_KERNEL_TIMESTAMPS=0), same method, 200.3 k -> 197.1 k. So what kernel stamps add in user
  space went from 19.4 k to 15.7 k instructions per request (~7 % of it): ~5.5 k of bytecode in the eval
  loop (read, stamp, the Python write, the sweeps and their due checks, the read delay), ~1.3 k of
  big-int arithmetic on ns times (multi-digit ints: ``x_sub``, ``k_mul``, allocations), ~1.5 k in
  ``recvmsg_into``'s argument parsing and ancillary tuples, the rest allocation and ``perf_counter_ns``.

Tried and dropped: ``recvmsg(256 KiB)`` returning bytes (no copy): 29.8 against 9.6 µs per send and read,
glibc serving each 256 KiB allocation with mmap; ``recvmsg(64 KiB)``: -1,100 instructions per read but a
smaller read size (more reads, other stamps, for a large backlog); the stamp's common case inlined in the
read: -400 more, a copy of _KernelClock.stamp; ``encode_batch``'s plain-record test in C (map/frozenset
instead of a generator): 18,680 -> 18,772 per record, no gain; ``_Connection._deliver`` folded into
``feed``: 141,807 -> 141,834 per response (bench_worker_path receive), no gain. Left: the batch pickle
(a compact encoding changes what the parent stores and reads back), ``asyncio.current_task`` (Python in
3.11; its dict is private), ``Event.is_set`` per slot turn, the record's 41-field constructor (~0.8 µs).
End to end, ``bench_client.py --only ceiling --transports protocol`` with d503094 and bf48c85 on PYTHONPATH,
run alternately, 6 runs each, niced, load average 3.0-4.9 (a soak beside): c256 kernel stamps, worker
47.0 / 54.5 / 72.5 -> 41.5 / 57.5 / 72.5 µs (the first three pairs alone 47.0 / 48.5 / 49.5 -> 41.5 /
41.5 / 55.0), user-space stamps 43.5 / 54.2 / 66.0 -> 41.5 / 45.0 / 79.0, c32 kernel 44.5 / 55.0 / 65.5 ->
37.0 / 50.8 / 64.0; the parent, whose code did not change, 26.0 / 32.9 / 43.6 -> 23.5 / 35.4 / 44.0. On
this machine the noise is several times the change, so the instruction counts above are its measure:
about 3 % of the worker's user-space CPU, 2-2.5 % of its CPU with the kernel's share. Issue 17's 40 µs
at the quiet median (44.5 before) needs ~10 %: not reached by this session. What is left is spread thin
(no single part above ~7 % of a request but the receive path's parse, ~65 %, and the kernel's
``sendto``); the next candidates measured here: the kernel-stamped extras listed above (15.7 k), the
batch pickle (~18.7 k a record in bench_worker_path's batch) and the chat stream's per-event decode.

After the merge (334c3f9), base d503094 and main alternated by PYTHONPATH, 10 pairs, nothing else running
(load 1.1-1.5, right after a 1-hour soak): c256 kernel stamps, worker CPU base 39.5 / 47.0 / 56.5 ->
38.5 / 43.5 / 69.0 µs (min/median/max), the paired differences' median -1.5 µs; user-space stamps 35.0 /
43.0 / 51.0 -> 35.5 / 39.8 / 52.5. Runs of one tree a minute apart moved by up to 25 µs (the machine,
not the code: both trees read ~39 in the same minutes and ~55 in others), so these figures cannot settle
a 3 % change; the instruction counts do. The issue's 40 µs at c256 with kernel stamps: not met.

Item 3, 2026-12-01, fourth session (main 276bf59 -> a8ed68f, nothing else running but this work). Where a
request's bytecodes went (a tracer counting executed opcodes per function in the worker, 3,000 minus
1,000 requests): 2,482 a request, of which the chat stream's per-event work (``_event`` 457,
``_delta`` 166, the SSE split 240) was a quarter. Changes, each measured by callgrind on its own path:

- record batches to the parent as MessagePack field rows (``records.pack_records``, msgspec) instead of
  a pickle of field tuples, with pickle kept for what MessagePack cannot carry exactly (2fd84fa):
  batch encode 1.213 / 1.227 / 1.276 -> 0.723 / 0.733 / 0.741 µs a record (bench_worker_path); the
  parent's ingest unchanged (bench_run_end, 3 runs each: 17.0 / 19.4 / 19.7 -> 16.9 / 17.9 / 20.4 µs a
  record); 192 -> 201 bytes a record on disk;
- a read of whole one-line ``data:`` events cut in one pass (``SSEParser.whole_data``, ebd9c92):
  the receive path of one response 142,210 -> 124,793 instructions;
- a typed msgspec decode of plain chat/completions events (``plain_event_reader``: the fields nobody
  reads are skipped, not built), the dict and ``extract`` kept for every other event (4cb879b, e88969c):
  124,793 -> 112,565; then the read's events in one loop (bcd8720) 107,515; the LF test by memchr and the
  first read's sniff cut short: 107,739 at a8ed68f (after the reviewer's UTF-8 check, 2b04d5e, +1.1 k);
- by parts, bench_worker_path, min / median / max of 7, base -> a8ed68f run one after the other: receive
  12.44 / 12.65 / 17.22 -> 9.70 / 9.98 / 11.01 µs a response; batch encode 1.18 / 1.19 / 1.20 -> 0.71 /
  0.72 / 0.73 µs a record; batch decode (parent) 0.88 / 0.90 / 0.91 -> 0.94 / 0.96 / 1.05;
- the whole worker (callgrind, one worker, c256, 3,000 minus 1,000 requests over 2,000, libc memset and
  the OpenBLAS thread's spin left out): kernel stamps 212,961 -> 169,346 instructions a request
  (-20.5 %); user-space stamps 196,572 -> 153,234 (-22.0 %). Bytecodes a request 2,482 -> 2,013 (at
  bcd8720).

End to end the machine decides more than the code. ``bench_client.py --only ceiling --transports
protocol``, base and main alternated, 10 pairs, c256 kernel stamps, worker CPU min / median / max: at
bcd8720 45.0 / 59.3 / 69.5 -> 39.0 / 46.3 / 63.0 µs (paired ratio median 0.91); at a8ed68f 35.5 / 47.5 /
63.0 -> 35.5 / 46.5 / 66.0 (paired ratio 0.97; user-space stamps 0.90, c32 0.92); the parent's CPU,
whose code barely changed, moved 19.7 - 40.6 µs between consecutive runs, so the worker's figure of one
run mostly tells the machine's speed that minute. Each figure in a fresh process (a spawned process per
measurement, warm-up run first, as bench_ceiling does; 6 pairs): base 40.5 / 49.8 / 59.0 -> main 36.5 /
42.3 / 49.5, paired ratio median 0.84. Whole-process CPU of a 40,000-request c256 run (``os.times()`` of
the worker at exit, start-up imports included), 3 runs each alternated: base user 32.3 - 38.8 + system
10.7 - 13.7 µs a request -> main user 27.6 - 28.1 + system 10.7 - 11.9, i.e. 38.3 - 40.0 µs in all.
The issue's command on bcd8720 (``bench/run.py client --repeat 5 -- --only ttft,ceiling --transports
protocol``, 259 s): c256 kernel stamps 43.5 / 48.5 / 55.5, user-space 42.0 / 49.0 / 58.5, c32 kernel
38.0 / 41.0 / 48.0; TTFT accuracy with kernel stamps 5 of 5 runs meeting the target at 1, 64 and 256
against both truths (c256 vs read: mean 0.246 / 0.312 / 0.422 ms, p99 1.077 / 1.320 / 4.987). So the
40 µs target at c256 is met by the whole-process figure and by the better runs (36.5, 35.5), not by the
bench's median in that slow hour (42-47); the user-space share of the worker is now ~70 %
(``os.times()``), the rest the kernel's (``sendto`` on loopback carries the request into the server).

The issue's command again an hour later, the machine quiet (the parent's CPU 20-24 µs a request against
25-31 before), main (f1ca9c8), the base (276bf59) and main once more, back to back (~4 min each), min /
median / max of 5: c256 kernel stamps, worker CPU **31.5 / 35.0 / 48.5** -> base 36.5 / 44.0 / 54.5 ->
main **32.5 / 34.5 / 36.5** µs (user-space stamps 33.0 / 35.0 / 38.5, base 38.0 / 40.0 / 48.0, main 31.0 /
33.5 / 43.0; c32 kernel 28.5 / 32.0 / 39.0, base 33.0 / 37.0 / 48.0). TTFT error at c256, kernel stamps,
runs meeting the target (mean < 1 ms, p99 < 5 ms): against the server's kernel receive stamp 5, 5, 5 of 5
(main, base, main); against the server's read 5 of 5, base 2 of 5, main 3 of 5 (p99 max 6.98 ms: bytes
waiting in the client's socket while its loop ran, socket wait p99 up to 4.4 ms). At 1 and 64, 5 of 5
against both truths in every set. So on a quiet machine the c256 worker is at ~35 µs a request, 20 %
under the base measured in the same minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import logging
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inferload import hookimpl

# -- the minimal server ------------------------------------------------------------------------------

_EVENTS = [b'data: {"choices":[{"index":0,"delta":{"content":"tok%d"}}]}\n\n' % i for i in range(4)]
_EVENTS.append(
    b'data: {"choices":[],"usage":{"prompt_tokens":8,"completion_tokens":4,"total_tokens":12}}\n\n'
)
_EVENTS.append(b"data: [DONE]\n\n")
_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
    b"Connection: keep-alive\r\n\r\n"
)


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


_FIRST = _chunk(_EVENTS[0])
_REST = [_chunk(e) for e in _EVENTS[1:]]
_WHOLE = _HEAD + _FIRST + b"".join(_REST) + b"0\r\n\r\n"


def serve(port_queue: Any, ttft_s: float, itl_s: float, cpus: set[int] | None = None) -> None:
    """A keep-alive SSE server: 4 tokens after ``ttft_s`` then ``itl_s`` apart (0: one write), on ``cpus``
    (``os.sched_setaffinity``; None: wherever the kernel puts it).

    ``GET /truth`` answers {request_id: [received_ns, first_chunk_ns, kernel_received_ns, first_send_ns,
    received_mono_ns, first_chunk_mono_ns]} and clears it: the time the server read the request, the time
    its first chunk's ``send`` returned, the kernel's receive time of the request's last segment
    (SO_TIMESTAMPNS; 0 when the kernel gave none), and the time just before that first ``send`` was
    called, all ``time.time_ns()``; then the read and the return of that ``send`` again on
    ``time.monotonic_ns()``, which no wall-clock step moves. Sockets are read with ``recvmsg`` for the
    kernel's stamp.
    """
    import socket
    import struct

    import uvloop

    if cpus:
        os.sched_setaffinity(0, cpus)

    truth: dict[str, list[int]] = {}
    first_request = [0]
    timespec = struct.Struct("@qq")
    so_timestampns = getattr(socket, "SO_TIMESTAMPNS", 35)

    class Handler:
        def __init__(self, loop: Any, sock: socket.socket) -> None:
            self.loop, self.sock, self.buf, self.pending, self.closed = loop, sock, b"", b"", False
            self.transport = self
            loop.add_reader(sock.fileno(), self.readable)

        def readable(self) -> None:
            try:
                data, ancillary, _, _ = self.sock.recvmsg(65536, socket.CMSG_SPACE(timespec.size))
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:
                self.close()
                return
            kernel = 0
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == so_timestampns:
                    seconds, nanoseconds = timespec.unpack_from(payload)
                    kernel = seconds * 1_000_000_000 + nanoseconds
            self.data_received(data, kernel)

        def close(self) -> None:
            if not self.closed:
                self.closed = True
                self.loop.remove_reader(self.sock.fileno())
                if self.pending:
                    self.loop.remove_writer(self.sock.fileno())
                self.sock.close()

        def is_closing(self) -> bool:
            return self.closed

        def write(self, data: bytes) -> None:
            if self.closed:
                return
            if self.pending:
                self.pending += data
                return
            try:
                sent = self.sock.send(data)
            except BlockingIOError:
                sent = 0
            except OSError:
                self.close()
                return
            if sent < len(data):
                self.pending = data[sent:]
                self.loop.add_writer(self.sock.fileno(), self.writable)

        def writable(self) -> None:
            try:
                sent = self.sock.send(self.pending)
            except BlockingIOError:
                return
            except OSError:
                self.close()
                return
            self.pending = self.pending[sent:]
            if not self.pending:
                self.loop.remove_writer(self.sock.fileno())

        def data_received(self, data: bytes, kernel_ns: int) -> None:
            now, mono = time.time_ns(), time.monotonic_ns()
            self.buf += data
            while True:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self.buf[:end]
                length = 0
                pos = head.lower().find(b"content-length:")
                if pos >= 0:
                    length = int(
                        head[pos + 15 : head.find(b"\r\n", pos) if head.find(b"\r\n", pos) > 0 else None]
                    )
                total = end + 4 + length
                if len(self.buf) < total:
                    return
                self.buf = self.buf[total:]
                if head.startswith(b"GET /truth"):
                    body = json.dumps({"truth": truth, "first_request_ns": first_request[0]}).encode()
                    truth.clear()
                    first_request[0] = 0
                    self.transport.write(
                        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
                    )
                    continue
                if not first_request[0]:
                    first_request[0] = now
                rid_pos = head.find(b"X-Request-Id: ")
                rid = head[rid_pos + 14 : head.find(b"\r\n", rid_pos + 14)].decode() if rid_pos >= 0 else ""
                record = truth[rid] = [now, 0, kernel_ns, 0, mono, 0]
                if ttft_s <= 0:
                    record[3] = time.time_ns()
                    self.transport.write(_WHOLE)
                    record[1], record[5] = time.time_ns(), time.monotonic_ns()
                else:
                    self.transport.write(_HEAD)
                    asyncio.get_running_loop().call_later(ttft_s, self._first, record)

        def _first(self, record: list[int]) -> None:
            if self.transport.is_closing():
                return
            record[3] = time.time_ns()
            self.transport.write(_FIRST)
            record[1], record[5] = time.time_ns(), time.monotonic_ns()
            loop = asyncio.get_running_loop()
            for i, piece in enumerate(_REST[:-2]):
                loop.call_later(itl_s * (i + 1), self._write, piece)
            loop.call_later(itl_s * (len(_REST) - 2), self._write, b"".join(_REST[-2:]) + b"0\r\n\r\n")

        def _write(self, data: bytes) -> None:
            if not self.transport.is_closing():
                self.transport.write(data)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(4096)
        listener.setblocking(False)

        def accept() -> None:
            while True:
                try:
                    sock, _ = listener.accept()
                except (BlockingIOError, InterruptedError):
                    return
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.setsockopt(socket.SOL_SOCKET, so_timestampns, 1)
                Handler(loop, sock)

        loop.add_reader(listener.fileno(), accept)
        port_queue.put(listener.getsockname()[1])
        await asyncio.Event().wait()

    uvloop.run(main())


# -- CPU placement ---------------------------------------------------------------------------------------


@dataclass
class Placement:
    """Which CPUs the bench server and inferload (this process, so its parent and the workers it starts,
    which inherit the mask) run on; None for both when unpinned."""

    server: set[int] | None = None
    client: set[int] | None = None

    def describe(self) -> str:
        """One line for the output: where each side runs, or why nothing was pinned."""
        if self.server is None or self.client is None:
            return "CPU placement: none (bench server, inferload parent and workers share every CPU)"
        return (f"CPU placement: bench server on CPU {_cpu_list(self.server)}; inferload parent and workers "
                f"on CPU {_cpu_list(self.client)} (--no-pin to share)")


PLACEMENT = Placement()
"""Set once by :func:`place` at start; read by :class:`Server` and :func:`run_client`."""


def _cpu_list(cpus: set[int]) -> str:
    return ",".join(str(cpu) for cpu in sorted(cpus))


def place(pin: bool) -> Placement:
    """Pin this process (inferload's parent and, by inheritance, its workers) to all but the last quarter
    of the CPUs it may use (at least one), and record that last quarter for the bench server. A real server
    runs on another machine; one sharing the client's cores makes the client wait for a CPU it would
    have had. With fewer than 2 usable CPUs, or ``pin`` false, nothing is pinned."""
    usable = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not pin or len(usable) < 2:
        return Placement()
    split = len(usable) - max(1, len(usable) // 4)
    placement = Placement(server=set(usable[split:]), client=set(usable[:split]))
    os.sched_setaffinity(0, placement.client)
    return placement


class Server:
    """The minimal server in its own process, on the CPUs :data:`PLACEMENT` gives it."""

    def __init__(self, ttft_s: float = 0.0, itl_s: float = 0.0) -> None:
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        self.process = ctx.Process(
            target=serve, args=(queue, ttft_s, itl_s, PLACEMENT.server), daemon=True
        )
        self.process.start()
        self.url = f"http://127.0.0.1:{queue.get(timeout=120)}"

    def truth(self) -> dict[str, Any]:
        import httpx

        return httpx.get(f"{self.url}/truth", timeout=30).json()

    def stop(self) -> None:
        self.process.kill()
        self.process.join()


# -- running the client in-process ---------------------------------------------------------------------


class Probe:
    """A throwaway plugin: CPU of the workers and the parent over the profiling phase."""

    def __init__(self) -> None:
        self.start: dict[str, float] = {}
        self.parent_start = 0.0
        self.parent_last = 0.0
        self.workers_end = 0.0
        self.workers_start = 0.0
        self.sched_start: tuple[int, int, int] | None = None
        self.sched_last: tuple[int, int, int] | None = None
        """(loop threads' on-CPU ns, their runqueue wait ns, perf_counter_ns) at the first and last batch."""
        self.worker_cpus: set[int] = set()
        """The CPUs the workers may run on (their affinity masks, united), read as profiling starts."""

    @staticmethod
    def _workers_cpu(state: Any) -> float:
        import psutil

        total = 0.0
        for stats in state.workers.values():
            with contextlib.suppress(psutil.Error, TypeError):
                times = psutil.Process(stats.pid).cpu_times()
                total += times.user + times.system
        return total

    @staticmethod
    def _self_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    @hookimpl
    def phase_changed(self, state: Any, phase: str) -> None:
        if phase == "profiling":
            self.workers_start = self._workers_cpu(state)
            self.parent_start = self.parent_last = self._self_cpu()
            for stats in state.workers.values():
                with contextlib.suppress(OSError, TypeError):
                    self.worker_cpus |= os.sched_getaffinity(stats.pid)

    @staticmethod
    def _workers_sched(state: Any) -> tuple[int, int]:
        """(on-CPU ns, runqueue-wait ns) of the workers' event-loop threads, summed (/proc schedstat)."""
        run = wait = 0
        for stats in state.workers.values():
            with contextlib.suppress(OSError, TypeError, ValueError):
                on_cpu, waited, _ = Path(f"/proc/{stats.pid}/schedstat").read_text().split()
                run, wait = run + int(on_cpu), wait + int(waited)
        return run, wait

    @hookimpl
    def record_batch(self, state: Any, records: list[Any]) -> None:
        self.parent_last = self._self_cpu()
        if not self.sched_start:
            self.sched_start = (*self._workers_sched(state), time.perf_counter_ns())
        self.sched_last = (*self._workers_sched(state), time.perf_counter_ns())

    @hookimpl
    def run_finished(self, state: Any) -> None:
        # The workers have exited by now; the engine sampled their CPU times just before telling them to.
        self.workers_end = sum(
            (stats.cpu_user_sec or 0.0) + (stats.cpu_system_sec or 0.0) for stats in state.workers.values()
        )


def run_client(url: str, workdir: Path, probe_plugin: Any = None, **settings: Any) -> dict[str, Any]:
    """One `inferload profile` run in this process; returns summary, records and CPU figures.
    ``probe_plugin``: another throwaway plugin to register for the run (a benchmark's own probe)."""
    from inferload.config import ProfileConfig
    from inferload.engine.runner import ProfileRun
    from inferload.registry import load_plugins

    registry = load_plugins()
    probe = Probe()
    registry.add(probe, "bench-probe")
    if probe_plugin is not None:
        registry.add(probe_plugin, "bench-extra-probe")
    artifacts = Path(tempfile.mkdtemp(dir=workdir))
    values = {
        "url": url,
        "model": "bench",
        "streaming": True,
        "isl": 8,
        "ui": "none",
        "artifact_dir": artifacts,
        "warmup_request_count": 200,
        **settings,
    }
    config = ProfileConfig.load(values, registry=registry)  # plugins declare some settings
    run = ProfileRun(config, registry, console=io.StringIO())
    run.run()
    summary = run.state.results or {}
    run_dir = run.state.artifact_dir
    records = [json.loads(line) for line in (run_dir / "profile_export.jsonl").read_text().splitlines()]
    records = [r for r in records if r["metadata"]["benchmark_phase"] == "profiling"]
    shutil.rmtree(artifacts, ignore_errors=True)
    count = len(records)
    return {
        "summary": summary,
        "records": records,
        "workers": len(run.state.workers),
        "worker_us": (probe.workers_end - probe.workers_start) / count * 1e6 if count else float("nan"),
        "parent_us": (probe.parent_last - probe.parent_start) / count * 1e6 if count else float("nan"),
        "loop_shares": _loop_shares(probe, len(run.state.workers)),
        "worker_cpus": probe.worker_cpus,
    }


def _loop_shares(probe: Probe, workers: int) -> tuple[float, float]:
    """(on-CPU, runnable-but-waiting) shares of the workers' event-loop threads over the profiling batches:
    the second is CPU starvation, time the loop could have run (and read its sockets) but the machine gave
    its core to something else."""
    if probe.sched_start is None or probe.sched_last is None or not workers:
        return float("nan"), float("nan")
    wall = (probe.sched_last[2] - probe.sched_start[2]) * workers
    if wall <= 0:
        return float("nan"), float("nan")
    return ((probe.sched_last[0] - probe.sched_start[0]) / wall,
            (probe.sched_last[1] - probe.sched_start[1]) / wall)


def _pct(values: list[float], q: float) -> float:
    import numpy

    return float(numpy.percentile(values, q)) if values else float("nan")


# -- the figures ----------------------------------------------------------------------------------------


def bench_ceiling(workdir: Path, transports: list[str], quick: bool, stamps: list[str]) -> None:
    print("\n## Client ceiling: 4-token streams, zero-latency server")
    print(
        f"{'transport':>10} {'stamp':>6} {'conc':>5} {'workers':>7} {'req/s':>9} {'worker CPU µs/req':>18} "
        f"{'parent CPU µs/req':>18} {'errors':>6}"
    )
    server = Server()
    try:
        # one untimed run first, so one-time costs in this process (first imports, first numpy calls)
        # are not charged to the first figure
        run_client(server.url, workdir, concurrency=8, request_count=500)
        server.truth()
        for transport in transports:
            for stamp in stamps if transport == "protocol" else ["user"]:
                with _stamping(stamp):
                    for concurrency in (1, 32, 256):
                        count = (3000 if concurrency == 1 else 20000) // (4 if quick else 1)
                        result = run_client(server.url, workdir, concurrency=concurrency,
                                            request_count=count, transport=transport)
                        server.truth()
                        summary = result["summary"]
                        print(
                            f"{transport:>10} {stamp:>6} {concurrency:>5} {result['workers']:>7} "
                            f"{summary['request_throughput']['avg']:>9,.0f} {result['worker_us']:>18.1f} "
                            f"{result['parent_us']:>18.1f} {summary['error_request_count']['avg']:>6.0f}",
                            flush=True,
                        )
    finally:
        server.stop()


@contextlib.contextmanager
def _stamping(stamp: str) -> Any:
    """Workers started inside stamp reads with the kernel's receive time (``kernel``) or in user space."""
    previous = os.environ.get("INFERLOAD_KERNEL_TIMESTAMPS")
    os.environ["INFERLOAD_KERNEL_TIMESTAMPS"] = "1" if stamp == "kernel" else "0"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("INFERLOAD_KERNEL_TIMESTAMPS", None)
        else:
            os.environ["INFERLOAD_KERNEL_TIMESTAMPS"] = previous


CLOCK_STEP_MS = 0.1
"""A request's server wall-clock and monotonic spans differing by more than this: the wall clock stepped
(or the server was preempted between its adjacent reads of the two clocks)."""

TARGET_MEAN_MS, TARGET_P99_MS = 1.0, 5.0
"""Issue 17's accuracy target for the TTFT error at every concurrency: mean under 1 ms, p99 under 5 ms."""


def bench_ttft_error(workdir: Path, quick: bool, stamps: list[str]) -> None:
    print("\n## TTFT error against server truth (server TTFT 20 ms, 4 tokens 5 ms apart; target: mean < "
          f"{TARGET_MEAN_MS:g} ms and p99 < {TARGET_P99_MS:g} ms in every run; steps: over "
          f"{CLOCK_STEP_MS:g} ms)")
    # the explanation carries no figures, so bench/run.py's spread printout leaves it out
    for line in (
        "error = client TTFT - server TTFT, against two server truths, both ending when the first chunk's",
        "  send returned: 'read' starts at the server's read of the request (its user-space time),",
        "  'kernel rx' at the kernel's receive stamp of the request. 'read' leaves out how long the request",
        "  waited in the server's socket for the server to get a CPU, which every client TTFT contains;",
        "  'kernel rx' does not, so its error is the client's own (its send path, the kernel's loopback both",
        "  ways, its stamp) and can be slightly negative: on loopback the kernel delivers and stamps the",
        "  chunk at the client inside the server's send call, before that call returns",
        "stamp: kernel = the protocol transport's kernel receive time (default), user = the user-space read",
        "  (INFERLOAD_KERNEL_TIMESTAMPS set to zero)",
        "server TTFT = its monotonic read -> send returned; steps: requests whose server wall-clock and",
        "  monotonic spans differ by more than the heading says (a wall-clock step, or the server preempted",
        "  between two clock reads), or whose kernel stamp is after the server's read: left out of",
        "  kernel rx (a wall-clock stamp) and the breakdown",
    ):
        print(line)
    print(
        f"{'stamp':>6} {'conc':>5} {'workers':>7} {'requests':>8} {'read mean ms':>12} {'p99 ms':>7} "
        f"{'max ms':>7} {'kernel rx mean ms':>17} {'p99 ms':>7} {'max ms':>7} {'steps':>5}"
    )
    rows: list[str] = []
    verdicts: list[str] = []
    cpus: set[int] = set()
    server = Server(ttft_s=0.020, itl_s=0.005)
    try:
        for stamp in stamps:
            with _stamping(stamp):
                for concurrency in (1, 64, 256):
                    count = max(200, concurrency * (8 if quick else 20))
                    row, verdict, seen = _ttft_row(server, workdir, stamp, concurrency, count)
                    rows.append(row)
                    verdicts.extend(verdict)
                    cpus |= seen
    finally:
        server.stop()
    print(f"workers ran on CPU {_cpu_list(cpus) or '?'} (their affinity masks as profiling started)")
    print("\n## Targets: each run states its own; bench/run.py counts the runs meeting each after the spread")
    for verdict in verdicts:
        print(verdict)
    print("\n## Where the time goes (same runs), p50 and p99 in ms, shares in %")
    for line in (
        "way in: client start -> server read; way back: server send returned -> client stamp (min: how",
        "  negative); send: the server's first-chunk send call, in µs; socket wait: a request's longest",
        "  read delay (kernel receive -> worker read); server wait: the request's kernel receive -> server",
        "  read; loop on-CPU / runq: the workers' loop threads' share of the time on a CPU / runnable but",
        "  waiting for one",
    ):
        print(line)
    print(
        f"{'stamp':>6} {'conc':>5} {'in p50':>7} {'in p99':>7} {'back min':>8} {'back p50':>8} "
        f"{'back p99':>8} {'send p99 µs':>11} {'socket p50':>10} {'socket p99':>10} {'server p50':>10} "
        f"{'server p99':>10} {'on-CPU':>6} {'runq':>6}"
    )
    for row in rows:
        print(row)


def _verdict(truth: str, stamp: str, concurrency: int, errors: list[float]) -> str:
    """The run's ``target ...: met|missed`` line for one truth at one concurrency (bench/run.py counts)."""
    met = bool(errors) and sum(errors) / len(errors) < TARGET_MEAN_MS and _pct(errors, 99) < TARGET_P99_MS
    return (f"target TTFT error vs server {truth}, {stamp} stamps, concurrency {concurrency} "
            f"(mean < {TARGET_MEAN_MS:g} ms, p99 < {TARGET_P99_MS:g} ms): {'met' if met else 'missed'}")


def _stats(values: list[float]) -> str:
    """mean, p99 and max of ``values`` (ms) as three table cells."""
    if not values:
        return f"{'-':>7} {'-':>7} {'-':>7}"
    return f"{sum(values) / len(values):.3f} {_pct(values, 99):>7.3f} {max(values):>7.3f}"


def _ttft_row(server: Server, workdir: Path, stamp: str, concurrency: int,
              count: int) -> tuple[str, list[str], set[int]]:
    """Print one TTFT error row; return its breakdown row, its target verdicts and the workers' CPUs."""
    result = run_client(server.url, workdir, concurrency=concurrency, request_count=count)
    truth = server.truth()["truth"]
    errors, kernel_errors, way_in, way_back, sends, waits, server_waits = [], [], [], [], [], [], []
    steps = 0
    for record in result["records"]:
        server_times = truth.get(record["metadata"]["x_request_id"])
        ttft = record["metrics"].get("time_to_first_token", {}).get("value")
        if server_times and ttft is not None and server_times[1]:
            read_ns, written_ns, kernel_ns, send_ns, read_mono, written_mono = server_times
            server_ttft = (written_mono - read_mono) / 1e6
            # the wall clock stepped during the request (or a kernel stamp after the read: one did here)
            stepped = abs((written_ns - read_ns) / 1e6 - server_ttft) > CLOCK_STEP_MS or kernel_ns > read_ns
            steps += stepped
            error = ttft - server_ttft
            inbound = (read_ns - record["metadata"]["request_start_ns"]) / 1e6
            errors.append(error)
            if not stepped:
                way_in.append(inbound)
                way_back.append(error - inbound)
                sends.append((written_ns - send_ns) / 1e3)
            if kernel_ns and not stepped:
                server_waits.append((read_ns - kernel_ns) / 1e6)
                kernel_errors.append(error - server_waits[-1])
        if record["metadata"].get("read_delay_ns") is not None:
            waits.append(record["metadata"]["read_delay_ns"] / 1e6)
    on_cpu, runq = result["loop_shares"]
    print(
        f"{stamp:>6} {concurrency:>5} {result['workers']:>7} {len(errors):>8} {_stats(errors):>28} "
        f"{_stats(kernel_errors):>33} {steps:>5}",
        flush=True,
    )
    verdicts = [_verdict("read", stamp, concurrency, errors),
                _verdict("kernel rx", stamp, concurrency, kernel_errors)]
    breakdown = (
        f"{stamp:>6} {concurrency:>5} {_pct(way_in, 50):>7.3f} {_pct(way_in, 99):>7.3f} "
        f"{min(way_back, default=float('nan')):>8.3f} {_pct(way_back, 50):>8.3f} {_pct(way_back, 99):>8.3f} "
        f"{_pct(sends, 99):>11.1f} {_pct(waits, 50):>10.3f} {_pct(waits, 99):>10.3f} "
        f"{_pct(server_waits, 50):>10.3f} {_pct(server_waits, 99):>10.3f} {100 * on_cpu:>6.1f} "
        f"{100 * runq:>6.1f}"
    )
    return breakdown, verdicts, result["worker_cpus"]


def bench_rate(workdir: Path, quick: bool) -> None:
    print("\n## Achieved versus asked rate (constant arrivals, zero-latency server, 3 s each)")
    print(f"{'asked/s':>8} {'achieved/s':>10} {'lag p50 ms':>10} {'lag p99 ms':>10} {'workers':>7}  warnings")
    server = Server()
    try:
        for rate in (500, 2000, 8000):
            count = int(rate * (1.5 if quick else 3))
            result = run_client(
                server.url, workdir, request_rate=rate, arrival_pattern="constant", request_count=count
            )
            server.truth()
            starts = sorted(r["metadata"]["request_start_ns"] for r in result["records"])
            achieved = (len(starts) - 1) / ((starts[-1] - starts[0]) / 1e9)
            lag = result["summary"]["client_health"]["schedule_lag"]
            warnings = "; ".join(result["summary"]["client_health"]["warnings"]) or "-"
            print(
                f"{rate:>8,} {achieved:>10,.0f} {lag['p50']:>10.3f} {lag['p99']:>10.3f} "
                f"{result['workers']:>7}  "
                f"{warnings[:90]}",
                flush=True,
            )
    finally:
        server.stop()


def bench_startup_and_memory(quick: bool) -> None:
    import psutil

    print("\n## Start-up time and peak memory (the real CLI, concurrency 256)")
    server = Server()
    workdir = Path(tempfile.mkdtemp())
    try:
        count = 5000 if quick else 20000
        exe = Path(sys.executable).parent / "inferload"
        launched = time.time_ns()
        process = subprocess.Popen(
            [
                str(exe),
                "profile",
                "--url",
                server.url,
                "-m",
                "bench",
                "--streaming",
                "--concurrency",
                "256",
                "--request-count",
                str(count),
                "--isl",
                "8",
                "--ui",
                "none",
                "--artifact-dir",
                str(workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        parent = psutil.Process(process.pid)
        peak_total = peak_parent = 0
        while process.poll() is None:
            with contextlib.suppress(psutil.Error):
                rss_parent = parent.memory_info().rss
                rss_total = rss_parent + sum(c.memory_info().rss for c in parent.children(recursive=True))
                peak_parent = max(peak_parent, rss_parent)
                peak_total = max(peak_total, rss_total)
            time.sleep(0.02)
        truth = server.truth()
        startup = (truth["first_request_ns"] - launched) / 1e9
        print(f"first request reached the server {startup:.3f} s after launch (exit {process.returncode})")
        print(
            f"peak RSS: parent {peak_parent / 2**20:.0f} MB, parent + workers {peak_total / 2**20:.0f} MB "
            f"({count:,} requests; RSS double-counts pages the forked workers share)"
        )
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests per figure")
    parser.add_argument("--transports", default="protocol,aiohttp")
    parser.add_argument("--only", default="ceiling,ttft,rate,startup")
    parser.add_argument("--stamps", default="kernel,user",
                        help="the protocol transport's stamps: kernel receive time, user-space read, or both")
    parser.add_argument("--no-pin", action="store_true",
                        help="leave the bench server and inferload on the same CPUs (default: with 2 or "
                             "more CPUs, the server gets the last quarter of them, at least one; inferload "
                             "the rest)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("inferload").setLevel(logging.ERROR)
    global PLACEMENT
    PLACEMENT = place(not args.no_pin)
    print(f"inferload client bench on {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(PLACEMENT.describe())
    only = set(args.only.split(","))
    workdir = Path(tempfile.mkdtemp())
    try:
        if "ceiling" in only:
            bench_ceiling(workdir, args.transports.split(","), args.quick, args.stamps.split(","))
        if "ttft" in only:
            bench_ttft_error(workdir, args.quick, args.stamps.split(","))
        if "rate" in only:
            bench_rate(workdir, args.quick)
        if "startup" in only:
            bench_startup_and_memory(args.quick)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
