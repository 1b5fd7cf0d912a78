"""Windows of the shipped prose corpus at an exact token length: what every synthesised prompt is cut from.

Shared by the dataset plugins that make text (``synthetic``, ``mooncake_trace``); not a plugin itself. A
window is a run of the corpus's token ids under the run's tokenizer, decoded to text and corrected until the
tokenizer counts exactly the length asked for, so prompts read as natural prose whatever the tokenizer.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import cache
from importlib import resources

from inferload.dataset import Tokenizer
from inferload.errors import UsageError

_MAX_TRIES = 64


def exact_prompt(
    tokenizer: Tokenizer, source: Source, isl: int, rng: random.Random, *, prefix: str = "",
    suffix: str = "",
) -> str:
    """Text that ``tokenizer`` counts as exactly ``isl`` tokens: ``prefix``, a window of ``source``, then
    ``suffix``.

    The window starts at a word and its length is corrected by the counting error until it fits; when it
    keeps missing (a tokenizer that merges across the window's edge), the window moves to fresh text.
    A ``prefix`` or ``suffix`` that leaves no room for a window is dropped: the length matters more.
    Raises UsageError when the tokenizer cannot be made to count ``isl``.
    """
    if prefix and tokenizer.count(prefix) >= isl:
        prefix = ""  # too short to hold a unique prefix; the length matters more
    if suffix and tokenizer.count(prefix + suffix) >= isl:
        suffix = ""
    length = max(1, isl - (tokenizer.count(prefix + suffix) if prefix or suffix else 0))
    start = rng.choice(source.starts)
    got = -1
    for attempt in range(_MAX_TRIES):
        text = prefix + tokenizer.decode(source.ids[start : start + length]) + suffix
        got = tokenizer.count(text)
        if got == isl:
            return text
        length = max(1, min(len(source.ids) - start, length + isl - got))
        if attempt % 4 == 3:
            start = rng.choice(source.starts)
    raise UsageError(
        f"tokenizer {tokenizer.name!r} cannot make a prompt of exactly {isl} tokens from the synthetic "
        f"corpus (last try counted {got}); use another --tokenizer or a file dataset"
    )


def block_text(tokenizer: Tokenizer, source: Source, length: int, rng: random.Random) -> str:
    """A prompt block of exactly ``length`` tokens that ends a line, so blocks join without merging.

    Concatenated blocks (a shared prefix, then what follows it) tokenize as their parts do with any
    tokenizer that splits at a line break before a word (byte-level BPE, SentencePiece, word-level and the
    built-in one), which is what makes two prompts that start with the same blocks share exactly those
    tokens. Callers check the joined prompt's count, so a tokenizer that merges anyway fails loudly.
    """
    text = ""
    for _ in range(_MAX_TRIES):
        text = exact_prompt(tokenizer, source, length, rng, suffix=BLOCK_END)
        if not text.startswith(("\n", "\r")):  # a line break opening a block merges with the one before
            return text
    return text


BLOCK_END = "\n"
"""What ends every prompt block: a line break, at which tokenizers split before the next word."""


@cache
def corpus_text() -> str:
    """The shipped prose corpus (original text, about 800 words)."""
    return resources.files(__package__).joinpath("corpus.txt").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Source:
    """The corpus's token ids, repeated to hold the longest prompt, and where windows may start."""

    ids: list[int]
    starts: list[int]
    """Positions in the first copy where a word begins, so prompts do not open mid-word."""


def encode_source(tokenizer: Tokenizer, min_tokens: int) -> Source:
    """Encode the corpus once and repeat its ids until any start leaves ``min_tokens`` after it.

    Repeating ids rather than text is safe because the corpus ends with a newline, where tokenizers do not
    merge; :func:`exact_prompt` checks every prompt's count anyway.
    """
    ids = tokenizer.encode(corpus_text())
    if not ids:
        raise UsageError(f"tokenizer {tokenizer.name!r} encodes the synthetic corpus to no tokens")
    starts = [i for i in range(1, len(ids)) if _word_boundary(tokenizer, ids[i - 1], ids[i])]
    if len(starts) < 16:  # a tokenizer that loses spaces: any token will do
        starts = list(range(len(ids)))
    return Source(ids=ids * (math.ceil(min_tokens / len(ids)) + 1), starts=starts)


def _word_boundary(tokenizer: Tokenizer, before: int, token: int) -> bool:
    """Whether whitespace separates two tokens once decoded. Decoding the pair, not each token, covers
    every convention: a leading-space token (GPT-2 ``Ġ``), a ``▁`` that decoders drop at the start of a
    text (SentencePiece), and decoders that join tokens with spaces (word-level)."""
    left = tokenizer.decode([before])
    joined = tokenizer.decode([before, token])
    if joined.startswith(left):
        return joined[len(left) : len(left) + 1].isspace()
    return left[-1:].isspace()
