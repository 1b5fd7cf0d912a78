"""``server_metrics`` in profile_export.json (summary section): the run's scraped server metrics and GPU
telemetry over the ``run``, ``profiling`` and ``steady_state`` windows, beside the client's figures
(docs/server-metrics.md). Present when any source was scraped; each failing source adds one line to
``client_health.warnings``. ``steady_state`` is the one steady-state window of docs/metrics.md, the same
the ``steady_state`` block's metrics are computed over.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from inferload import hookimpl
from inferload.types import SummarySectionSpec
from inferload_plugins.server_metrics.store import STATE_NAME

if TYPE_CHECKING:
    from inferload.export import SectionContext

def compute(context: SectionContext) -> dict[str, Any] | None:
    """The block, or None when no source was scraped (or the store plugin is disabled)."""
    from inferload_plugins.server_metrics.summary_block import server_metrics_block

    store = context.state.plugin_state(STATE_NAME)
    if store is None or not store.sources:
        return None
    steady = context.steady_window
    windows = {**context.state.windows(),
               "steady_state": None if steady is None else (steady.start_ns, steady.end_ns)}
    context.client_warnings.extend(store.warnings())
    return server_metrics_block(store, windows, context.metrics)


@hookimpl
def register_summary_sections() -> list[SummarySectionSpec]:
    return [SummarySectionSpec(name="server_metrics", compute=compute,
                               description="Scraped server metrics and GPU telemetry per window, beside the "
                               "client's figures")]
