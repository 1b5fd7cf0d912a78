"""llama.cpp server's /metrics families (``--metrics``) and what they mean."""

from __future__ import annotations

from inferload import hookimpl
from inferload.types import FamilyMeaning as M
from inferload.types import ServerMetricMapSpec

FAMILIES = {
    "llamacpp:requests_processing": M("requests_running", "requests", "Requests being processed"),
    "llamacpp:requests_deferred": M("requests_waiting", "requests", "Requests deferred (no free slot)"),
    "llamacpp:kv_cache_usage_ratio": M("kv_cache_usage", "%", "KV-cache use", scale=100.0),
    "llamacpp:kv_cache_tokens": M("kv_cache_tokens", "tokens", "Tokens in the KV cache"),
    "llamacpp:prompt_tokens_total": M("prompt_tokens", "tokens/s", "Prompt tokens processed"),
    "llamacpp:tokens_predicted_total": M("generation_tokens", "tokens/s", "Tokens generated"),
    "llamacpp:prompt_tokens_seconds": M("prompt_throughput", "tokens/s", "Average prompt throughput"),
    "llamacpp:predicted_tokens_seconds": M("generation_throughput", "tokens/s",
                                           "Average generation throughput"),
}


@hookimpl
def register_server_metric_maps() -> list[ServerMetricMapSpec]:
    return [ServerMetricMapSpec(name="llamacpp", description="llama.cpp server's Prometheus families "
                                "(llamacpp:*)", families=FAMILIES)]
