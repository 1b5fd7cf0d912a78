"""The built-in tokenizer: offline, deterministic, reversible, and cheap to count with."""

from __future__ import annotations

import pickle
import random

import pytest

from inferload.dataset import Tokenizer, resolve_tokenizer
from inferload.registry import PluginRegistry, load_plugins
from inferload_plugins.tokenizers.builtin import BYTE_CHUNK_BASE, BuiltinTokenizer

TEXTS = [
    "",
    "the",
    "The quick brown fox jumps over the lazy dog.",
    "Hello, world!  Two  spaces,\ttabs\nand\n\nnewlines\n",
    "Numbers: 7, 42, 1234567 and 3.14159; symbols #@!$%^&*()[]{}",
    "Naïve café — 日本語のテキスト, emoji 🚀🔥, and zalgo z̷̢a̵l̶g̴o",
    "   leading and trailing whitespace   ",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
]


@pytest.fixture(scope="module")
def registry() -> PluginRegistry:
    return load_plugins()


@pytest.fixture(scope="module")
def tokenizer(registry: PluginRegistry) -> Tokenizer:
    return registry.get("tokenizer", "builtin").factory("builtin")


def test_builtin_is_the_default_and_satisfies_the_protocol(registry: PluginRegistry) -> None:
    for value in (None, "", "builtin"):
        tok = resolve_tokenizer(registry, value)
        assert isinstance(tok, Tokenizer)
        assert tok.name == "builtin"


@pytest.mark.parametrize("text", TEXTS)
def test_any_text_round_trips_and_count_equals_encode_length(tokenizer: Tokenizer, text: str) -> None:
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text
    assert tokenizer.count(text) == len(ids)
    assert tokenizer.encode(tokenizer.decode(ids)) == ids


def test_common_words_are_one_token_each_and_ids_are_stable(tokenizer: Tokenizer) -> None:
    ids = tokenizer.encode("The model gave an answer to the question.")
    assert len(ids) == 9
    assert all(i < BYTE_CHUNK_BASE for i in ids)
    again = load_plugins().get("tokenizer", "builtin").factory("builtin")
    assert again.encode("The model gave an answer to the question.") == ids


def test_an_inflected_word_is_its_stem_plus_a_suffix(tokenizer: Tokenizer) -> None:
    ids = tokenizer.encode(" answered")
    assert ids == tokenizer.encode(" answer") + tokenizer.encode("ed")
    assert tokenizer.count("The model answered the questions") == 7


def test_unknown_words_cost_about_three_bytes_per_token(tokenizer: Tokenizer) -> None:
    assert tokenizer.count(" xyzzyq") == 3  # 7 bytes
    assert tokenizer.count("日本") == 2  # 6 bytes, each character one chunk


def test_pickles_for_worker_processes(tokenizer: Tokenizer) -> None:
    data = pickle.dumps(tokenizer)
    assert len(data) < 200  # the vocabulary is rebuilt in the worker, not shipped
    clone = pickle.loads(data)
    assert clone.encode(TEXTS[4]) == tokenizer.encode(TEXTS[4])


def test_counting_a_long_streamed_answer_equals_encoding_it(tokenizer: Tokenizer) -> None:
    """The worker counts each response's text with count(); it must agree with encode() on answers as
    long as real ones (its cost per call is bench_prepare's figure, not a test's)."""
    answer = "The server streamed this answer back, one short chunk at a time. " * 4
    ids = tokenizer.encode(answer)
    assert tokenizer.count(answer) == len(ids) > 4 * tokenizer.count("The server streamed this answer") > 0
    assert tokenizer.decode(ids) == answer


def test_count_equals_encode_length_on_many_random_texts_seen_once_and_again() -> None:
    """count() has a fast path for text whose pieces it has all counted before (summed in C) and a
    general one: both must give len(encode()), on first sight and on repeats, whatever the text."""
    rng = random.Random(3)
    tokenizer = BuiltinTokenizer()
    alphabet = "abcdeTHE the answered questions  \n\t0123456789.,!?-'\"日本é\u00a0\U0001f600"
    words = ["the", " model", " answered", "tok", "0", " 42", "\n\n", " questions", "xyzzy", "ing"]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(2000)]
    texts += ["".join(rng.choice(words) for _ in range(rng.randint(0, 12))) for _ in range(2000)]
    for text in texts + texts[::-1]:
        assert tokenizer.count(text) == len(tokenizer.encode(text)), text


def test_a_lone_surrogate_is_counted_not_an_error() -> None:
    """JSON may carry a lone surrogate escape ("\\ud800"), and a server streaming an emoji as escapes can
    split its pair across two events: the answer text then holds surrogates, which UTF-8 cannot encode.
    They count as their 3-byte (surrogatepass) form, never as a client error that loses the request."""
    tokenizer = BuiltinTokenizer()
    for text in ("\ud800", "ok \udfff done", "\ud83d" + "\ude00", "x\ud800y" * 3):
        assert tokenizer.count(text) == len(tokenizer.encode(text)) > 0
