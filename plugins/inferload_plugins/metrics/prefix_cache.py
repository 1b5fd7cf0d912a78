"""Prefix-cache metrics from the server's usage: ``usage.prompt_tokens_details.cached_tokens`` per request
(vLLM with prefix caching, OpenAI, the simulator with ``--kv-cache-blocks``) and the run's hit rate.

docs/metrics.md, "Prefix caching".
"""

from __future__ import annotations

from typing import Any

from inferload import hookimpl
from inferload.types import MetricSpec


def prefix_cache_hit_rate(summary: Any) -> float | None:
    """Cached prompt tokens over all prompt tokens the server reported, in percent."""
    cached = summary.total("usage_cached_tokens")
    prompt = summary.total("usage_prompt_tokens")
    if cached is None or not prompt:
        return None
    return cached / prompt * 100.0


@hookimpl
def register_metrics() -> list[MetricSpec]:
    return [
        MetricSpec(
            name="usage_cached_tokens", header="Usage Cached Prompt Tokens", unit="tokens", kind="record",
            description="usage.prompt_tokens_details.cached_tokens: prompt tokens the server's prefix cache "
            "served", compute=lambda r: r.usage_cached_tokens, display_order=605,
        ),
        MetricSpec(
            name="prefix_cache_hit_rate", header="Prefix Cache Hit Rate", unit="%", kind="derived",
            description="sum(usage_cached_tokens) / sum(usage_prompt_tokens) x 100",
            compute=prefix_cache_hit_rate, display_order=1500, higher_is_better=True,
        ),
    ]
