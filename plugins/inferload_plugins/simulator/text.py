"""Deterministic text: the simulator's token-counting rule and its generated tokens.

Counting rule (used for prompt tokens and to check completions): the catalogue's default tokenizer (the
built-in offline one), the one `inferload profile` uses by default, reached through the core's plugin
registry like any other tokenizer, so a synthetic prompt of ISL N is reported by the simulator's
``usage.prompt_tokens`` as exactly N. Generated tokens are a leading space plus one vocabulary word, each a
single token under that tokenizer, so counting a generated text gives exactly the number of tokens the
simulator says it produced.
Chat prompts count the text of every message's ``content`` (strings and ``{"type": "text"}`` parts), with
no template overhead.
"""

from __future__ import annotations

import hashlib
import random
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inferload.dataset import Tokenizer

_WORD_TEXT = (
    "the of and to in is it you that he was for on are with as his they be at one have this from or had "
    "by not word but what some we can out other were all there when up use your how said an each she "
    "which do their time if will way about many then them write would like so these her long make thing "
    "see him two has look more day could go come did number sound no most people my over know water than "
    "call first who may down side been now find any new work part take get place made live where after "
    "back little only round man year came show every good me give our under name very through just form "
    "sentence great think say help low line differ turn cause much mean before move right boy old too "
    "same tell does set three want air well also play small end put home read hand port large spell add "
    "even land here must big high such follow act why ask men change went light kind off need house "
    "picture try us again animal point mother world near build self earth father head stand own page "
    "should country found answer school grow study still learn plant cover food sun four between state "
    "keep eye never last let thought city tree cross farm hard start might story saw far sea draw left "
    "late run while press close night real life few north open seem together next white children begin "
    "got walk"
)
VOCABULARY: tuple[str, ...] = tuple(_WORD_TEXT.split())
"""The 256 words the simulator generates: lower-case ASCII letters, so they need no JSON escaping. They are
common words that inferload's built-in tokenizer also counts as one token each (with their leading space),
so client-side output counts under the default tokenizer match the server's usage exactly."""

TOKENS: tuple[str, ...] = tuple(" " + word for word in VOCABULARY)


def count_tokens(text: str) -> int:
    """Tokens in ``text`` under the default tokenizer (see the module docstring)."""
    return _default_tokenizer().count(text)


def encode_tokens(text: str) -> list[int]:
    """Token ids of ``text`` under the default tokenizer (what the prefix cache hashes)."""
    return _default_tokenizer().encode(text)


@cache
def _default_tokenizer() -> Tokenizer:
    """Loaded once per process through the registry (``INFERLOAD_DISABLE_PLUGINS`` and friends apply)."""
    from inferload.dataset import resolve_tokenizer
    from inferload.registry import load_plugins

    return resolve_tokenizer(load_plugins(), None)


def request_rng(seed: int, *parts: str) -> random.Random:
    """An RNG derived from the server seed and a request's content (used for embedding vectors).

    Deriving it from content rather than arrival order makes a given input produce the same output
    however requests interleave.
    """
    return random.Random(_digest(seed, parts))


def _digest(seed: int, parts: tuple[str, ...]) -> int:
    digest = hashlib.blake2b(digest_size=8)
    digest.update(str(seed).encode())
    for part in parts:
        digest.update(b"\0")
        digest.update(part.encode("utf-8", "surrogatepass"))
    return int.from_bytes(digest.digest(), "little")


class TokenTape:
    """The generated text of one seed: a fixed pseudo-random token sequence that requests read from.

    Seeding a Mersenne Twister per request costs ~10 µs, more than the rest of a small request; instead
    each request hashes its content to an offset into this tape (and to a uniform number for its length
    draw), so a request's output is deterministic for a seed and costs a slice.
    """

    LENGTH = 1 << 16

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._tape = [token.encode() for token in random.Random(seed).choices(TOKENS, k=self.LENGTH)]

    def draw(self, *parts: str) -> tuple[int, float]:
        """A request's ``(offset, uniform in (0, 1))``, both derived from its content."""
        value = _digest(self.seed, parts)
        return value % self.LENGTH, ((value >> 16) + 0.5) / float(1 << 48)

    def tokens(self, offset: int, count: int) -> list[bytes]:
        """``count`` generated tokens (UTF-8 bytes of a leading space and a word) from ``offset``."""
        end = offset + count
        if end <= self.LENGTH:
            return self._tape[offset:end]
        out = self._tape[offset:]
        while len(out) < count:
            out += self._tape[: count - len(out)]
        return out


def embedding_vector(seed: int, text: str, dim: int) -> list[float]:
    """A deterministic unit-length vector for ``text``: same text, same seed, same vector."""
    rng = request_rng(seed, "embedding", text)
    values = [rng.uniform(-1.0, 1.0) for _ in range(dim)]
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    return [v / norm for v in values]
