"""Shared prefixes under any tokenizer: the synthetic dataset's system prompt and prefix pool, and the
mooncake_trace dataset's hash blocks, share exactly the tokens they should and count exactly their length.

The plugins are called the way the engine calls them (through the registry, keywords only); token ids
are compared under the run's tokenizer: the built-in one, a Hugging Face word-level one and a byte-level
BPE that merges across window edges."""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from inferload.dataset import Conversation, Tokenizer, resolve_tokenizer
from inferload.errors import UsageError
from inferload.registry import PluginRegistry, load_plugins
from offline_tokenizers import tokenizer

__all__ = ["tokenizer"]  # the fixture (each tokenizer in turn), imported so pytest finds it here


@pytest.fixture(scope="module")
def registry() -> PluginRegistry:
    return load_plugins()


def make(registry: PluginRegistry, name: str, tokenizer: Tokenizer, **options: Any) -> list[Conversation]:
    settings: dict[str, Any] = {"num_entries": 12, "isl_mean": 20, "isl_stddev": 0.0, "osl_mean": None,
                                "osl_stddev": 0.0, "seed": 3, "path": None}
    settings.update(options)
    return registry.get("dataset", name).factory(tokenizer=tokenizer, **settings)


@pytest.mark.parametrize("unique_prefix", [False, True])
def test_prefix_pool_prompts_are_one_pooled_prefix_then_their_own_isl_tokens(
    registry: PluginRegistry, tokenizer: Tokenizer, unique_prefix: bool
) -> None:
    conversations = make(registry, "synthetic", tokenizer, num_entries=30, isl_mean=17, isl_stddev=5,
                         num_prefix_prompts=3, prefix_prompt_length=40, unique_prefix=unique_prefix)
    heads = Counter()
    for conversation in conversations:
        ids = tokenizer.encode(conversation.prompt)
        assert len(ids) == conversation.input_tokens > 40  # prefix + the sampled ISL, exactly
        heads[tuple(ids[:40])] += 1
    assert len(heads) == 3  # every prompt starts with one of exactly three 40-token prefixes
    # the text after the prefix is each prompt's own
    suffixes = [tuple(tokenizer.encode(c.prompt)[40:]) for c in conversations]
    assert len(set(suffixes)) == len(suffixes)


def test_shared_system_prompt_is_one_exact_text_counted_in_every_input(
    registry: PluginRegistry, tokenizer: Tokenizer
) -> None:
    conversations = make(registry, "synthetic", tokenizer, shared_system_prompt_length=33, isl_mean=12)
    systems = {c.system for c in conversations}
    assert len(systems) == 1 and None not in systems
    (system,) = systems
    assert tokenizer.count(system) == 33  # type: ignore[arg-type]
    for conversation in conversations:
        assert conversation.input_tokens == 33 + tokenizer.count(conversation.prompt) == 45
        assert conversation.chat_messages()[0] == {"role": "system", "content": system}
        # a single-prompt endpoint (completions) sends the system prompt first, whole
        assert tokenizer.encode(conversation.text())[:33] == tokenizer.encode(system)  # type: ignore[arg-type]


def test_system_prompt_and_prefix_pool_together_keep_every_length_exact(
    registry: PluginRegistry, tokenizer: Tokenizer
) -> None:
    conversations = make(registry, "synthetic", tokenizer, shared_system_prompt_length=8,
                         num_prefix_prompts=2, prefix_prompt_length=16, isl_mean=5)
    for conversation in conversations:
        assert conversation.input_tokens == 8 + 16 + 5 == 8 + tokenizer.count(conversation.prompt)


def test_a_prefix_pool_needs_both_its_size_and_its_length(registry: PluginRegistry) -> None:
    tokenizer = resolve_tokenizer(registry, "builtin")
    with pytest.raises(UsageError, match="--num-prefix-prompts and --prefix-prompt-length go together"):
        make(registry, "synthetic", tokenizer, num_prefix_prompts=4)


def test_trace_blocks_shared_by_hash_id_are_the_same_tokens_at_the_same_place(
    registry: PluginRegistry, tokenizer: Tokenizer, tmp_path: Path
) -> None:
    # a random trace in the Mooncake shape: chains of hash ids that share their beginnings
    rng = random.Random(5)
    block = 32
    rows, chains = [], [[0], [0, 1], [0, 1, 2], [3], [3, 4]]
    for t in range(40):
        chain = rng.choice(chains)
        own = rng.randint(0, 2)  # a tail of the request's own after the shared blocks
        rows.append({"timestamp": t * 7, "input_length": len(chain) * block + own, "hash_ids": chain})
    trace = tmp_path / "trace.jsonl"
    trace.write_text("".join(json.dumps(row) + "\n" for row in rows))
    conversations = make(registry, "mooncake_trace", tokenizer, path=str(trace), prompt_block_size=block)
    assert [c.timestamp_ms for c in conversations] == [row["timestamp"] for row in rows]
    encoded = [tokenizer.encode(c.prompt) for c in conversations]
    for row, ids in zip(rows, encoded, strict=True):
        assert len(ids) == row["input_length"]
    for (row_a, a), (row_b, b) in itertools.combinations(zip(rows, encoded, strict=True), 2):
        common = 0
        for x, y in zip(row_a["hash_ids"], row_b["hash_ids"], strict=False):
            if x != y:
                break
            common += 1
        assert a[: common * block] == b[: common * block]
        if common < min(len(row_a["hash_ids"]), len(row_b["hash_ids"])):  # the next block differs
            assert a[common * block : (common + 1) * block] != b[common * block : (common + 1) * block]


def test_the_same_seed_gives_the_same_trace_prompts(registry: PluginRegistry, tmp_path: Path) -> None:
    tokenizer = resolve_tokenizer(registry, "builtin")
    trace = tmp_path / "trace.jsonl"
    trace.write_text('{"timestamp": 0, "input_length": 70, "hash_ids": [1, 2]}\n'
                     '{"timestamp": 1, "input_length": 40, "output_length": 9, "hash_ids": [1]}\n')
    first = make(registry, "mooncake_trace", tokenizer, path=str(trace), prompt_block_size=32, osl_mean=5)
    again = make(registry, "mooncake_trace", tokenizer, path=str(trace), prompt_block_size=32, osl_mean=5)
    other = make(registry, "mooncake_trace", tokenizer, path=str(trace), prompt_block_size=32, seed=4)
    assert [c.prompt for c in first] == [c.prompt for c in again] != [c.prompt for c in other]
    # output_length from the trace; --osl only where the line has none
    assert [c.max_output_tokens for c in first] == [5, 9]
