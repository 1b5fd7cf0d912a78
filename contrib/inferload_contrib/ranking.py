"""What the rerank adapters (``tei_rerank``, ``rerank``) share, built only on the core's public API: the
response parser that counts the documents a response scored, and the simulator's side of ranking (the
request it reads, the deterministic scores it answers with).

A rerank response scores documents by their position in the request (``index``); the parser checks the
shape, sets :attr:`inferload.records.RequestRecord.documents` to the number of results and reads usage where
the dialect has one. Nothing is generated, so no output tokens and no chunks: request latency is what is
timed.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

from inferload.records import RequestRecord
from inferload.simulated import SimulatedRequest, SimulatedRequestError

from .encoder_response import EncoderResponse
from .event_stream import DialectBodyParser, OtherDialect


class RankingParser(DialectBodyParser):
    """A whole rerank response: ``results(obj)`` returns the list of result objects (raises
    :class:`OtherDialect` for another shape) and ``usage(obj)`` the usage in OpenAI's names (or None);
    ``score`` is the field holding each result's score."""

    def __init__(self, results: Any, usage: Any, score: str, *, is_error: Any) -> None:
        self._results = results
        self._usage = usage
        self._score = score
        self._count: int | None = None
        super().__init__(self._read, is_error=is_error, require_output=False)

    def _read(self, obj: Any) -> tuple[None, None, Any]:
        results = self._results(obj)
        if not isinstance(results, list):
            raise OtherDialect
        seen: set[int] = set()
        for item in results:
            index = item["index"] if isinstance(item, dict) else None
            if isinstance(index, bool) or not isinstance(index, int) or index < 0 or index in seen:
                raise TypeError(f"result index {index!r} is not a new document position")
            score = item.get(self._score)
            if isinstance(score, bool) or not isinstance(score, (int, float)):
                raise TypeError(f"result {index} has no numeric {self._score!r}")
            seen.add(index)
        self._count = len(results)
        return None, None, self._usage(obj)

    def finish(self, record: RequestRecord, tokenizer: Any) -> None:
        super().finish(record, tokenizer)
        if record.error is None:
            record.documents = self._count


def prompt_usage(obj: Any) -> dict[str, Any] | None:
    """``usage`` with ``prompt_tokens`` (or only ``total_tokens``, as vLLM's rerank sends) as prompt usage."""
    usage = obj.get("usage") if isinstance(obj, dict) else None
    if not isinstance(usage, dict):
        return None
    prompt = usage.get("prompt_tokens", usage.get("total_tokens"))
    return None if prompt is None else {"prompt_tokens": prompt}


# -- the simulator's side ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RankingRequest(SimulatedRequest):
    """A rerank request as the simulator reads it. ``prompt`` holds one ``query + document`` text per
    document, so the prefill costs what a cross-encoder spends: every (query, document) pair."""

    query: str = ""
    documents: tuple[str, ...] = ()
    top_n: int | None = None


def ranking_request(query: Any, documents: Any, *, model: Any = None, top_n: Any = None,
                    documents_param: str = "documents") -> RankingRequest:
    """Validate a query and its documents (strings); ``top_n`` limits the results (None: all)."""
    if not isinstance(query, str) or not query:
        raise SimulatedRequestError(400 if documents_param != "texts" else 422,
                                    "`query` must be a non-empty string", param="query")
    if (not isinstance(documents, list) or not documents
            or not all(isinstance(d, str) for d in documents)):
        raise SimulatedRequestError(400 if documents_param != "texts" else 422,
                                    f"`{documents_param}` must be a non-empty list of strings",
                                    param=documents_param)
    if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1):
        raise SimulatedRequestError(400, "`top_n` must be an integer >= 1", param="top_n")
    return RankingRequest(prompt=tuple(f"{query}\n{doc}" for doc in documents), model=model,
                          reasoning=False, query=query, documents=tuple(documents), top_n=top_n)


def ranked(request: RankingRequest) -> list[tuple[int, float]]:
    """``(index, logit)`` per document, best first, at most ``top_n``: a deterministic logit in (-8, 8)
    seeded by the query and the document."""
    scores = []
    for index, doc in enumerate(request.documents):
        digest = hashlib.blake2b(f"{request.query}\x00{doc}".encode(), digest_size=8).digest()
        scores.append((index, round(int.from_bytes(digest, "big") / 2**64 * 16 - 8, 6)))
    scores.sort(key=lambda pair: (-pair[1], pair[0]))
    return scores[: request.top_n] if request.top_n else scores


def sigmoid(logit: float) -> float:
    """A relevance score in (0, 1) from a logit."""
    return round(1.0 / (1.0 + math.exp(-logit)), 6)


class RankingResponse(EncoderResponse):
    """Base of a simulated rerank answer: ``body()`` (from :func:`ranked`) is the subclass's."""

    def __init__(self, output: Any, request: RankingRequest) -> None:
        self.out = output
        self.request = request

    def malformed(self) -> bytes:
        return b'[{"index":0,"sco'
