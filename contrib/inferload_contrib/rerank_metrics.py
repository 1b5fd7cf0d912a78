"""Rerank metrics: how many documents each request had scored, and the run's documents per second.

Both read :attr:`inferload.records.RequestRecord.documents`, which the rerank adapters (``tei_rerank``,
``rerank``) set from the response's results; every other endpoint type leaves it None, so neither metric
appears in their runs. Definitions: docs/metrics.md, "Rerank".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from inferload import hookimpl
from inferload.records import RequestRecord
from inferload.stats import per_second
from inferload.types import MetricSpec

if TYPE_CHECKING:
    from inferload.metrics_engine import RunSummary


def documents_per_request(record: RequestRecord) -> int | None:
    """Documents the response scored (one result per document); None off rerank endpoints."""
    return record.documents


def document_throughput(summary: RunSummary) -> float | None:
    """Documents scored by successful profiling requests per second of benchmark duration."""
    documents = summary.total("documents_per_request")
    if documents is None or summary.benchmark_duration_ns is None:
        return None
    return per_second(documents, summary.benchmark_duration_ns)


@hookimpl
def register_metrics() -> list[MetricSpec]:
    return [
        MetricSpec(
            name="documents_per_request", header="Documents Per Request", unit="documents", kind="record",
            description="Documents a rerank response scored", compute=documents_per_request,
            display_order=650,
        ),
        MetricSpec(
            name="document_throughput", header="Document Throughput", unit="documents/sec",
            kind="aggregate", higher_is_better=True,
            description="Documents scored by successful requests / benchmark duration",
            compute=document_throughput, display_order=1005,
        ),
    ]
