"""Rerank in the Cohere style (``POST /v1/rerank``, also vLLM's and Jina's), or NVIDIA NIM's
``POST /v1/ranking`` when the request path says so: the endpoint adapter and the simulator's routes.

Cohere (``/v1/rerank``; ``--endpoint /v2/rerank`` for its current version, same body):
``{"model", "query", "documents": [texts], "top_n": N}`` answered by ``{"id", "results": [{"index",
"relevance_score"}], "meta"?, "usage"?}``. NIM: ``{"model", "query": {"text"}, "passages": [{"text"}],
"truncate": "END"}`` answered by ``{"rankings": [{"index", "logit"}]}``; ``--endpoint /v1/ranking`` (any
path whose last segment is ``ranking``) selects it. ``top_n`` asks for every document, so each response
scores all of them. Never streamed: request latency and documents per second are measured.
"""

from __future__ import annotations

import json
from typing import Any

from inferload import hookimpl
from inferload.types import EndpointSpec, SimulatorRouteSpec

from .event_stream import OtherDialect
from .ranking import (
    RankingParser,
    RankingRequest,
    RankingResponse,
    prompt_usage,
    ranked,
    ranking_request,
    sigmoid,
)

NAME = "rerank"
PATH = "/v1/rerank"
V2_PATH = "/v2/rerank"
NIM_PATH = "/v1/ranking"


@hookimpl
def register_endpoints() -> list[EndpointSpec]:
    return [
        EndpointSpec(
            name=NAME,
            description="Rerank /v1/rerank, Cohere style (vLLM, Jina; NIM's /v1/ranking with --endpoint)",
            path=PATH,
            streaming=False,
            produces_tokens=False,
            factory=RerankAdapter,
            recognise=is_rerank,
            ranks_documents=True,
        )
    ]


@hookimpl
def register_simulator_routes() -> list[SimulatorRouteSpec]:
    return [
        SimulatorRouteSpec(name=NAME, description="POST /v1/rerank in the Cohere rerank dialect", path=PATH,
                           parse=parse_request, render=SimulatedRerank, generates=False),
        SimulatorRouteSpec(name=f"{NAME}.v2", description="POST /v2/rerank, Cohere's current version",
                           path=V2_PATH, parse=parse_request, render=SimulatedRerank, generates=False),
        SimulatorRouteSpec(name=f"{NAME}.nim", description="POST /v1/ranking in NVIDIA NIM's dialect",
                           path=NIM_PATH, parse=parse_nim_request, render=SimulatedRanking, generates=False),
    ]


def is_nim(path: str | None) -> bool:
    """Whether a request path asks NIM's shape: its last segment is ``ranking``."""
    return bool(path) and str(path).split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] == "ranking"


class RerankAdapter:
    """Renders the Cohere body, or NIM's for a ``--endpoint`` ending in ``/ranking``; reads either
    response shape (``results`` with ``relevance_score``, ``rankings`` with ``logit``)."""

    def render(self, conversation: Any, config: Any) -> dict[str, Any]:
        documents = list(conversation.documents or ())
        body: dict[str, Any]
        if is_nim(config.endpoint):
            body = {"model": config.model, "query": {"text": conversation.prompt},
                    "passages": [{"text": doc} for doc in documents], "truncate": "END"}
        else:
            body = {"model": config.model, "query": conversation.prompt, "documents": documents,
                    "top_n": len(documents)}
        body.update(config.extra_body)
        return body

    def parser(self, streaming: bool) -> Any:
        return RerankParser()


class RerankParser(RankingParser):
    """Either shape; the score field follows the one the response has."""

    def __init__(self) -> None:
        super().__init__(self._pick, prompt_usage, "relevance_score", is_error=_is_error)

    def _pick(self, obj: Any) -> Any:
        if isinstance(obj, dict) and isinstance(obj.get("rankings"), list):
            self._score = "logit"
            return obj["rankings"]
        if isinstance(obj, dict) and isinstance(obj.get("results"), list):
            return obj["results"]
        raise OtherDialect


def _is_error(obj: dict[str, Any]) -> bool:
    """An error body: OpenAI's ``{"error"}``, vLLM's ``{"object": "error"}``, Cohere's ``{"message"}``."""
    return (obj.get("error") is not None or obj.get("object") == "error"
            or ("message" in obj and "results" not in obj and "rankings" not in obj))


def parse_request(body: dict[str, Any]) -> RankingRequest:
    """Cohere's body: ``query`` and ``documents`` (strings, or ``{"text"}`` objects) are required."""
    documents = body.get("documents")
    if isinstance(documents, list):
        documents = [d.get("text") if isinstance(d, dict) else d for d in documents]
    return ranking_request(body.get("query"), documents, model=body.get("model"), top_n=body.get("top_n"))


def parse_nim_request(body: dict[str, Any]) -> RankingRequest:
    """NIM's body: ``query: {"text"}`` and ``passages: [{"text"}]``."""
    query = body.get("query")
    passages = body.get("passages")
    texts = ([p.get("text") if isinstance(p, dict) else None for p in passages]
             if isinstance(passages, list) else passages)
    return ranking_request(query.get("text") if isinstance(query, dict) else None, texts,
                           model=body.get("model"), documents_param="passages")


class SimulatedRerank(RankingResponse):
    """``{"id", "model", "results": [{"index", "relevance_score"}], "meta", "usage"}`` (Cohere's fields and
    vLLM's usage), best first, ``top_n`` of them."""

    def body(self) -> bytes:
        out = self.out
        return json.dumps({
            "id": out.id, "model": out.model,
            "results": [{"index": i, "relevance_score": sigmoid(logit)} for i, logit in ranked(self.request)],
            "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}},
            "usage": {"prompt_tokens": out.prompt_tokens, "total_tokens": out.prompt_tokens},
        }).encode()


class SimulatedRanking(RankingResponse):
    """NIM's ``{"rankings": [{"index", "logit"}]}``, best first."""

    def body(self) -> bytes:
        return json.dumps({"rankings": [{"index": i, "logit": logit} for i, logit in ranked(self.request)]
                           }).encode()


def is_rerank(obj: Any) -> bool:
    """A Cohere-style ``results`` or NIM ``rankings`` answer."""
    return isinstance(obj, dict) and any(isinstance(obj.get(key), list) for key in ("results", "rankings"))
