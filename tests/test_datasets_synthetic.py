"""The synthetic dataset: exact ISL under any tokenizer, seeded, with the asked spread."""

from __future__ import annotations

import statistics
from typing import Any

import pytest

from inferload.dataset import Conversation, Tokenizer, resolve_tokenizer
from inferload.errors import UsageError
from inferload.registry import PluginRegistry, load_plugins
from offline_tokenizers import tokenizer

__all__ = ["tokenizer"]  # the fixture (each tokenizer in turn), imported so pytest finds it here

LENGTHS = [1, 2, 3, 5, 8, 17, 64, 127, 550, 1000, 3000]
SEEDS = [0, 1, 7, 12345]


@pytest.fixture(scope="module")
def registry() -> PluginRegistry:
    return load_plugins()


def synthetic(registry: PluginRegistry, tokenizer: Tokenizer, **options: Any) -> list[Conversation]:
    """Call the plugin the way the engine does: through the registry, keywords only."""
    settings: dict[str, Any] = {
        "num_entries": 10,
        "isl_mean": 100,
        "isl_stddev": 0.0,
        "osl_mean": None,
        "osl_stddev": 0.0,
        "seed": 0,
        "path": None,
    }
    settings.update(options)
    return registry.get("dataset", "synthetic").factory(tokenizer=tokenizer, **settings)


@pytest.mark.parametrize("isl", LENGTHS)
def test_every_prompt_counts_exactly_the_requested_isl(
    registry: PluginRegistry, tokenizer: Tokenizer, isl: int
) -> None:
    for seed in SEEDS:
        conversations = synthetic(registry, tokenizer, num_entries=6, isl_mean=isl, seed=seed)
        assert [c.input_tokens for c in conversations] == [isl] * 6
        assert [tokenizer.count(c.prompt) for c in conversations] == [isl] * 6


def test_exact_isl_holds_with_a_spread_and_a_unique_prefix(
    registry: PluginRegistry, tokenizer: Tokenizer
) -> None:
    conversations = synthetic(
        registry, tokenizer, num_entries=200, isl_mean=120, isl_stddev=60, seed=3, unique_prefix=True
    )
    assert all(tokenizer.count(c.prompt) == c.input_tokens for c in conversations)
    assert len({c.input_tokens for c in conversations}) > 50


def test_builtin_prompts_round_trip_through_the_tokenizer(registry: PluginRegistry) -> None:
    tok = resolve_tokenizer(registry, "builtin")
    for conversation in synthetic(registry, tok, num_entries=50, isl_mean=300, isl_stddev=100, seed=5):
        ids = tok.encode(conversation.prompt)
        assert len(ids) == conversation.input_tokens
        assert tok.decode(ids) == conversation.prompt
        assert tok.encode(tok.decode(ids)) == ids


def test_prompts_are_natural_text_that_starts_at_a_word(registry: PluginRegistry) -> None:
    tok = resolve_tokenizer(registry, "builtin")
    for conversation in synthetic(registry, tok, num_entries=50, isl_mean=40, seed=9):
        first = conversation.prompt.lstrip().split()[0]
        assert first.strip(",.;:").isalpha(), conversation.prompt[:40]


def test_the_same_seed_gives_the_same_dataset_and_another_seed_another(registry: PluginRegistry) -> None:
    tok = resolve_tokenizer(registry, "builtin")
    options = {"num_entries": 40, "isl_mean": 200, "isl_stddev": 50, "osl_mean": 100, "osl_stddev": 20}
    first = synthetic(registry, tok, seed=42, **options)
    assert synthetic(registry, tok, seed=42, **options) == first
    other = synthetic(registry, tok, seed=43, **options)
    assert [c.prompt for c in other] != [c.prompt for c in first]


def test_setting_osl_does_not_change_the_prompts(registry: PluginRegistry) -> None:
    tok = resolve_tokenizer(registry, "builtin")
    without = synthetic(registry, tok, num_entries=20, isl_mean=80, isl_stddev=20, seed=1)
    with_osl = synthetic(registry, tok, num_entries=20, isl_mean=80, isl_stddev=20, seed=1, osl_mean=64)
    assert [c.prompt for c in with_osl] == [c.prompt for c in without]
    assert all(c.max_output_tokens is None for c in without)
    assert all(c.max_output_tokens == 64 for c in with_osl)


def test_isl_and_osl_follow_the_asked_mean_and_stddev(registry: PluginRegistry) -> None:
    tok = resolve_tokenizer(registry, "builtin")
    conversations = synthetic(
        registry, tok, num_entries=2000, isl_mean=300, isl_stddev=50, osl_mean=150, osl_stddev=30, seed=11
    )
    isls = [c.input_tokens for c in conversations]
    osls = [c.max_output_tokens for c in conversations]
    assert statistics.mean(isls) == pytest.approx(300, abs=5)
    assert statistics.stdev(isls) == pytest.approx(50, rel=0.1)
    assert statistics.mean(osls) == pytest.approx(150, abs=3)
    assert statistics.stdev(osls) == pytest.approx(30, rel=0.1)


def test_lengths_are_clipped_at_one_token(registry: PluginRegistry) -> None:
    tok = resolve_tokenizer(registry, "builtin")
    conversations = synthetic(
        registry, tok, num_entries=300, isl_mean=2, isl_stddev=10, osl_mean=2, osl_stddev=10, seed=2
    )
    assert min(c.input_tokens for c in conversations) == 1
    assert min(c.max_output_tokens or 0 for c in conversations) == 1
    assert all(tok.count(c.prompt) == c.input_tokens for c in conversations)


def test_unique_prefixes_make_every_prompt_start_differently(registry: PluginRegistry) -> None:
    tok = resolve_tokenizer(registry, "builtin")
    conversations = synthetic(registry, tok, num_entries=100, isl_mean=50, seed=0, unique_prefix=True)
    assert len({tuple(tok.encode(c.prompt)[:3]) for c in conversations}) == 100
    assert conversations[7].prompt.startswith("#7:")


def test_conversations_are_frozen_and_render_as_one_user_turn(registry: PluginRegistry) -> None:
    tok = resolve_tokenizer(registry, "builtin")
    conversation = synthetic(registry, tok, num_entries=1, isl_mean=10)[0]
    assert conversation.conversation_id == "synthetic-0"
    assert conversation.chat_messages() == [{"role": "user", "content": conversation.prompt}]
    with pytest.raises(AttributeError):
        conversation.prompt = "changed"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("options", "flag"),
    [
        ({"isl_mean": 0}, "--isl"),
        ({"num_entries": 0}, "--num-dataset-entries"),
        ({"isl_stddev": -1.0}, "--isl-stddev"),
        ({"osl_mean": 0}, "--osl"),
        ({"osl_mean": 10, "osl_stddev": float("nan")}, "--osl-stddev"),
    ],
)
def test_impossible_settings_are_usage_errors_naming_the_flag(
    registry: PluginRegistry, options: dict[str, Any], flag: str
) -> None:
    tok = resolve_tokenizer(registry, "builtin")
    with pytest.raises(UsageError, match=flag):
        synthetic(registry, tok, **options)


def test_a_thousand_long_prompts_have_exact_lengths_around_the_asked_mean(registry: PluginRegistry) -> None:
    """All prompt work happens before t=0 (its duration is bench_prepare's figure, not a test's): at
    scale every prompt still has exactly its stated ISL under the run's tokenizer."""
    tok = resolve_tokenizer(registry, "builtin")
    conversations = synthetic(registry, tok, num_entries=1000, isl_mean=550, isl_stddev=100, seed=4)
    assert len(conversations) == 1000
    assert all(tok.count(c.prompt) == c.input_tokens for c in conversations)
    lengths = [c.input_tokens for c in conversations]
    assert len(set(lengths)) > 100  # spread by --isl-stddev, not one length repeated
    assert statistics.mean(lengths) == pytest.approx(550, abs=10)  # the seeded draw's mean


def test_rerank_mode_gives_a_query_and_documents_of_exact_lengths(
    registry: PluginRegistry, tokenizer: Tokenizer
) -> None:
    conversations = synthetic(registry, tokenizer, num_entries=6, isl_mean=20, isl_stddev=4.0,
                              rerank_documents=5, rerank_query_tokens=9)
    assert len(conversations) == 6
    for conversation in conversations:
        assert conversation.documents is not None and len(conversation.documents) == 5
        assert tokenizer.count(conversation.prompt) == 9
        lengths = [tokenizer.count(document) for document in conversation.documents]
        assert conversation.input_tokens == 9 + sum(lengths)
        assert len(set(conversation.documents)) == 5  # distinct windows of the corpus
    spread = {tokenizer.count(d) for c in conversations for d in c.documents or ()}
    assert len(spread) > 1  # --isl-stddev applies to each document


def test_rerank_mode_is_reproducible_by_seed(registry: PluginRegistry) -> None:
    tokenizer = resolve_tokenizer(registry, None)
    first = synthetic(registry, tokenizer, num_entries=3, isl_mean=12, rerank_documents=3, seed=7)
    again = synthetic(registry, tokenizer, num_entries=3, isl_mean=12, rerank_documents=3, seed=7)
    other = synthetic(registry, tokenizer, num_entries=3, isl_mean=12, rerank_documents=3, seed=8)
    assert first == again and first != other
