"""Hugging Face TGI's /metrics families (counters exposed without ``_total``) and what they mean."""

from __future__ import annotations

from inferload import hookimpl
from inferload.types import FamilyMeaning as M
from inferload.types import ServerMetricMapSpec

FAMILIES = {
    "tgi_batch_current_size": M("requests_running", "requests", "Requests in the current batch"),
    "tgi_queue_size": M("requests_waiting", "requests", "Requests in the queue"),
    "tgi_request_count": M("requests_started", "requests/s", "Requests received"),
    "tgi_request_success": M("requests_finished", "requests/s", "Requests finished successfully"),
    "tgi_request_queue_duration": M("queue_time", "ms", "Time in the queue", scale=1000.0),
    "tgi_request_mean_time_per_token_duration": M("inter_token_latency", "ms",
                                                  "Mean time per generated token (ITL)", scale=1000.0),
    "tgi_request_duration": M("request_latency", "ms", "Server-side request latency", scale=1000.0),
    "tgi_request_generated_tokens": M("output_sequence_length", "tokens", "Generated tokens per request"),
    "tgi_request_input_length": M("input_sequence_length", "tokens", "Input tokens per request"),
}


@hookimpl
def register_server_metric_maps() -> list[ServerMetricMapSpec]:
    return [ServerMetricMapSpec(name="tgi", description="Hugging Face TGI's Prometheus families (tgi_*)",
                                families=FAMILIES)]
