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

With ``--conversation-num`` or ``--conversation-turn-mean`` it makes multi-turn sessions instead
(:func:`make_sessions`): each turn a user message of an exact sampled ISL, each session's first turn
starting with its own number so sessions share no prefix.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, Field

from inferload import hookimpl
from inferload.dataset import MAX_SEQUENCE_TOKENS, Conversation, Tokenizer, Turn, sample_length
from inferload.errors import UsageError
from inferload.plugin_options import Flag
from inferload.types import DatasetSpec, OptionsSpec
from inferload_plugins.datasets.corpus_windows import (
    Source,
    block_text,
    corpus_text,
    encode_source,
    exact_prompt,
)
from inferload_plugins.datasets.request_mix import MIX_OPTIONS, RequestShape, parse_isl_osl_pairs
from inferload_plugins.datasets.rerank_options import DEFAULT_RERANK_DOCUMENTS, RERANK_OPTIONS
from inferload_plugins.datasets.session_shape import SESSION_SHAPE_OPTIONS

__all__ = ["corpus_text", "exact_prompt", "make_synthetic"]

NAME = "synthetic"
DEFAULT_SESSIONS = 10
"""Synthetic sessions made without ``--conversation-num`` (AIPerf's default request count, as sessions)."""
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
            sessions=True,
        )
    ]


class SharedPrefixOptions(BaseModel):
    """Prefixes the synthetic prompts share (docs/datasets.md, "Shared prefixes"; AIPerf's names)."""

    shared_system_prompt_length: Annotated[int | None, Flag(metavar="TOKENS")] = Field(
        None, ge=1, le=MAX_SEQUENCE_TOKENS,
        description="one system prompt of this many tokens on every request (synthetic dataset)")
    num_prefix_prompts: Annotated[int | None, Flag(metavar="N", aliases=("--prefix-prompt-pool-size",))] = (
        Field(None, ge=1, description="a pool of N shared prefixes, each prompt starting with one (with "
              "--prefix-prompt-length)"))
    prefix_prompt_length: Annotated[int | None, Flag(metavar="TOKENS")] = Field(
        None, ge=1, le=MAX_SEQUENCE_TOKENS,
        description="tokens of each pooled prefix, before the prompt's own --isl tokens")


@hookimpl
def register_options() -> list[OptionsSpec]:
    return [OptionsSpec(name=NAME, description="Shared prefixes of synthetic prompts",
                        model=SharedPrefixOptions,
                        title="shared prefixes (--dataset synthetic; docs/datasets.md)",
                        applies_to=("dataset", (NAME,))),
            SESSION_SHAPE_OPTIONS, MIX_OPTIONS, RERANK_OPTIONS]


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
    conversation_num: int | None = None,
    conversation_turn_mean: float | None = None,
    conversation_turn_stddev: float = 0.0,
    conversation_turn_delay_mean: float = 0.0,
    conversation_turn_delay_stddev: float = 0.0,
    isl_osl_pairs: str | Sequence[RequestShape] | None = None,
    shared_system_prompt_length: int | None = None,
    num_prefix_prompts: int | None = None,
    prefix_prompt_length: int | None = None,
    ranks_documents: bool = False,
    rerank_documents: int | None = None,
    rerank_query_tokens: int = 32,
    **_: Any,
) -> list[Conversation]:
    """``num_entries`` conversations whose prompts count exactly their sampled ISL under ``tokenizer``;
    sessions (:func:`make_sessions`) when ``conversation_num`` or ``conversation_turn_mean`` is given, their
    turns and think times from the ``conversation_turn_*`` means and stddevs (turns; ms). ``isl_osl_pairs``
    (``--isl-osl-pairs`` as given, or its :class:`~.request_mix.RequestShape` entries) replaces the ISL and
    OSL flags with a mix: each shape gets its share of the entries exactly (largest remainder), in seeded
    order. Keywords are this plugin's options by field name (``SessionShapeOptions``, ``RequestMixOptions``).

    ``unique_prefix`` starts each prompt (after any shared prefix) with its entry number, so no two prompts
    share more than the prefixes asked for and a server's prefix cache cannot serve one prompt from
    another (unless the ISL is too short to hold it). ``seed=None`` draws a fresh seed: a different dataset
    on every call.

    Shared prefixes (AIPerf's options): ``shared_system_prompt_length`` tokens of one system prompt that
    every request carries; ``num_prefix_prompts`` prefixes of ``prefix_prompt_length`` tokens each, one of
    which (seeded choice) starts each prompt, followed by the prompt's own ISL tokens. A prompt's
    ``input_tokens`` is then system + prefix + ISL, exact under ``tokenizer``. Raises UsageError for a pool
    without a length or a length without a pool.

    ``ranks_documents`` (the run's endpoint type ranks documents) or ``rerank_documents``: each entry is a
    query of ``rerank_query_tokens`` and ``rerank_documents`` (default 10) documents of ISL tokens each
    (:mod:`.rerank_documents`; the flags are :data:`.rerank_options.RERANK_OPTIONS`).
    """
    _check(num_entries=num_entries, isl_mean=isl_mean, isl_stddev=isl_stddev, osl_mean=osl_mean,
           osl_stddev=osl_stddev)
    if (num_prefix_prompts is None) != (prefix_prompt_length is None):
        raise UsageError("--num-prefix-prompts and --prefix-prompt-length go together: give both (a pool "
                         "of N prefixes of L tokens each)")
    if seed is None:
        seed = random.SystemRandom().randrange(2**32)
    if isinstance(isl_osl_pairs, str):
        isl_osl_pairs = parse_isl_osl_pairs(isl_osl_pairs)
    if conversation_num is not None or conversation_turn_mean is not None:
        if shared_system_prompt_length or num_prefix_prompts:
            raise UsageError("--shared-system-prompt-length and --num-prefix-prompts shape single-turn "
                             "prompts; drop them or the --conversation-* flags")
        return make_sessions(
            tokenizer=tokenizer, sessions=conversation_num or DEFAULT_SESSIONS,
            turn_mean=conversation_turn_mean or 3.0, turn_stddev=conversation_turn_stddev,
            turn_delay_mean_ms=conversation_turn_delay_mean,
            turn_delay_stddev_ms=conversation_turn_delay_stddev,
            isl_mean=isl_mean, isl_stddev=isl_stddev, osl_mean=osl_mean, osl_stddev=osl_stddev, seed=seed,
            isl_osl_pairs=isl_osl_pairs,
        )
    if ranks_documents or rerank_documents:
        from .rerank_documents import rerank_conversations

        return rerank_conversations(tokenizer=tokenizer, num_entries=num_entries, isl_mean=isl_mean,
                                    isl_stddev=isl_stddev,
                                    documents=rerank_documents or DEFAULT_RERANK_DOCUMENTS,
                                    query_tokens=rerank_query_tokens, seed=seed)
    isl_rng = random.Random(f"inferload-isl-{seed}")
    osl_rng = random.Random(f"inferload-osl-{seed}")
    start_rng = random.Random(f"inferload-prompt-{seed}")
    if isl_osl_pairs:
        shapes = mix_shapes(isl_osl_pairs, num_entries, random.Random(f"inferload-mix-{seed}"))
        isls = [sample_length(isl_rng, s.isl, s.isl_stddev) for s in shapes]
        osls = [sample_length(osl_rng, s.osl, s.osl_stddev) for s in shapes]
    else:
        isls = [sample_length(isl_rng, isl_mean, isl_stddev) for _ in range(num_entries)]
        osls = [sample_length(osl_rng, osl_mean, osl_stddev) if osl_mean is not None else None
                for _ in range(num_entries)]
    total = sum(isls)
    if total >= PROGRESS_FROM_TOKENS:
        log.info("building %d synthetic prompts, %s tokens in all (%s each on average), before the first "
                 "request", num_entries, f"{total:,}", f"{total // num_entries:,}")
    longest_prefix = max(shared_system_prompt_length or 0, prefix_prompt_length or 0)
    source = encode_source(tokenizer, max(isls) + longest_prefix + 16)
    shared = _SharedPrefixes.build(tokenizer, source, seed, shared_system_prompt_length, num_prefix_prompts,
                                   prefix_prompt_length)
    conversations = []
    started = last_note = time.monotonic()
    for index, (isl, osl) in enumerate(zip(isls, osls, strict=True)):
        marker = f"#{index}:" if unique_prefix else ""
        if marker and tokenizer.count(marker) >= isl:
            marker = ""  # too short to hold a unique marker; the length matters more
        lead = shared.pick_prefix()
        prompt = exact_prompt(tokenizer, source, shared.prefix_tokens + isl, start_rng, prefix=lead + marker)
        conversations.append(
            Conversation(conversation_id=f"{NAME}-{index}", prompt=prompt,
                         input_tokens=shared.system_tokens + shared.prefix_tokens + isl,
                         max_output_tokens=osl, system=shared.system)
        )
        now = time.monotonic()
        if now - last_note >= PROGRESS_EVERY_S and index + 1 < num_entries:
            last_note = now
            log.info("synthetic dataset: %d of %d prompts built (%.0f s)", index + 1, num_entries,
                     now - started)
    return conversations


def make_sessions(
    *,
    tokenizer: Tokenizer,
    sessions: int,
    turn_mean: float,
    isl_mean: int,
    isl_stddev: float,
    osl_mean: int | None,
    osl_stddev: float,
    seed: int,
    turn_stddev: float = 0.0,
    turn_delay_mean_ms: float = 0.0,
    turn_delay_stddev_ms: float = 0.0,
    isl_osl_pairs: Sequence[RequestShape] | None = None,
    **_: Any,
) -> list[Conversation]:
    """``sessions`` synthetic sessions: turns per session from N(``turn_mean``, ``turn_stddev``) (at least
    1), each turn a user message of exactly its sampled ISL, its OSL from ``--osl``, and a think time before
    every later turn from N(``turn_delay_mean_ms``, ``turn_delay_stddev_ms``) clipped at 0. With
    ``isl_osl_pairs`` each turn's ISL and OSL come from a shape of the mix drawn by its share."""
    rng = random.Random(f"inferload-sessions-{seed}")
    isl_rng = random.Random(f"inferload-isl-{seed}")
    osl_rng = random.Random(f"inferload-osl-{seed}")
    start_rng = random.Random(f"inferload-prompt-{seed}")
    mix_rng = random.Random(f"inferload-mix-{seed}")
    shares = [shape.share for shape in isl_osl_pairs or ()]

    def lengths() -> tuple[int, int | None]:
        if isl_osl_pairs:
            shape = mix_rng.choices(isl_osl_pairs, shares)[0]
            return (sample_length(isl_rng, shape.isl, shape.isl_stddev),
                    sample_length(osl_rng, shape.osl, shape.osl_stddev))
        return (sample_length(isl_rng, isl_mean, isl_stddev),
                sample_length(osl_rng, osl_mean, osl_stddev) if osl_mean is not None else None)

    shapes = []
    for _ in range(sessions):
        turns = sample_length(rng, turn_mean, turn_stddev)
        shapes.append([
            (*lengths(),
             max(0.0, rng.gauss(turn_delay_mean_ms, turn_delay_stddev_ms)) if turn_delay_stddev_ms
             else turn_delay_mean_ms)
            for _ in range(turns)
        ])
    source = encode_source(tokenizer, max(isl for shape in shapes for isl, _, _ in shape) + 16)
    conversations = []
    for number, shape in enumerate(shapes):
        turns = tuple(
            Turn(
                messages=({"role": "user", "content": exact_prompt(
                    tokenizer, source, isl, start_rng, prefix=f"#{number}:" if index == 0 else "")},),
                input_tokens=isl,
                max_output_tokens=osl,
                delay_ms=delay if index else 0.0,
            )
            for index, (isl, osl, delay) in enumerate(shape)
        )
        first = turns[0]
        conversations.append(
            Conversation(conversation_id=f"{NAME}-session-{number}", prompt=first.messages[0]["content"],
                         input_tokens=first.input_tokens, max_output_tokens=first.max_output_tokens,
                         turns=turns)
        )
    return conversations


def mix_shapes(mix: Sequence[Any], count: int, rng: random.Random) -> list[Any]:
    """``count`` shapes of ``mix``, each shape exactly its share of them (largest remainder: counts differ
    from ``share x count`` by less than one), shuffled by ``rng``."""
    exact = [shape.share * count for shape in mix]
    counts = [math.floor(value) for value in exact]
    by_remainder = sorted(range(len(mix)), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in by_remainder[: count - sum(counts)]:
        counts[i] += 1
    shapes = [shape for shape, n in zip(mix, counts, strict=True) for _ in range(n)]
    rng.shuffle(shapes)
    return shapes


@dataclass
class _SharedPrefixes:
    """The shared system prompt and the prefix pool of one synthetic dataset (empty when not asked for)."""

    system: str | None
    system_tokens: int
    pool: list[str]
    prefix_tokens: int
    rng: random.Random

    @classmethod
    def build(cls, tokenizer: Tokenizer, source: Source, seed: int, system_length: int | None,
              pool_size: int | None, prefix_length: int | None) -> _SharedPrefixes:
        """Each text is a corpus window of exactly its length that ends a line, from its own seeded
        stream, so the prompts that follow it keep their own lengths exact and the prefix's tokens whole."""
        text_rng = random.Random(f"inferload-shared-prefix-{seed}")
        system = block_text(tokenizer, source, system_length, text_rng) if system_length else None
        pool = [block_text(tokenizer, source, prefix_length, text_rng) for _ in range(pool_size or 0)]
        return cls(system, system_length or 0, pool, (prefix_length or 0) if pool else 0,
                   random.Random(f"inferload-prefix-choice-{seed}"))

    def pick_prefix(self) -> str:
        """The pool prefix that starts the next prompt ('' without a pool)."""
        return self.rng.choice(self.pool) if self.pool else ""


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
