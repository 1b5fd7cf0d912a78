"""Multi-turn benchmark (its own runner, not part of the tests): what carrying a conversation's history costs
the client per request. Prints figures.

- Body assembly: microseconds to build one turn's request body
  (``inferload_plugins.flows.session_plan.turn_body``) after 0..32 earlier turns of ~200-token messages
  and ~100-token replies, full history versus ``window:2``; min / median / max of repeated timings.
- End to end: `inferload profile` against the zero-latency SSE server of ``bench_client.py`` (4-token
  replies): worker CPU microseconds per request and requests/s for single-turn prompts (also with a
  never-firing cancellation timer on every other request: the request flow's per-request cost) versus 8-turn
  sessions with ``--conversation-history`` ``none``, ``window:2`` and ``full``; each configuration
  ``--repeat`` times, min / median / max.

Usage: python bench/bench_sessions.py [--quick] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_client import Server, run_client

WORDS = ["river", "delta", "mountain", "valley", "forest", "ocean", "island", "desert", "meadow", "canyon"]


def _text(tokens: int, seed: int) -> str:
    return " ".join(WORDS[(seed + i) % len(WORDS)] for i in range(tokens))


def _spread(values: list[float]) -> str:
    return f"{min(values):8.1f} {statistics.median(values):8.1f} {max(values):8.1f}"


def bench_body_assembly(quick: bool) -> None:
    from inferload_plugins.flows.session_plan import (
        SessionPlan,
        SessionTemplate,
        TurnPlan,
        _encode,
        turn_body,
    )

    print("\n## Body assembly per turn (µs: min median max), 200-token messages, 100-token replies")
    print(f"{'earlier turns':>13} {'full':>26} {'window:2':>26} {'body KiB (full)':>16}")
    head = b'{"model":"m","messages":'
    tail = b',"stream":true,"max_tokens":128,"stream_options":{"include_usage":true}}'
    user = _encode({"role": "user", "content": _text(200, 1)})
    reply = _encode({"role": "assistant", "content": _text(100, 2)})
    turn = TurnPlan(head=head, tail=tail, parts=(user,), input_tokens=200, output_tokens=128, delay_ns=0)
    template = SessionTemplate(conversation_id="s", system=(), system_tokens=0, turns=(turn,))
    loops = 2000 if quick else 10000
    for earlier_turns in (0, 1, 4, 8, 16, 32):
        earlier = [((user, reply), 300)] * earlier_turns
        figures = []
        for history in (None, 2):
            plan = SessionPlan(sessions=(template,), history=history, header=None, text_mode=False, stride=1)
            samples = []
            for _ in range(5):
                start = time.perf_counter_ns()
                for _ in range(loops):
                    turn_body(plan, template, turn, earlier)
                samples.append((time.perf_counter_ns() - start) / loops / 1000)
            figures.append(_spread(samples))
        size = len(turn_body(SessionPlan((template,), None, None, False, 1), template, turn, earlier)[0])
        print(f"{earlier_turns:>13} {figures[0]:>26} {figures[1]:>26} {size / 1024:>16.1f}")


def _write(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    return path


def bench_end_to_end(quick: bool, repeat: int) -> None:
    print("\n## End to end: 4-token replies, zero-latency server, concurrency 32 (min median max)")
    print(f"{'workload':>24} {'requests':>8} {'worker CPU µs/req':>28} {'req/s':>28}")
    sessions = 100 if quick else 500
    turns = 8
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        single = _write(workdir / "single.jsonl",
                        [{"text": _text(200, n)} for n in range(sessions * turns)])
        multi = _write(workdir / "sessions.jsonl",
                       [{"turns": [{"text": _text(200, n * turns + t)} for t in range(turns)]}
                        for n in range(sessions)])
        server = Server()
        try:
            run_client(server.url, workdir, concurrency=8, request_count=300)  # warm this process up
            workloads: list[tuple[str, dict[str, Any]]] = [
                ("single-turn", {"input_file": single, "request_count": sessions * turns}),
                # every other request gets a cancellation timer that never fires: the flow's per-request cost
                ("single-turn, 50% timers", {"input_file": single, "request_count": sessions * turns,
                                             "request_cancellation_rate": 50.0,
                                             "request_cancellation_delay": 600.0}),
                ("8 turns, history none", {"input_file": multi, "conversation_history": "none"}),
                ("8 turns, window:2", {"input_file": multi, "conversation_history": "window:2"}),
                ("8 turns, history full", {"input_file": multi, "conversation_history": "full"}),
            ]
            for name, settings in workloads:
                cpu, rates, count = [], [], 0
                for _ in range(repeat):
                    result = run_client(server.url, workdir, concurrency=32, warmup_request_count=0,
                                        **settings)
                    count = len(result["records"])
                    cpu.append(result["worker_us"])
                    rates.append(result["summary"].get("request_throughput", {}).get("avg", float("nan")))
                print(f"{name:>24} {count:>8} {_spread(cpu):>28} {_spread(rates):>28}")
        finally:
            server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer loops and sessions per figure")
    parser.add_argument("--repeat", type=int, default=3, help="runs per end-to-end figure (default 3)")
    args = parser.parse_args(argv)
    bench_body_assembly(args.quick)
    bench_end_to_end(args.quick, args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
