"""The Hugging Face tokenizer plugin: local files and the local cache only, clear errors otherwise."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from inferload.dataset import Tokenizer, resolve_tokenizer
from inferload.errors import UsageError
from inferload.registry import PluginRegistry, load_plugins
from offline_tokenizers import bpe_tokenizer_json, wordlevel_tokenizer_json


@pytest.fixture(scope="module")
def registry() -> PluginRegistry:
    return load_plugins()


@pytest.fixture(scope="module")
def bpe_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bpe_tokenizer_json(tmp_path_factory.mktemp("tok"))


def test_a_path_to_tokenizer_json_resolves_to_the_hf_plugin(registry: PluginRegistry, bpe_path: Path) -> None:
    tok = resolve_tokenizer(registry, str(bpe_path))
    assert isinstance(tok, Tokenizer)
    assert tok.name == str(bpe_path)
    text = "hello world, the quick brown fox"
    assert tok.decode(tok.encode(text)) == text
    assert tok.count(text) == len(tok.encode(text))


def test_a_directory_holding_tokenizer_json_works_too(registry: PluginRegistry, bpe_path: Path) -> None:
    tok = resolve_tokenizer(registry, str(bpe_path.parent))
    assert tok.count("hello world") == len(tok.encode("hello world"))


def test_counts_exclude_special_tokens(tmp_path: Path, registry: PluginRegistry) -> None:
    from tokenizers import Tokenizer as HFTok
    from tokenizers.processors import TemplateProcessing

    path = wordlevel_tokenizer_json(tmp_path)
    raw = HFTok.from_file(str(path))
    raw.add_special_tokens(["[BOS]"])
    bos = ("[BOS]", raw.token_to_id("[BOS]"))
    raw.post_processor = TemplateProcessing(single="[BOS] $A", special_tokens=[bos])
    raw.save(str(path))
    tok = resolve_tokenizer(registry, str(path))
    assert len(raw.encode("the river").ids) == 3
    assert tok.count("the river") == 2


def test_a_model_name_is_found_in_the_local_hub_cache(
    registry: PluginRegistry, bpe_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot = tmp_path / "hub" / "models--acme--tiny-model" / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (snapshot / "tokenizer.json").write_bytes(bpe_path.read_bytes())
    (tmp_path / "hub" / "models--acme--tiny-model" / "refs").mkdir()
    (tmp_path / "hub" / "models--acme--tiny-model" / "refs" / "main").write_text("0123abcd")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    tok = resolve_tokenizer(registry, "acme/tiny-model")
    assert tok.name == "acme/tiny-model"
    assert tok.count("hello world") >= 1


def test_a_missing_path_or_uncached_model_is_a_usage_error_naming_it_and_the_fix(
    registry: PluginRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    for value in (str(tmp_path / "nowhere" / "tokenizer.json"), "acme/not-downloaded"):
        with pytest.raises(UsageError) as caught:
            resolve_tokenizer(registry, value)
        message = str(caught.value)
        assert value in message
        assert "never downloads" in message
        assert "--tokenizer builtin" in message
        assert str(tmp_path / "empty-hub") in message


def test_a_directory_without_tokenizer_json_says_so(registry: PluginRegistry, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"has no tokenizer\.json"):
        resolve_tokenizer(registry, str(tmp_path))


def test_a_corrupt_tokenizer_file_is_a_usage_error_naming_the_file(
    registry: PluginRegistry, tmp_path: Path
) -> None:
    broken = tmp_path / "tokenizer.json"
    broken.write_text("{not json")
    with pytest.raises(UsageError, match="cannot load") as caught:
        resolve_tokenizer(registry, str(broken))
    assert str(broken) in str(caught.value)


def test_pickles_by_reloading_its_file(registry: PluginRegistry, bpe_path: Path) -> None:
    tok = resolve_tokenizer(registry, str(bpe_path))
    clone = pickle.loads(pickle.dumps(tok))
    assert clone.encode("the lazy dog") == tok.encode("the lazy dog")
