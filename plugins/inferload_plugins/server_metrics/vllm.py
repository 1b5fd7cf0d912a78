"""vLLM's /metrics families and what they mean (also what the built-in simulator exports)."""

from __future__ import annotations

from inferload import hookimpl
from inferload.types import FamilyMeaning as M
from inferload.types import ServerMetricMapSpec

FAMILIES = {
    "vllm:num_requests_running": M("requests_running", "requests", "Requests in model execution batches"),
    "vllm:num_requests_waiting": M("requests_waiting", "requests", "Requests queued, not yet scheduled"),
    "vllm:kv_cache_usage_perc": M("kv_cache_usage", "%", "KV-cache blocks in use", scale=100.0),
    "vllm:gpu_cache_usage_perc": M("kv_cache_usage", "%", "KV-cache blocks in use (vLLM < 0.10)",
                                   scale=100.0),
    "vllm:prefix_cache_queries_total": M("prefix_cache_queries", "tokens/s", "Prefix-cache token queries"),
    "vllm:prefix_cache_hits_total": M("prefix_cache_hits", "tokens/s", "Prefix-cache token hits"),
    "vllm:num_preemptions_total": M("preemptions", "requests/s", "Requests preempted"),
    "vllm:prompt_tokens_total": M("prompt_tokens", "tokens/s", "Prefill tokens processed"),
    "vllm:generation_tokens_total": M("generation_tokens", "tokens/s", "Generation tokens produced"),
    "vllm:request_success_total": M("requests_finished", "requests/s", "Requests finished"),
    "vllm:time_to_first_token_seconds": M("time_to_first_token", "ms", "Server-side TTFT", scale=1000.0),
    "vllm:inter_token_latency_seconds": M("inter_token_latency", "ms", "Server-side ITL", scale=1000.0),
    "vllm:time_per_output_token_seconds": M("inter_token_latency", "ms",
                                            "Server-side time per output token (ITL)", scale=1000.0),
    "vllm:e2e_request_latency_seconds": M("request_latency", "ms", "Server-side request latency",
                                          scale=1000.0),
    "vllm:request_queue_time_seconds": M("queue_time", "ms", "Time waiting before scheduling",
                                         scale=1000.0),
}


@hookimpl
def register_server_metric_maps() -> list[ServerMetricMapSpec]:
    return [ServerMetricMapSpec(name="vllm", description="vLLM's Prometheus families (vllm:*)",
                                families=FAMILIES)]
