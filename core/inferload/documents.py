"""Rerank inputs: how many documents each request of an endpoint type that ranks documents carries
(:attr:`inferload.types.EndpointSpec.ranks_documents`), and the checks that the run's flags and dataset fit
the endpoint type. Called by :func:`inferload.engine.payloads.prepare_payloads` before t=0."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from inferload.errors import UsageError

if TYPE_CHECKING:
    from inferload.config import ProfileConfig
    from inferload.dataset import Conversation
    from inferload.registry import PluginRegistry
    from inferload.types import EndpointSpec

DEFAULT_RERANK_DOCUMENTS = 10
"""``--rerank-documents`` of an endpoint type that ranks documents when the flag is not given."""


def document_options(
    config: ProfileConfig, endpoint: EndpointSpec, registry: PluginRegistry
) -> dict[str, Any]:
    """The dataset factory's rerank keywords: ``{"rerank_documents": N, "rerank_query_tokens": T}`` for an
    endpoint type that ranks documents, ``{}`` for any other. ``--rerank-documents`` with an endpoint type
    that ranks none, or with a dataset that reads ``--input-file`` (whose lines hold their documents), is a
    UsageError naming the fix."""
    if not endpoint.ranks_documents:
        query_default = type(config).model_fields["rerank_query_tokens"].default
        given = [flag for flag, value, default in (
            ("--rerank-documents", config.rerank_documents, None),
            ("--rerank-query-tokens", config.rerank_query_tokens, query_default),
        ) if value != default]
        if given:
            rankers = [name for name, spec in registry.all("endpoint").items() if spec.ranks_documents]
            raise UsageError(
                f"{' and '.join(given)} {'apply' if len(given) > 1 else 'applies'} to endpoint types that "
                "rank documents "
                f"({', '.join(rankers) or 'none installed'}), not --endpoint-type {endpoint.name}"
            )
        return {}
    if config.rerank_documents is not None and registry.get("dataset", config.effective_dataset).input_file:
        raise UsageError(
            "--rerank-documents sets the synthetic dataset's document count; the lines of --input-file "
            "give their own documents: drop one of them"
        )
    return {"rerank_documents": config.rerank_documents or DEFAULT_RERANK_DOCUMENTS,
            "rerank_query_tokens": config.rerank_query_tokens}


def check_documents(conversations: Sequence[Conversation], endpoint: EndpointSpec, dataset: str) -> None:
    """A UsageError when an endpoint type that ranks documents gets a conversation without any (a dataset
    that has no rerank mode, or a file line without ``documents``)."""
    if not endpoint.ranks_documents:
        return
    for conversation in conversations:
        if not conversation.documents:
            raise UsageError(
                f"--endpoint-type {endpoint.name} ranks documents, but the {dataset} dataset gave "
                f"{conversation.conversation_id!r} none; use --dataset synthetic with --rerank-documents N, "
                'or an --input-file whose lines are {"query": ..., "documents": [...]}'
            )
