"""The server-metrics store as run-scoped state (``run_state`` ``server-metrics``): one
:class:`ServerMetricsStore` per run, knowing the families of every ``server_metric_map`` plugin. The
scraper fills it; ``/api/server-metrics``, ``server_metrics.jsonl``, OpenTelemetry and the
``server_metrics`` summary section read it with ``state.plugin_state("server-metrics")``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from inferload import hookimpl
from inferload.types import RunStateSpec
from inferload_plugins.server_metrics.store import STATE_NAME, ServerMetricsStore

if TYPE_CHECKING:
    from inferload.config import ProfileConfig
    from inferload.registry import PluginRegistry


def create_store(config: ProfileConfig, registry: PluginRegistry) -> ServerMetricsStore:
    """An empty store for one run, with the meanings of every installed metric map."""
    return ServerMetricsStore(registry.all("server_metric_map").values())


@hookimpl
def register_run_states() -> list[RunStateSpec]:
    return [RunStateSpec(name=STATE_NAME, description="The run's scraped server metrics and GPU telemetry",
                         create=create_store)]
