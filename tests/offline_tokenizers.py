"""Hugging Face tokenizer files built offline for tests: no model is ever downloaded.

Two shapes that stress exact-ISL synthesis differently: a word-level tokenizer (decode joins tokens with
spaces) and a byte-level BPE trained on a tiny unrelated text (merges across window edges, unknown words).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

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


@pytest.fixture(scope="module", params=["builtin", "hf-wordlevel", "hf-bpe"])
def tokenizer(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The run's tokenizer three ways, as ``--tokenizer`` resolves them: the built-in one, and the two Hugging
    Face files above. Import it into a test module to run its tests under each."""
    from inferload.dataset import resolve_tokenizer
    from inferload.registry import load_plugins

    directory = tmp_path_factory.mktemp("tokenizers")
    value = {
        "builtin": lambda: "builtin",
        "hf-wordlevel": lambda: str(wordlevel_tokenizer_json(directory)),
        "hf-bpe": lambda: str(bpe_tokenizer_json(directory)),
    }[request.param]()
    return resolve_tokenizer(load_plugins(), value)
