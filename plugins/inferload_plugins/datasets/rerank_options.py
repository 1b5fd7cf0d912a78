"""Rerank inputs (``--rerank-documents``, ``--rerank-query-tokens``): how many documents each request of an
endpoint type that ranks documents carries (:attr:`inferload.types.EndpointSpec.ranks_documents`), and how
long its query is; the synthetic dataset's rerank mode (:mod:`.rerank_documents`) builds them.

The synthetic dataset's plugin declares these flags (:data:`RERANK_OPTIONS`); they mean something only with
an endpoint type that ranks documents (any plugin's: the rerank adapters are contrib), which
:func:`check_rerank` checks once the run's plugins are chosen. A file's lines give their own documents.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, Field

from inferload.dataset import MAX_DATASET_TOKENS, MAX_SEQUENCE_TOKENS
from inferload.plugin_options import Flag, given_flags
from inferload.types import OptionsSpec

if TYPE_CHECKING:
    from inferload.config import ProfileConfig
    from inferload.registry import PluginRegistry

DEFAULT_RERANK_DOCUMENTS = 10
"""``--rerank-documents`` of an endpoint type that ranks documents when the flag is not given."""


class RerankOptions(BaseModel):
    """Documents per rerank request and the query's length (tokens)."""

    rerank_documents: Annotated[int | None, Flag(metavar="N", sweep=True,
                                                 lists="endpoint:ranks_documents")] = Field(
        None, ge=1, le=10_000, description=f"documents per rerank request, each --isl tokens; default "
        f"{DEFAULT_RERANK_DOCUMENTS}; for the endpoint types that rank")
    rerank_query_tokens: Annotated[int, Flag(metavar="TOKENS")] = Field(
        32, ge=1, le=MAX_SEQUENCE_TOKENS, description="query length of each rerank request (default 32)")


def check_rerank(config: ProfileConfig, options: RerankOptions, registry: PluginRegistry) -> None:
    """ValueError for rerank flags that no request of the run would use: an endpoint type that ranks no
    documents, a dataset that reads ``--input-file`` (whose lines hold their documents), or more prompt
    tokens than a dataset may build before the first request."""
    given = given_flags(options)
    if not given:
        return
    endpoint = registry.get("endpoint", config.endpoint_type or "")
    if not endpoint.ranks_documents:
        rankers = [name for name, spec in registry.all("endpoint").items() if spec.ranks_documents]
        raise ValueError(
            f"{' and '.join(given)} {'apply' if len(given) > 1 else 'applies'} to endpoint types that "
            f"rank documents ({', '.join(rankers) or 'none installed'}), not --endpoint-type {endpoint.name}")
    documents = options.rerank_documents
    if documents is None:
        return
    if registry.get("dataset", config.effective_dataset).input_file:
        raise ValueError("--rerank-documents sets the synthetic dataset's document count; the lines of "
                         "--input-file give their own documents: drop one of them")
    tokens = config.num_dataset_entries * config.isl * documents
    if tokens > MAX_DATASET_TOKENS:
        raise ValueError(
            f"--num-dataset-entries {config.num_dataset_entries} x --isl {config.isl} x --rerank-documents "
            f"{documents} = {tokens:,} prompt tokens to build before the first request, over the limit of "
            f"{MAX_DATASET_TOKENS:,}; lower one of them (requests cycle through the entries)")


RERANK_OPTIONS = OptionsSpec(
    name="synthetic-rerank", description="Documents and query length of rerank requests",
    model=RerankOptions, check=check_rerank,
    title="rerank requests (endpoint types that rank documents; docs/datasets.md)")
"""The rerank inputs' :class:`~inferload.types.OptionsSpec`, registered by the synthetic dataset's plugin."""
