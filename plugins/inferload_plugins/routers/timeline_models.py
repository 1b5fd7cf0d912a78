"""Wire models of ``GET /api/timeline`` (imported when the router is built; pydantic is not cheap)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TimelinePoint(BaseModel):
    """The run at one instant, and what changed since the previous point. Rates are per second over the
    interval since the previous point; null where the interval saw nothing to measure."""

    t_sec: float = Field(description="Seconds since the run's first request went out (or since sampling "
                         "began, before that)")
    timestamp_ns: int = Field(description="Wall-clock ns of the point")
    phase: str | None = Field(description="Phase running at the point (warmup, profiling), null before any")
    system_state: str = Field(description="Lifecycle of the run, as in /api/progress")
    requests_sent: int = Field(description="Requests sent so far, every phase")
    requests_completed: int = Field(description="Requests completed so far (success or error), every phase")
    request_errors: int = Field(description="Failed requests so far, every phase")
    requests_in_flight: int = Field(description="Sent, not yet completed or cancelled")
    sent_per_sec: float | None = Field(description="Requests sent per second over the interval: the "
                                       "achieved load")
    requests_per_sec: float | None = Field(description="Requests completed per second over the interval")
    errors_per_sec: float | None = Field(description="Failed requests per second over the interval")
    output_tokens_per_sec: float | None = Field(
        description="Output tokens per second of the profiling requests that completed in the interval")
    target_request_rate: float | None = Field(description="The request rate the run aimed for at the point "
                                              "(rate-driven runs; changed by the control routes or a plan)")
    target_concurrency: int | None = Field(description="The concurrency the run aimed for at the point "
                                           "(concurrency-driven runs)")
    paused: bool = Field(description="Sending was paused at the point (POST /api/control/pause)")
    ttft_avg_ms: float | None = Field(description="Mean TTFT of the profiling requests that completed in "
                                      "the interval")
    ttft_p50_ms: float | None = Field(description="TTFT p50 of the profiling phase so far (live sketch)")
    ttft_p99_ms: float | None = Field(description="TTFT p99 of the profiling phase so far (live sketch)")
    itl_avg_ms: float | None = Field(description="Mean ITL of the profiling requests that completed in "
                                     "the interval")
    itl_p50_ms: float | None = Field(description="ITL p50 of the profiling phase so far (live sketch)")
    itl_p99_ms: float | None = Field(description="ITL p99 of the profiling phase so far (live sketch)")


class TimelineResponse(BaseModel):
    """The current run's points, oldest first."""

    benchmark_id: str
    interval_sec: float = Field(description="Seconds between two points")
    sampling: bool = Field(description="True while points are being added; false before the run starts "
                           "(or without --api-port) and after it ends")
    dropped: int = Field(description="Oldest points dropped to keep the buffer bounded")
    points: list[TimelinePoint]
