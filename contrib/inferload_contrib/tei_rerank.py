"""Hugging Face TEI's native rerank API (``POST /rerank``): the endpoint adapter and the simulator's route.

A body is ``{"query", "texts": [documents], "truncate": false}`` (no model: TEI serves one); the answer is
a JSON array ``[{"index", "score"}]``, one per document, best first, with no usage. Errors are
``{"error", "error_type"}``. Never streamed: request latency and documents per second are measured.
"""

from __future__ import annotations

import json
from typing import Any

from inferload import hookimpl
from inferload.types import EndpointSpec, SimulatorRouteSpec

from .event_stream import OtherDialect
from .hf_wire import INFO_PATH, info_body, tei_error_body
from .ranking import RankingParser, RankingRequest, RankingResponse, ranked, ranking_request, sigmoid

NAME = "tei_rerank"
PATH = "/rerank"


@hookimpl
def register_endpoints() -> list[EndpointSpec]:
    return [
        EndpointSpec(
            name=NAME,
            description="Hugging Face TEI /rerank (a query and texts in, one score per text out)",
            path=PATH,
            streaming=False,
            produces_tokens=False,
            factory=TEIRerankAdapter,
            recognise=is_tei_rerank,
            models_path=INFO_PATH,
            sends_model=False,
            ranks_documents=True,
        )
    ]


@hookimpl
def register_simulator_routes() -> list[SimulatorRouteSpec]:
    return [
        SimulatorRouteSpec(name=NAME, description="POST /rerank in TEI's native dialect", path=PATH,
                           parse=parse_request, render=SimulatedRerank, error_body=tei_error_body,
                           generates=False, models_path=INFO_PATH, models_body=info_body)
    ]


class TEIRerankAdapter:
    """Renders ``{"query": prompt, "texts": documents, "truncate": false}`` (``--extra-inputs`` adds e.g.
    ``raw_scores``); a response must be an array of ``{"index", "score"}``."""

    def render(self, conversation: Any, config: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"query": conversation.prompt, "texts": list(conversation.documents or ()),
                                "truncate": False}
        body.update(config.extra_body)
        return body

    def parser(self, streaming: bool) -> Any:
        return RankingParser(results, lambda obj: None, "score",
                             is_error=lambda obj: obj.get("error") is not None)


def results(obj: Any) -> list[Any]:
    """TEI answers with a bare array of results."""
    if not isinstance(obj, list) or (obj and not isinstance(obj[0], dict)):
        raise OtherDialect
    return obj


def parse_request(body: dict[str, Any]) -> RankingRequest:
    """``query`` and ``texts`` are required (422 otherwise, as TEI validates)."""
    return ranking_request(body.get("query"), body.get("texts"), documents_param="texts")


class SimulatedRerank(RankingResponse):
    """``[{"index", "score"}]``, best first (``raw_scores`` in the request is not modelled)."""

    def body(self) -> bytes:
        return json.dumps([{"index": index, "score": sigmoid(logit)}
                           for index, logit in ranked(self.request)]).encode()


def is_tei_rerank(obj: Any) -> bool:
    """TEI's rerank answer: an array of ``{"index", "score"}``."""
    return (isinstance(obj, list) and bool(obj)
            and all(isinstance(x, dict) and "index" in x and "score" in x for x in obj))
