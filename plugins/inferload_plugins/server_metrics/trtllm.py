"""TensorRT-LLM's families (``trtllm_`` or ``trtllm:`` prefix, as Dynamo passes them on) and Dynamo's own."""

from __future__ import annotations

from inferload import hookimpl
from inferload.types import FamilyMeaning as M
from inferload.types import ServerMetricMapSpec

_TRTLLM = {
    "request_success_total": M("requests_finished", "requests/s", "Requests finished"),
    "e2e_request_latency_seconds": M("request_latency", "ms", "Server-side request latency", scale=1000.0),
    "time_to_first_token_seconds": M("time_to_first_token", "ms", "Server-side TTFT", scale=1000.0),
    "time_per_output_token_seconds": M("inter_token_latency", "ms", "Server-side time per output token",
                                       scale=1000.0),
    "request_queue_time_seconds": M("queue_time", "ms", "Time waiting before scheduling", scale=1000.0),
}

FAMILIES = {
    f"{prefix}{name}": meaning for prefix in ("trtllm_", "trtllm:") for name, meaning in _TRTLLM.items()
}
FAMILIES.update({
    "dynamo_frontend_inflight_requests": M("requests_running", "requests", "Requests in flight (frontend)"),
    "dynamo_frontend_queued_requests": M("requests_waiting", "requests", "Requests queued (frontend)"),
    "dynamo_frontend_requests_total": M("requests_started", "requests/s", "Requests received (frontend)"),
    "dynamo_frontend_time_to_first_token_seconds": M("time_to_first_token", "ms", "Frontend TTFT",
                                                     scale=1000.0),
    "dynamo_frontend_inter_token_latency_seconds": M("inter_token_latency", "ms", "Frontend ITL",
                                                     scale=1000.0),
    "dynamo_frontend_request_duration_seconds": M("request_latency", "ms", "Frontend request latency",
                                                  scale=1000.0),
})


@hookimpl
def register_server_metric_maps() -> list[ServerMetricMapSpec]:
    return [ServerMetricMapSpec(name="trtllm", description="TensorRT-LLM (trtllm_*) and Dynamo frontend "
                                "(dynamo_frontend_*) Prometheus families", families=FAMILIES)]
