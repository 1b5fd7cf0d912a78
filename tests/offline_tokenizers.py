"""Hugging Face tokenizer files built offline for tests: no model is ever downloaded.

Two shapes that stress exact-ISL synthesis differently: a word-level tokenizer (decode joins tokens with
spaces) and a byte-level BPE trained on a tiny unrelated text (merges across window edges, unknown words).
"""

from __future__ import annotations

from pathlib import Path

from inferload_plugins.datasets.synthetic import corpus_text

_TINY_TEXT = [
    "hello world, the quick brown fox jumps over the lazy dog.",
    "benchmarks measure latency and throughput of inference servers under load.",
    "tokens stream back one chunk at a time; each chunk is timed on arrival.",
] * 20


def wordlevel_tokenizer_json(directory: Path) -> Path:
    """A WordLevel tokenizer whose vocabulary is every word and mark of the synthetic corpus."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator([corpus_text()], trainers.WordLevelTrainer(special_tokens=["[UNK]"]))
    path = directory / "wordlevel" / "tokenizer.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(path))
    return path


def bpe_tokenizer_json(directory: Path) -> Path:
    """A byte-level BPE (GPT-2 style) with 400 tokens, trained on three sentences."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_TINY_TEXT, trainer)
    path = directory / "bpe" / "tokenizer.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(path))
    return path
