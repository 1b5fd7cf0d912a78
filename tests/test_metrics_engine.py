"""The metrics engine with the real metric plugins, on hand-built records whose timings give known answers."""

from __future__ import annotations

from typing import Any

import pytest

from inferload import hookimpl
from inferload.config import ProfileConfig
from inferload.errors import UsageError
from inferload.metrics_engine import MetricsAccumulator, is_aggregate, parse_goodput
from inferload.records import ERROR_HTTP, ERROR_TIMEOUT, PROFILING, WARMUP, RequestError, RequestRecord
from inferload.registry import LoadRules, PluginRegistry, load_plugins
from inferload.stats import STAT_KEYS
from inferload.types import MetricSpec

MS = 1_000_000
SEC = 1_000_000_000
BASE_NS = 5 * SEC


@pytest.fixture(scope="module")
def registry() -> PluginRegistry:
    return load_plugins(LoadRules())


def make_record(
    request_id: int = 0,
    *,
    start_ms: float = 0.0,
    ttft_ms: float = 50.0,
    gap_ms: float = 10.0,
    chunks: int = 5,
    tail_ms: float = 5.0,
    osl: int | None = None,
    phase: str = PROFILING,
    error: RequestError | None = None,
    input_tokens: int = 32,
    first_answer_ms: float | None = None,
    reasoning_tokens: int | None = None,
    client_output_tokens: int | None = None,
    scheduled_lag_ms: float = 0.0,
    client_lag_ms: float | None = None,
    slot_wait_ms: float = 0.0,
) -> RequestRecord:
    """A streamed request: first chunk ``ttft_ms`` after start, then one chunk every ``gap_ms``, the end
    ``tail_ms`` after the last chunk. OSL defaults to one token per chunk (server usage). Without
    reasoning the first chunk is the first answer chunk, as the stream parser records it. The request
    started ``scheduled_lag_ms`` after its scheduled time; of that, ``slot_wait_ms`` waiting for a slot and
    ``client_lag_ms`` (default: the rest) the client's own lag; what is left is connection set-up."""
    if client_lag_ms is None:
        client_lag_ms = scheduled_lag_ms - slot_wait_ms
    start = BASE_NS + int(start_ms * MS)
    chunk_ns = [start + int((ttft_ms + i * gap_ms) * MS) for i in range(chunks)]
    end = (chunk_ns[-1] if chunk_ns else start) + int(tail_ms * MS)
    return RequestRecord(
        request_id=request_id, phase=phase, worker_id="w0", conversation_id=f"c{request_id}",
        x_request_id=f"x{request_id}", scheduled_ns=start - int(scheduled_lag_ms * MS), start_ns=start,
        end_ns=end, start_wall_ns=1_700_000_000 * SEC + int(start_ms * MS), input_tokens=input_tokens,
        status=200 if error is None else error.code, chunk_ns=chunk_ns,
        first_answer_ns=(
            start + int(first_answer_ms * MS) if first_answer_ms is not None
            else chunk_ns[0] if chunk_ns and reasoning_tokens is None else None
        ),
        usage_prompt_tokens=input_tokens, usage_completion_tokens=chunks if osl is None else osl,
        usage_total_tokens=input_tokens + (chunks if osl is None else osl),
        usage_reasoning_tokens=reasoning_tokens, client_output_tokens=client_output_tokens, error=error,
        client_lag_ns=int(client_lag_ms * MS), slot_wait_ns=int(slot_wait_ms * MS),
    )


def test_known_timings_give_exact_latency_metrics(registry: PluginRegistry) -> None:
    acc = MetricsAccumulator(registry)
    acc.add([make_record(0), make_record(1, start_ms=200, ttft_ms=30, gap_ms=20, chunks=3, tail_ms=0)])
    values = acc.record_metrics(make_record(0))
    # Record 0: chunks at 50, 60, 70, 80, 90 ms, last byte (trailing usage, [DONE]) at 95 ms, 5 tokens.
    assert values["time_to_first_token"] == {"value": 50.0, "unit": "ms"}
    assert values["time_to_second_token"]["value"] == 10.0
    assert values["time_to_first_output_token"]["value"] == 50.0
    assert values["request_latency"]["value"] == 90.0  # ends at the last output chunk, as in AIPerf
    assert values["request_latency_last_byte"]["value"] == 95.0
    assert values["inter_token_latency"]["value"] == pytest.approx((90 - 50) / (5 - 1))
    assert values["inter_chunk_latency"]["value"] == [10.0, 10.0, 10.0, 10.0]
    assert values["output_token_throughput_per_user"] == {"value": pytest.approx(4 / 0.040),
                                                          "unit": "tokens/sec/user"}
    assert values["output_sequence_length"]["value"] == 5
    assert values["input_sequence_length"]["value"] == 32

    final = acc.final(benchmark_duration_ns=2 * SEC)
    assert final["time_to_first_token"]["avg"] == pytest.approx(40.0)
    assert final["time_to_first_token"]["min"] == 30.0 and final["time_to_first_token"]["max"] == 50.0
    # Record 1: chunks at 30, 50, 70 ms, end at 70 ms -> ITL (70 - 30) / 2 = 20 ms.
    assert final["inter_token_latency"]["sum"] == pytest.approx(10.0 + 20.0)
    # Inter-chunk latency pools every gap of every request: four 10 ms gaps and two 20 ms gaps.
    icl = final["inter_chunk_latency"]
    assert icl["count"] == 6 and icl["sum"] == pytest.approx(80.0) and icl["p50"] == 10.0
    assert final["request_latency"]["max"] == 90.0 and final["request_latency_last_byte"]["max"] == 95.0


def test_final_aggregates_use_the_given_duration(registry: PluginRegistry) -> None:
    acc = MetricsAccumulator(registry)
    acc.add([make_record(i, start_ms=i * 100, chunks=5, input_tokens=10) for i in range(4)])
    final = acc.final(benchmark_duration_ns=2 * SEC)
    assert final["request_count"] == {"unit": "requests", "avg": 4.0, "count": 1, "header": "Request Count"}
    assert final["error_request_count"]["avg"] == 0.0
    assert final["benchmark_duration"]["avg"] == 2.0
    assert final["request_throughput"]["avg"] == 2.0
    assert final["output_token_throughput"]["avg"] == 10.0  # 20 tokens / 2 s
    assert final["input_token_throughput"]["avg"] == 20.0
    assert final["total_token_throughput"]["avg"] == 30.0
    assert final["total_osl"]["avg"] == 20.0 and final["total_isl"]["avg"] == 40.0
    assert "goodput" not in final  # no SLO given


def test_default_duration_spans_first_start_to_last_end(registry: PluginRegistry) -> None:
    acc = MetricsAccumulator(registry)
    acc.add([make_record(0, start_ms=0), make_record(1, start_ms=905)])  # ends at 905 + 95 ms
    assert acc.observed_duration_ns == SEC
    assert acc.final()["benchmark_duration"]["avg"] == 1.0
    assert acc.snapshot()["request_throughput"]["avg"] == 2.0


def test_blocks_have_aiperf_live_layout(registry: PluginRegistry) -> None:
    acc = MetricsAccumulator(registry)
    acc.add([make_record(i) for i in range(3)])
    snapshot = acc.snapshot()
    ttft = snapshot["time_to_first_token"]
    assert list(ttft) == ["unit", *STAT_KEYS, "header"]
    assert ttft["header"] == "Time to First Token" and ttft["unit"] == "ms"
    assert list(snapshot["request_count"]) == ["unit", "avg", "count", "header"]
    assert is_aggregate(snapshot["request_count"]) and not is_aggregate(ttft)
    # Per-request metrics come first, then run-level ones, each in display order.
    kinds = [is_aggregate(block) for block in snapshot.values()]
    assert kinds == sorted(kinds)
    assert list(snapshot)[:4] == ["time_to_first_token", "time_to_second_token", "time_to_first_output_token",
                                  "request_latency"]


def test_warmup_requests_are_excluded_from_every_metric(registry: PluginRegistry) -> None:
    acc = MetricsAccumulator(registry)
    warm = [make_record(i, phase=WARMUP, ttft_ms=900, start_ms=-5000) for i in range(3)]
    warm.append(make_record(9, phase=WARMUP, error=RequestError(ERROR_HTTP, "boom", 500)))
    acc.add([*warm, make_record(10, start_ms=0), make_record(11, start_ms=100)])
    final = acc.final()
    assert final["time_to_first_token"]["max"] == 50.0
    assert final["time_to_first_token"]["count"] == 2
    assert final["request_count"]["avg"] == 2.0
    assert final["error_request_count"]["avg"] == 0.0
    assert acc.warmup_count == 4
    assert acc.error_summary() == []
    assert final["benchmark_duration"]["avg"] == pytest.approx(0.195)  # warmup starts do not stretch it


def test_errors_are_counted_and_summarised_but_feed_no_latency(registry: PluginRegistry) -> None:
    acc = MetricsAccumulator(registry)
    failed = [
        make_record(1, error=RequestError(ERROR_HTTP, "Internal Server Error", 500), ttft_ms=1),
        make_record(2, error=RequestError(ERROR_HTTP, "Internal Server Error", 500), ttft_ms=1),
        make_record(3, error=RequestError(ERROR_TIMEOUT, "no response within 5 s"), chunks=0),
    ]
    acc.add([make_record(0), *failed])
    final = acc.final()
    assert final["request_count"]["avg"] == 1.0
    assert final["error_request_count"]["avg"] == 3.0
    assert final["time_to_first_token"]["count"] == 1 and final["time_to_first_token"]["min"] == 50.0
    http_500 = {"code": 500, "type": "http_error", "message": "Internal Server Error"}
    timeout = {"code": None, "type": "timeout", "message": "no response within 5 s"}
    assert acc.error_summary() == [
        {"error_details": http_500, "count": 2},
        {"error_details": timeout, "count": 1,
         "hint": "responses took longer than --request-timeout-seconds; raise it or lower the load"},
    ]
    assert acc.record_metrics(failed[0]) == {}


def test_time_to_first_answer_token_waits_for_reasoning(registry: PluginRegistry) -> None:
    acc = MetricsAccumulator(registry)
    reasoning = make_record(0, ttft_ms=20, gap_ms=10, chunks=10, first_answer_ms=80, reasoning_tokens=6)
    thinking_only = make_record(1, ttft_ms=20, chunks=4, reasoning_tokens=4)  # never reached an answer
    plain = make_record(2, ttft_ms=40)
    acc.add([reasoning, thinking_only, plain])
    assert acc.record_metrics(reasoning)["time_to_first_token"]["value"] == 20.0
    assert acc.record_metrics(reasoning)["time_to_first_output_token"]["value"] == 80.0
    assert "time_to_first_output_token" not in acc.record_metrics(thinking_only)
    assert acc.record_metrics(plain)["time_to_first_output_token"]["value"] == 40.0
    final = acc.final()
    assert final["time_to_first_output_token"]["count"] == 2
    assert final["time_to_first_output_token"]["sum"] == 120.0
    assert final["reasoning_token_count"]["count"] == 2  # only requests that reasoned
    assert final["reasoning_token_count"]["sum"] == 10.0


def test_non_streaming_runs_have_no_streaming_metrics(registry: PluginRegistry) -> None:
    config = ProfileConfig.load({"model": "m", "url": "http://127.0.0.1:1", "streaming": False,
                                 "request_count": 3})
    acc = MetricsAccumulator(registry, config)
    acc.add([make_record(0, chunks=0, tail_ms=55, osl=12)])  # a non-streamed answer has no chunk times
    final = acc.final()
    for tag in ("time_to_first_token", "time_to_second_token", "inter_token_latency", "inter_chunk_latency",
                "time_to_first_output_token", "output_token_throughput_per_user"):
        assert tag not in final
    assert final["request_latency"]["avg"] == 55.0
    assert final["output_sequence_length"]["avg"] == 12.0
    assert final["output_token_throughput"]["avg"] > 0


def test_embeddings_runs_have_no_output_token_metrics(registry: PluginRegistry) -> None:
    if "embeddings" not in registry.all("endpoint"):
        pytest.skip("the embeddings endpoint plugin is not installed")
    config = ProfileConfig.load({"model": "m", "url": "http://127.0.0.1:1", "endpoint_type": "embeddings",
                                 "request_count": 3})
    acc = MetricsAccumulator(registry, config)
    acc.add([make_record(0, chunks=0, osl=0)])
    final = acc.final()
    assert "output_sequence_length" not in final and "output_token_throughput" not in final
    assert final["input_sequence_length"]["avg"] == 32.0 and final["request_latency"]["avg"] == 5.0


def test_explicit_capabilities_override_the_config(registry: PluginRegistry) -> None:
    acc = MetricsAccumulator(registry, capabilities=())
    assert "time_to_first_token" not in {s.name for s in acc.record_specs}
    assert "output_sequence_length" not in {s.name for s in acc.record_specs}
    assert "request_latency" in {s.name for s in acc.record_specs}


def test_single_token_answers_have_no_inter_token_latency(registry: PluginRegistry) -> None:
    acc = MetricsAccumulator(registry)
    acc.add([make_record(0, chunks=1)])
    final = acc.final()
    assert "inter_token_latency" not in final and "time_to_second_token" not in final
    assert final["time_to_first_token"]["avg"] == 50.0


def test_goodput_counts_requests_meeting_every_slo(registry: PluginRegistry) -> None:
    # TTFT at most 60 ms and per-user throughput at least 100 tokens/s (higher is better).
    acc = MetricsAccumulator(registry, goodput="time_to_first_token:60 output_token_throughput_per_user:100")
    acc.add([
        make_record(0, ttft_ms=50, gap_ms=10, tail_ms=0),  # 4 tokens / 40 ms = 100 tok/s: good (on the line)
        make_record(1, ttft_ms=70, gap_ms=10, tail_ms=0),  # TTFT too slow
        make_record(2, ttft_ms=50, gap_ms=20, tail_ms=0),  # 50 tok/s: too slow per user
        make_record(3, ttft_ms=60, gap_ms=10, tail_ms=0),  # exactly on both thresholds: good
        make_record(4, error=RequestError(ERROR_HTTP, "nope", 503)),  # failed requests are never good
    ])
    final = acc.final(benchmark_duration_ns=2 * SEC)
    assert final["good_request_count"]["avg"] == 2.0
    assert final["goodput"] == {"unit": "requests/sec", "avg": 1.0, "count": 1, "header": "Goodput"}


def test_goodput_from_config_and_slo_on_pooled_chunk_gaps(registry: PluginRegistry) -> None:
    config = ProfileConfig.load({"model": "m", "url": "http://127.0.0.1:1", "streaming": True,
                                 "request_count": 3, "goodput": "inter_chunk_latency:15"})
    acc = MetricsAccumulator(registry, config)
    assert acc.slos == {"inter_chunk_latency": 15.0}
    acc.add([make_record(0, gap_ms=10), make_record(1, gap_ms=16)])
    assert acc.final(benchmark_duration_ns=SEC)["goodput"]["avg"] == 1.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("time_to_first_token:100 inter_token_latency:3.5", {"time_to_first_token": 100.0,
                                                             "inter_token_latency": 3.5}),
        ("request_latency=200,time_to_first_token:1",
         {"request_latency": 200.0, "time_to_first_token": 1.0}),
        (["request_latency:2", "time_to_first_token:1"],
         {"request_latency": 2.0, "time_to_first_token": 1.0}),
        ({"request_latency": "7"}, {"request_latency": 7.0}),
        (None, {}),
    ],
)
def test_parse_goodput_forms(text: Any, expected: dict[str, float]) -> None:
    assert parse_goodput(text) == expected


@pytest.mark.parametrize(
    ("goodput", "message"),
    [
        ("time_to_first_token", "is not TAG:VALUE"),
        ("time_to_first_token:fast", "must be a number"),
        ("no_such_metric:5", "--goodput names metric 'no_such_metric'"),
        ("request_count:5", "per-request metrics"),
    ],
)
def test_bad_goodput_is_one_clear_usage_error(registry: PluginRegistry, goodput: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        MetricsAccumulator(registry, goodput=goodput)


def test_goodput_on_a_streaming_metric_without_streaming_says_it_needs_streaming(
    registry: PluginRegistry,
) -> None:
    with pytest.raises(UsageError, match=r"'time_to_first_token' \(it needs --streaming\)"):
        MetricsAccumulator(registry, goodput="time_to_first_token:10", capabilities=("tokens",))


def test_usage_and_client_counts_disagreement_is_reported_per_request(registry: PluginRegistry) -> None:
    acc = MetricsAccumulator(registry)
    record = make_record(0, chunks=5, osl=12, client_output_tokens=10)
    acc.add([record])
    values = acc.record_metrics(record)
    assert values["usage_completion_tokens_diff"]["value"] == 2
    assert values["usage_completion_tokens_diff_pct"]["value"] == pytest.approx(20.0)
    assert values["output_sequence_length"]["value"] == 12  # the server's usage wins


def test_client_count_is_the_fallback_output_length(registry: PluginRegistry) -> None:
    acc = MetricsAccumulator(registry)
    record = make_record(0, chunks=5, client_output_tokens=5)
    record.usage_completion_tokens = None
    acc.add([record])
    assert acc.record_metrics(record)["output_sequence_length"]["value"] == 5
    assert "usage_completion_tokens_diff" not in acc.record_metrics(record)


class _BrokenMetric:
    """A throwaway metric plugin whose compute raises on request 1 (a value it cannot handle)."""

    @hookimpl
    def register_metrics(self) -> list[MetricSpec]:
        def explode(record: Any) -> float:
            if record.request_id == 1:
                raise ZeroDivisionError("bad metric")
            return 1.0

        return [MetricSpec(name="broken_metric", description="always fails", header="Broken", unit="ms",
                           kind="record", compute=explode)]


def test_a_metric_failing_on_one_response_makes_that_request_a_metric_error() -> None:
    registry = load_plugins(LoadRules())
    registry.add(_BrokenMetric(), "broken-metric-test")
    acc = MetricsAccumulator(registry)
    bad = make_record(1)
    acc.add([make_record(0), bad, make_record(2)])
    final = acc.final()
    assert final["broken_metric"]["count"] == 2
    assert final["time_to_first_token"]["count"] == 2  # none of the failed request's values count
    assert (acc.request_count, acc.error_count) == (2, 1)
    assert bad.error is not None and bad.error.type == "metric_error" and "broken_metric" in bad.error.message
    assert acc.compute_failures == {"broken_metric": 1}
    (line,) = registry.hooks.failure_lines()
    assert "plugin 'broken-metric-test'" in line and "metric 'broken_metric'" in line
    assert "counted as a metric_error" in line


def test_error_summary_groups_messages_that_differ_only_by_ids(registry: PluginRegistry) -> None:
    acc = MetricsAccumulator(registry)
    messages = [f"not JSON: b'{{\"id\":\"chatcmpl-{i:08x}f\"'" for i in range(3)]
    acc.add([make_record(i, error=RequestError("malformed_response", m)) for i, m in enumerate(messages)])
    (entry,) = acc.error_summary()
    assert entry["count"] == 3 and "chatcmpl-<id>" in entry["error_details"]["message"]


def test_client_overload_is_reported_not_silent(registry: PluginRegistry) -> None:
    calm = MetricsAccumulator(registry)
    calm.add([make_record(i, start_ms=i * 10, scheduled_lag_ms=0.1) for i in range(20)])
    assert calm.client_warnings() == []
    assert calm.schedule_lag_stats()["p99"] == pytest.approx(0.1)

    late = MetricsAccumulator(registry)
    late.add([make_record(i, start_ms=i * 10, scheduled_lag_ms=20.0) for i in range(120)])
    (warning,) = [w for w in late.client_warnings() if "client overloaded" in w]
    assert "20.00 ms (p99 of 120)" in warning
    assert "--workers" in warning or "machine is busy" in warning or "every core" in warning

    # Scheduled every 1 ms but sent every 10 ms: the client could not keep up with the asked rate.
    slow = MetricsAccumulator(registry)
    slow.add([make_record(i, start_ms=i * 10, scheduled_lag_ms=i * 9.0) for i in range(20)])
    assert any("could not keep up" in w for w in slow.client_warnings())


def test_reconnect_time_after_a_timeout_is_not_client_lag(registry: PluginRegistry) -> None:
    """Concurrency 1: the request after a timeout started 30 ms late because it had to connect again;
    the client itself handed it over at once, so its schedule lag is its own 0.05 ms and no overload."""
    acc = MetricsAccumulator(registry)
    acc.add([make_record(i, start_ms=i * 100, scheduled_lag_ms=30.0 if i % 2 else 0.05, client_lag_ms=0.05)
             for i in range(20)])
    assert acc.client_warnings() == []
    assert acc.schedule_lag_stats()["max"] == pytest.approx(0.05)


def test_a_concurrency_cap_holding_requests_is_not_called_client_overload(registry: PluginRegistry) -> None:
    """Rate mode, scheduled every 1 ms, but the cap let one go every 10 ms as the server answered."""
    acc = MetricsAccumulator(registry)
    acc.add([make_record(i, start_ms=i * 10, scheduled_lag_ms=i * 9.0, slot_wait_ms=i * 9.0 - 0.01)
             for i in range(20)])
    (warning,) = acc.client_warnings()
    assert "--concurrency cap held 19 of 20" in warning and "not the client" in warning
    assert "--workers" not in warning and "overload" not in warning
    assert acc.schedule_lag_stats()["max"] == pytest.approx(0.01)


def test_snapshot_of_100k_records_counts_every_record(registry: PluginRegistry) -> None:
    """Cost is measured in bench/bench_metrics.py; here only what the snapshot says."""
    acc = MetricsAccumulator(registry)
    batch = [make_record(i, start_ms=i * 0.01, chunks=4) for i in range(1000)]
    for _ in range(100):
        acc.add(batch)
    snapshot = acc.snapshot()
    assert snapshot["request_count"]["avg"] == 100_000
    assert snapshot["inter_chunk_latency"]["count"] == 300_000


def test_snapshot_before_any_record_has_counts_only(registry: PluginRegistry) -> None:
    snapshot = MetricsAccumulator(registry).snapshot()
    assert snapshot["request_count"]["avg"] == 0.0 and snapshot["error_request_count"]["avg"] == 0.0
    assert "benchmark_duration" not in snapshot and "request_throughput" not in snapshot
    assert "time_to_first_token" not in snapshot


def test_snapshot_on_another_thread_never_blocks_ingestion(registry: PluginRegistry) -> None:
    import threading

    acc = MetricsAccumulator(registry)
    batch = [make_record(i, chunks=8) for i in range(200)]
    stop = threading.Event()
    errors: list[BaseException] = []

    def poll() -> None:
        while not stop.is_set():
            try:
                acc.snapshot()
            except BaseException as exc:  # noqa: BLE001 - collected and asserted on below
                errors.append(exc)
                return

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        for _ in range(200):
            acc.add(batch)
    finally:
        stop.set()
        poller.join()
    assert errors == []
    assert acc.final()["request_count"]["avg"] == 40_000


def test_client_overload_needs_a_sample_where_p99_is_not_the_maximum(registry: PluginRegistry) -> None:
    """Up to 99 requests the p99 is the largest value: one late wake-up is not an overloaded client."""
    for count, warned in ((99, False), (100, True)):
        acc = MetricsAccumulator(registry)
        acc.add([make_record(i, start_ms=i * 10, scheduled_lag_ms=20.0) for i in range(count)])
        assert any("client overloaded" in w for w in acc.client_warnings()) is warned, count


def test_client_lag_small_against_the_request_latency_is_no_overload(registry: PluginRegistry) -> None:
    """2 ms late on requests that take about a second (under 5 % of it) changes nothing measured."""
    acc = MetricsAccumulator(registry)
    acc.add([make_record(i, start_ms=i * 10, scheduled_lag_ms=2.0, tail_ms=1000.0) for i in range(200)])
    assert acc.schedule_lag_stats()["p99"] == pytest.approx(2.0)
    assert acc.client_warnings() == []
