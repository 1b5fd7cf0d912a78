"""Client CPU per request for each endpoint dialect (chat, responses, anthropic_messages, tgi_generate,
ollama_chat streamed; embeddings, tei_embed, tei_rerank, rerank whole) against the simulator in ``--fast``
mode, where the simulator's route for each dialect comes from its endpoint plugin.

Each figure is the CPU time of the worker processes over the profiling phase divided by the requests (what
parsing a dialect's stream costs the client), measured ``--repeats`` times; printed as median and the
min-max spread (CPU times tick in 10 ms steps: keep requests x µs well above that). The simulator runs
in its own process and is not counted. Same stream shape for every dialect: ``--osl`` tokens, one token
per event, streamed. The encoder dialects (no tokens, never streamed) answer whole bodies, compared with
``embeddings``; the rerank ones carry ``--rerank-documents`` documents of ``--isl`` tokens each.

    python bench/bench_dialects.py [--repeats 5] [--requests 2000] [--osl 16]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_client import run_client

DIALECTS = ("chat", "responses", "anthropic_messages", "tgi_generate", "ollama_chat")
ENCODERS = ("embeddings", "tei_embed", "tei_rerank", "rerank")
"""Whole-body dialects, compared with the first (rerank: --rerank-documents per request)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_dialects.py", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per dialect (default 5)")
    parser.add_argument("--requests", type=int, default=4000, help="requests per run (default 4000)")
    parser.add_argument("--osl", type=int, default=16, help="output tokens per request (default 16)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rerank-documents", type=int, default=8, help="per rerank request (default 8)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("inferload").setLevel(logging.ERROR)

    from inferload_plugins.simulator.config import SimulatorConfig
    from inferload_plugins.simulator.embedded import start_embedded

    print(f"dialect CPU bench on {os.cpu_count()} cores, Python {sys.version.split()[0]}: "
          f"{args.requests} streamed requests of {args.osl} tokens at concurrency {args.concurrency}, "
          f"{args.repeats} runs each")
    print(f"{'endpoint type':>20} {'worker CPU µs/req':>18} {'min-max':>15} {'vs first':>8} {'errors':>6}")
    workdir = Path(tempfile.mkdtemp())
    simulator = start_embedded(SimulatorConfig(fast=True, tokens_per_chunk=1))
    try:
        run_client(simulator.url, workdir, request_count=300, osl=args.osl, warmup_request_count=0)  # warm
        for group, streamed in ((DIALECTS, True), (ENCODERS, False)):
            base = None
            for dialect in group:
                extra = {"rerank_documents": args.rerank_documents} if "rerank" in dialect else {}
                figures, errors = [], 0
                for _ in range(args.repeats):
                    result = run_client(simulator.url, workdir, endpoint_type=dialect, streaming=streamed,
                                        osl=args.osl if streamed else None, request_count=args.requests,
                                        concurrency=args.concurrency, warmup_request_count=100, **extra)
                    figures.append(result["worker_us"])
                    errors += int(result["summary"]["error_request_count"]["avg"])
                median = statistics.median(figures)
                base = base or median
                print(f"{dialect:>20} {median:>18.1f} {min(figures):>7.1f}-{max(figures):<7.1f} "
                      f"{median / base:>8.2f} {errors:>6}", flush=True)
    finally:
        simulator.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
