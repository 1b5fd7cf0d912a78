"""SGLang's /metrics families (``--enable-metrics``) and what they mean."""

from __future__ import annotations

from inferload import hookimpl
from inferload.types import FamilyMeaning as M
from inferload.types import ServerMetricMapSpec

FAMILIES = {
    "sglang:num_running_reqs": M("requests_running", "requests", "Requests in the running batch"),
    "sglang:num_queue_reqs": M("requests_waiting", "requests", "Requests in the waiting queue"),
    "sglang:token_usage": M("kv_cache_usage", "%", "KV-cache token slots in use", scale=100.0),
    "sglang:cache_hit_rate": M("prefix_cache_hit_rate", "%", "Prefix-cache hit rate", scale=100.0),
    "sglang:gen_throughput": M("generation_throughput", "tokens/s", "Generation throughput"),
    "sglang:prompt_tokens_total": M("prompt_tokens", "tokens/s", "Prefill tokens processed"),
    "sglang:generation_tokens_total": M("generation_tokens", "tokens/s", "Generation tokens produced"),
    "sglang:time_to_first_token_seconds": M("time_to_first_token", "ms", "Server-side TTFT", scale=1000.0),
    "sglang:inter_token_latency_seconds": M("inter_token_latency", "ms", "Server-side ITL", scale=1000.0),
    "sglang:time_per_output_token_seconds": M("inter_token_latency", "ms",
                                              "Server-side time per output token (ITL)", scale=1000.0),
    "sglang:e2e_request_latency_seconds": M("request_latency", "ms", "Server-side request latency",
                                            scale=1000.0),
}


@hookimpl
def register_server_metric_maps() -> list[ServerMetricMapSpec]:
    return [ServerMetricMapSpec(name="sglang", description="SGLang's Prometheus families (sglang:*)",
                                families=FAMILIES)]
