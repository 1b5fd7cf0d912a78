"""The simulator's performance model: output lengths, step times, continuous batching and queueing."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

import openai
import pytest

from inferload_plugins.simulator.model import Engine, Sequence, output_length, step_seconds
from inferload_plugins.simulator.text import TOKENS, TokenTape, count_tokens
from inferload_plugins.simulator.truthlog import read_truth_log
from simulator_wire import StartSimulator, simulator_config

pytest_plugins = ["simulator_fixtures"]


def test_ignore_eos_runs_to_max_tokens() -> None:
    assert output_length(0.5, max_tokens=7, ignore_eos=True, limit=100, mean=50, sigma=0.6) == (7, "length")
    assert output_length(0.5, max_tokens=None, ignore_eos=True, limit=100, mean=50,
                         sigma=0.6) == (100, "length")


def test_natural_length_stops_at_the_mean_without_spread_and_is_cut_by_max_tokens() -> None:
    assert output_length(0.9, max_tokens=None, ignore_eos=False, limit=999, mean=40, sigma=0) == (40, "stop")
    assert output_length(0.9, max_tokens=10, ignore_eos=False, limit=999, mean=40, sigma=0) == (10, "length")
    assert output_length(0.9, max_tokens=None, ignore_eos=False, limit=5, mean=40, sigma=0) == (5, "length")
    assert output_length(0.9, max_tokens=None, ignore_eos=False, limit=999, mean=40, sigma=0,
                         reasoning=8) == (48, "stop")


def test_natural_lengths_have_the_configured_mean() -> None:
    grid = [(i + 0.5) / 2000 for i in range(2000)]  # an even spread of draws: deterministic
    lengths = [output_length(u, max_tokens=None, ignore_eos=False, limit=10**9, mean=200, sigma=0.6)[0]
               for u in grid]
    assert math.isclose(sum(lengths) / len(lengths), 200, rel_tol=0.05)
    assert min(lengths) < 100 < 300 < max(lengths)


def test_step_time_grows_with_running_sequences_and_prefill() -> None:
    config = simulator_config(decode_step_s=0.01, decode_step_per_seq_s=0.001, prefill_tokens_per_s=1000)
    assert math.isclose(step_seconds(config, 1, 0), 0.011)
    assert math.isclose(step_seconds(config, 10, 0), 0.020)
    assert math.isclose(step_seconds(config, 10, 500), 0.520)


def test_token_tape_is_deterministic_per_seed_and_wraps() -> None:
    tape, same, other = TokenTape(1), TokenTape(1), TokenTape(2)
    assert tape.tokens(10, 50) == same.tokens(10, 50) != other.tokens(10, 50)
    assert tape.draw("a", "b") == same.draw("a", "b") != tape.draw("a", "c")
    wrapped = tape.tokens(TokenTape.LENGTH - 3, 10)
    assert len(wrapped) == 10 and wrapped[3:] == tape.tokens(0, 7)
    assert all(token.decode() in TOKENS for token in wrapped)


def test_generated_words_are_single_tokens_of_the_builtin_tokenizer() -> None:
    builtin = pytest.importorskip("inferload_plugins.tokenizers.builtin")
    tokenizer = builtin.BuiltinTokenizer()
    assert [t for t in TOKENS if len(tokenizer.encode(t)) != 1] == []
    assert all(count_tokens(t) == 1 for t in TOKENS)


def _run_engine(config_settings: dict, jobs: list[tuple[int, int]]) -> list[tuple[Sequence, list[int]]]:
    """Run sequences (prompt, output tokens) through an engine; returns each with its chunk sizes."""

    async def main() -> list[tuple[Sequence, list[int]]]:
        engine = Engine(simulator_config(**config_settings))
        engine.start()

        async def consume(seq: Sequence) -> list[int]:
            sizes = []
            while tokens := await seq.next_chunk():
                sizes.append(tokens)
            return sizes

        seqs = [Sequence(p, n, stream=True, tokens_per_chunk=engine.config.tokens_per_chunk) for p, n in jobs]
        for seq in seqs:
            engine.submit(seq)
        results = await asyncio.gather(*(consume(seq) for seq in seqs))
        await engine.stop()
        return list(zip(seqs, results, strict=True))

    return asyncio.run(main())


def test_speculative_decoding_delivers_several_tokens_per_chunk() -> None:
    [(seq, sizes)] = _run_engine({"decode_step_s": 0.001, "tokens_per_chunk": 3}, [(5, 11)])
    assert sizes == [1, 3, 3, 3, 1]  # prefill yields the first token, then 3 per step
    assert seq.done and seq.scheduled_ns <= seq.first_token_ns <= seq.finished_ns


def test_chunked_prefill_spreads_a_long_prompt_over_steps() -> None:
    settings = {"decode_step_s": 0.001, "max_batched_tokens": 4, "max_running_seqs": 2}
    [(short, _), (long, _)] = _run_engine(settings, [(1, 3), (10, 1)])
    # The long prompt needs ceil(10 / budget) steps of prefill, finishing after the short one's first token.
    assert long.first_token_ns > short.first_token_ns


def test_sequences_beyond_the_limit_wait_for_a_free_slot() -> None:
    results = _run_engine({"decode_step_s": 0.001, "decode_step_per_seq_s": 0, "max_running_seqs": 2},
                          [(4, 5)] * 5)
    seqs = [seq for seq, _ in results]
    for seq in seqs:
        running_then = [s for s in seqs if s.scheduled_ns <= seq.scheduled_ns < s.finished_ns]
        assert len(running_then) <= 2
    queued = sorted(seqs, key=lambda s: s.scheduled_ns)[2:]
    assert all(any(s.finished_ns <= q.scheduled_ns for s in seqs) for q in queued)


def test_overload_makes_later_requests_wait_and_the_truth_log_proves_it(
    start_simulator: StartSimulator, tmp_path: Path
) -> None:
    """Six concurrent streams, two slots: four must queue behind a finished sequence, so their time to
    first chunk includes a whole service time; the server's own timestamps show it."""
    truth = tmp_path / "truth.jsonl"
    simulator = start_simulator(max_running_seqs=2, decode_step_s=0.025, decode_step_per_seq_s=0,
                                truth_log=truth)

    async def stream_one(client: openai.AsyncOpenAI, i: int) -> int:
        stream = await client.completions.create(
            model="m", prompt=f"request number {i}", max_tokens=20, stream=True,
            extra_body={"ignore_eos": True}, extra_headers={"X-Request-Id": f"r{i}"})
        return sum([count_tokens(chunk.choices[0].text) async for chunk in stream if chunk.choices])

    async def main() -> list[int]:
        async with openai.AsyncOpenAI(base_url=simulator.url + "/v1", api_key="x", max_retries=0,
                                      timeout=30) as client:
            return await asyncio.gather(*(stream_one(client, i) for i in range(6)))

    assert asyncio.run(main()) == [20] * 6
    assert simulator.stop() == 0
    records = read_truth_log(truth)
    assert sorted(r["request_id"] for r in records) == [f"r{i}" for i in range(6)]
    assert all(r["outcome"] == "ok" and r["completion_tokens"] == 20 for r in records)
    # All six were in the server before the first one finished: they really competed.
    assert max(r["received_ns"] for r in records) < min(r["finished_ns"] for r in records)
    # Never more than two running at once.
    for r in records:
        overlapping = [o for o in records if o["scheduled_ns"] <= r["scheduled_ns"] < o["finished_ns"]]
        assert len(overlapping) <= 2, json.dumps(records, indent=1)
    # The four that queued were admitted only after an earlier one finished ...
    by_admission = sorted(records, key=lambda r: r["scheduled_ns"])
    first, queued = by_admission[:2], by_admission[2:]
    for r in queued:
        assert any(o["finished_ns"] <= r["scheduled_ns"] for o in records)
    # ... so their time to first chunk is larger than that of every request served at once.
    def ttft(r: dict) -> int:
        return r["first_chunk_ns"] - r["received_ns"]

    assert min(ttft(r) for r in queued) > max(ttft(r) for r in first)
    assert all(r["first_chunk_ns"] >= r["first_token_ns"] >= r["scheduled_ns"] >= r["received_ns"]
               for r in records)
