"""The synthetic dataset's rerank mode (``--rerank-documents N``): each entry is a query and N documents
cut from the shipped corpus, every one of an exact token length under the run's tokenizer.

The query is ``--rerank-query-tokens`` long; each document's length is drawn from ``--isl`` /
``--isl-stddev`` (the input length that a reranker's cost grows with: it scores every (query, document)
pair). An entry's ``input_tokens`` is the query plus all its documents, exactly.
"""

from __future__ import annotations

import random

from inferload.dataset import Conversation, Tokenizer, sample_length

from .corpus_windows import encode_source, exact_prompt

NAME = "synthetic"
"""The dataset this mode belongs to (its conversation ids say so)."""


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
