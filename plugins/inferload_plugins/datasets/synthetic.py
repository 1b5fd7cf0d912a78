"""``--dataset synthetic`` (the default): prompts cut from a shipped prose corpus at an exact token length.

Each prompt is a window of the corpus's token ids under the run's tokenizer, starting at a seeded random
position, decoded to text and adjusted until the tokenizer counts exactly the sampled ISL. Windows keep the
text natural (real words in real order, so servers see realistic token statistics) and make every prompt's
length exact whatever the tokenizer: the builtin tokenizer is exact at the first try, a BPE tokenizer that
re-merges at a window's edges converges within a few tries.

Rerank mode (``--rerank-documents N``, for an endpoint type that ranks documents): each entry is a query of
exactly ``--rerank-query-tokens`` and N documents of exactly the sampled ISL each, cut the same way; the
entry's ``input_tokens`` is their sum (a reranker's cost grows with every (query, document) pair).

ISL and OSL are drawn from normal distributions (rounded, clipped at 1), each from its own stream seeded by
``--random-seed``, so the same seed gives the same prompts whether or not ``--osl`` is set.
"""

from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from inferload import hookimpl
from inferload.dataset import Conversation, Tokenizer, sample_length
from inferload.errors import UsageError
from inferload.types import DatasetSpec

NAME = "synthetic"
_MAX_TRIES = 64
PROGRESS_FROM_TOKENS = 1_000_000
"""A dataset of this many prompt tokens or more says so when its build starts ..."""
PROGRESS_EVERY_S = 2.0
"""... and every build says how far it got at most this often (seconds), so a long one is never silent."""

log = logging.getLogger("inferload.dataset")


@hookimpl
def register_datasets() -> list[DatasetSpec]:
    return [
        DatasetSpec(
            name=NAME,
            description="Synthetic prompts from a shipped corpus, exact ISL under the run's tokenizer",
            factory=make_synthetic,
        )
    ]


def make_synthetic(
    *,
    tokenizer: Tokenizer,
    num_entries: int,
    isl_mean: int,
    isl_stddev: float = 0.0,
    osl_mean: int | None = None,
    osl_stddev: float = 0.0,
    seed: int | None = 0,
    unique_prefix: bool = False,
    rerank_documents: int | None = None,
    rerank_query_tokens: int = 32,
    **_: Any,
) -> list[Conversation]:
    """``num_entries`` conversations whose prompts count exactly their sampled ISL under ``tokenizer``.

    ``unique_prefix`` starts each prompt with its entry number, so no two prompts share a first token and a
    server's prefix cache cannot serve one prompt from another (unless the ISL is too short to hold it).
    ``seed=None`` draws a fresh seed: a different dataset on every call. ``rerank_documents`` (an endpoint
    type that ranks documents): each entry is a query of ``rerank_query_tokens`` and that many documents of
    ISL tokens each (:func:`rerank_conversations`).
    """
    _check(num_entries=num_entries, isl_mean=isl_mean, isl_stddev=isl_stddev, osl_mean=osl_mean,
           osl_stddev=osl_stddev)
    if seed is None:
        seed = random.SystemRandom().randrange(2**32)
    if rerank_documents:
        return rerank_conversations(tokenizer=tokenizer, num_entries=num_entries, isl_mean=isl_mean,
                                    isl_stddev=isl_stddev, documents=rerank_documents,
                                    query_tokens=rerank_query_tokens, seed=seed)
    isl_rng = random.Random(f"inferload-isl-{seed}")
    osl_rng = random.Random(f"inferload-osl-{seed}")
    start_rng = random.Random(f"inferload-prompt-{seed}")
    isls = [sample_length(isl_rng, isl_mean, isl_stddev) for _ in range(num_entries)]
    osls = [sample_length(osl_rng, osl_mean, osl_stddev) if osl_mean is not None else None
            for _ in range(num_entries)]
    total = sum(isls)
    if total >= PROGRESS_FROM_TOKENS:
        log.info("building %d synthetic prompts, %s tokens in all (%s each on average), before the first "
                 "request", num_entries, f"{total:,}", f"{total // num_entries:,}")
    source = encode_source(tokenizer, max(isls) + 16)
    conversations = []
    started = last_note = time.monotonic()
    for index, (isl, osl) in enumerate(zip(isls, osls, strict=True)):
        prefix = f"#{index}:" if unique_prefix else ""
        prompt = exact_prompt(tokenizer, source, isl, start_rng, prefix=prefix)
        conversations.append(
            Conversation(conversation_id=f"{NAME}-{index}", prompt=prompt, input_tokens=isl,
                         max_output_tokens=osl)
        )
        now = time.monotonic()
        if now - last_note >= PROGRESS_EVERY_S and index + 1 < num_entries:
            last_note = now
            log.info("synthetic dataset: %d of %d prompts built (%.0f s)", index + 1, num_entries,
                     now - started)
    return conversations


def rerank_conversations(
    *, tokenizer: Tokenizer, num_entries: int, isl_mean: int, isl_stddev: float, documents: int,
    query_tokens: int, seed: int,
) -> list[Conversation]:
    """``num_entries`` conversations, each ``prompt`` (the query) plus ``documents`` texts; the lengths are
    exact under ``tokenizer`` (a :class:`~inferload.errors.UsageError` when a tokenizer cannot hit one)."""
    isl_rng = random.Random(f"inferload-isl-{seed}")
    start_rng = random.Random(f"inferload-prompt-{seed}")
    lengths = [[sample_length(isl_rng, isl_mean, isl_stddev) for _ in range(documents)]
               for _ in range(num_entries)]
    source = encode_source(tokenizer, max(query_tokens, *(max(row) for row in lengths)) + 16)
    conversations = []
    for index, row in enumerate(lengths):
        query = exact_prompt(tokenizer, source, query_tokens, start_rng)
        texts = tuple(exact_prompt(tokenizer, source, length, start_rng) for length in row)
        conversations.append(Conversation(conversation_id=f"{NAME}-rerank-{index}", prompt=query,
                                          input_tokens=query_tokens + sum(row), documents=texts))
    return conversations


def exact_prompt(
    tokenizer: Tokenizer, source: Source, isl: int, rng: random.Random, *, prefix: str = ""
) -> str:
    """Text that ``tokenizer`` counts as exactly ``isl`` tokens: ``prefix`` plus a window of ``source``.

    The window starts at a word and its length is corrected by the counting error until it fits; when it
    keeps missing (a tokenizer that merges across the window's edge), the window moves to fresh text.
    """
    if prefix and tokenizer.count(prefix) >= isl:
        prefix = ""  # too short to hold a unique prefix; the length matters more
    length = max(1, isl - (tokenizer.count(prefix) if prefix else 0))
    start = rng.choice(source.starts)
    got = -1
    for attempt in range(_MAX_TRIES):
        text = prefix + tokenizer.decode(source.ids[start : start + length])
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


def _check(*, num_entries: int, isl_mean: int, isl_stddev: float, osl_mean: int | None,
           osl_stddev: float) -> None:
    """Reject impossible settings up front, naming the flag."""
    if num_entries < 1:
        raise UsageError(f"--num-dataset-entries must be at least 1, got {num_entries}")
    if isl_mean < 1:
        raise UsageError(f"--isl must be at least 1 token, got {isl_mean}")
    if osl_mean is not None and osl_mean < 1:
        raise UsageError(f"--osl must be at least 1 token, got {osl_mean}")
    for flag, value in (("--isl-stddev", isl_stddev), ("--osl-stddev", osl_stddev)):
        if value < 0 or not math.isfinite(value):
            raise UsageError(f"{flag} must be a finite number >= 0, got {value}")
