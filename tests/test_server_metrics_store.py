"""The server-metrics store on real exposition text: counters to rates, gauges kept, histogram intervals to
quantiles by Prometheus' rule, unknown families raw, windows and failures
(inferload_plugins.server_metrics)."""

from __future__ import annotations

from pathlib import Path

import pytest

from inferload.types import FamilyMeaning, ServerMetricMapSpec
from inferload_plugins.server_metrics.exposition import ScrapeError, parse_exposition
from inferload_plugins.server_metrics.histograms import bucket_quantile
from inferload_plugins.server_metrics.store import ServerMetricsStore
from inferload_plugins.server_metrics.summary_block import server_metrics_block

S = 1_000_000_000
MAP = ServerMetricMapSpec(name="t", description="test map", families={
    "srv:ttft_seconds": FamilyMeaning("time_to_first_token", "ms", "TTFT", scale=1000.0),
    "srv:tokens_total": FamilyMeaning("generation_tokens", "tokens/s", "tokens"),
    "srv_requests": FamilyMeaning("requests_started", "requests/s", "no _total, as TGI"),
})


def body(tokens: float, requests: float, buckets: tuple[float, float, float], extra: str = "") -> str:
    le1, le2, inf = buckets
    return f"""# TYPE srv:tokens_total counter
srv:tokens_total{{model="m"}} {tokens}
# TYPE srv_requests counter
srv_requests {requests}
# TYPE srv:queue gauge
srv:queue 3
# TYPE srv:ttft_seconds histogram
srv:ttft_seconds_bucket{{le="0.1"}} {le1}
srv:ttft_seconds_bucket{{le="0.2"}} {le2}
srv:ttft_seconds_bucket{{le="+Inf"}} {inf}
srv:ttft_seconds_sum {inf * 0.12}
srv:ttft_seconds_count {inf}
{extra}"""


def rows(store: ServerMetricsStore) -> dict[str, dict]:
    return {row["family"]: row for row in store.latest()[-1]["series"]}


def test_counters_become_per_second_rates_and_a_reset_starts_over() -> None:
    store = ServerMetricsStore([MAP])
    store.add_source("u", "server")
    store.ingest("u", body(100, 5, (0, 0, 0)), 0)
    assert "rate" not in rows(store)["srv:tokens_total"]  # no interval yet
    store.ingest("u", body(300, 9, (0, 0, 0)), 2 * S)
    assert rows(store)["srv:tokens_total"]["rate"] == 100.0
    # a counter exposed without _total (TGI, DCGM) is named with it, and its map entry still applies
    assert rows(store)["srv_requests_total"]["rate"] == 2.0
    assert rows(store)["srv_requests_total"]["concept"] == "requests_started"
    store.ingest("u", body(40, 9, (0, 0, 0)), 4 * S)  # the server restarted
    assert rows(store)["srv:tokens_total"]["rate"] == 20.0


def test_histogram_interval_quantiles_follow_histogram_quantile_and_scale_to_ms() -> None:
    store = ServerMetricsStore([MAP])
    store.add_source("u", "server")
    store.ingest("u", body(0, 0, (10, 10, 10)), 0)
    store.ingest("u", body(0, 0, (10, 30, 50)), S)  # this interval: 0 <= 0.1, 20 in (0.1, 0.2], 20 above
    ttft = rows(store)["srv:ttft_seconds"]
    assert ttft["count"] == 40 and ttft["concept"] == "time_to_first_token" and ttft["unit"] == "ms"
    assert ttft["p50"] == pytest.approx(200.0)  # rank 20 is the top of the (0.1, 0.2] bucket
    assert ttft["p90"] == pytest.approx(200.0)  # +Inf bucket: the highest finite bound
    assert ttft["avg"] == pytest.approx((50 - 10) * 0.12 * 1000 / 40)
    assert bucket_quantile({0.1: 4.0, 0.2: 8.0, float("inf"): 8.0}, 0.25) == pytest.approx(0.05)


def test_unknown_families_are_kept_raw_and_gauges_as_scraped() -> None:
    store = ServerMetricsStore([MAP])
    store.add_source("u", "server")
    store.ingest("u", body(0, 0, (0, 0, 0), "# TYPE other_thing gauge\nother_thing{a=\"b\"} 7.5\n"), 0)
    other = rows(store)["other_thing"]
    assert other == {"family": "other_thing", "type": "gauge", "labels": {"a": "b"}, "value": 7.5}
    assert rows(store)["srv:queue"]["value"] == 3.0


def test_window_summary_uses_only_scrapes_inside_the_window() -> None:
    store = ServerMetricsStore([MAP])
    store.add_source("u", "server")
    for second, tokens in enumerate((0, 10, 30, 60, 100)):
        store.ingest("u", body(tokens, 0, (0, 0, 0)), second * S)
    block = server_metrics_block(store, {"run": (0, 4 * S), "late": (3 * S, 4 * S)})
    series = block["families"]["srv:tokens_total"]["series"][0]
    assert series["run"]["avg"] == pytest.approx(25.0)  # rates 10, 20, 30, 40
    assert series["run"]["total_increase"] == 100
    assert series["late"]["min"] == 30 and series["late"]["max"] == 40
    assert series["late"]["total_increase"] == 40


@pytest.mark.parametrize(
    "text", ["<html><body>oops</body></html>", "{\"json\": true}", "Service Unavailable", "\x00\x01binary"]
)
def test_garbage_is_a_scrape_error(text: str) -> None:
    with pytest.raises(ScrapeError):
        parse_exposition(text)


def test_failures_form_gaps_closed_by_the_next_good_scrape() -> None:
    store = ServerMetricsStore([MAP])
    store.add_source("u", "server")
    store.ingest("u", "up 1\n", 0)
    assert store.failed("u", "boom", S) is True
    assert store.failed("u", "boom again", 2 * S) is False
    store.ingest("u", "up 1\n", 3 * S)
    (source,) = store.source_dicts()
    assert source["gaps"] == [{"start_ns": S, "end_ns": 3 * S, "scrapes_missed": 2, "error": "boom"}]
    assert source["status"] == "gaps"
    assert store.warnings() == ["server metrics from u: 2 of 4 scrapes failed (boom); the gaps are in "
                                "server_metrics.jsonl"]


def test_a_discovered_endpoint_that_never_answered_is_not_a_warning() -> None:
    store = ServerMetricsStore()
    store.add_source("http://h/metrics", "server", discovered=True)
    store.failed("http://h/metrics", "HTTP 404", 0)
    assert store.warnings() == []
    assert store.source_dicts()[0]["status"] == "unavailable"


def test_the_discovered_source_keeps_the_url_query_at_the_end() -> None:
    # --url with a query (Azure-style ?api-version=) and the SDK's /v1: the server's /metrics beside the
    # API, the query after it
    from inferload.config import ProfileConfig
    from inferload.registry import LoadRules, load_plugins
    from inferload.runstate import RunInfo, RunState
    from inferload_plugins.server_metrics.scraper import sources

    config = ProfileConfig.load({"url": "http://u:p@127.0.0.1:9/v1?api-version=2024", "model": "m"},
                                registry=load_plugins(LoadRules()))
    state = RunState(run_info=RunInfo(benchmark_id="b", random_seed=1, cli_command=""), config=config,
                     artifact_dir=Path("unused"))
    assert sources(state) == [("http://127.0.0.1:9/metrics?api-version=2024", "server", True)]


def test_server_routes_live_beside_the_api_version_and_keep_the_query_and_a_proxy_prefix() -> None:
    from inferload.urls import server_route_url

    assert server_route_url("http://h:8000", "/metrics") == "http://h:8000/metrics"
    assert server_route_url("http://h:8000/v1/", "/reset_prefix_cache") == "http://h:8000/reset_prefix_cache"
    assert server_route_url("http://h/llm/v1?k=1", "/flush_cache") == "http://h/llm/flush_cache?k=1"
    assert server_route_url("http://h/llm", "/metrics") == "http://h/llm/metrics"


def test_a_counter_that_appears_after_the_baseline_counts_from_zero_over_the_whole_window() -> None:
    # vLLM's labelled counters appear with the first request they count: the baseline scrape before the
    # first request lacks them, and what they counted before the first scrape inside a window still counts.
    store = ServerMetricsStore([MAP])
    store.add_source("u", "server")
    store.ingest("u", "# TYPE other gauge\nother 1\n", 0)  # the baseline: the token counter is not there yet
    for second, tokens in ((1, 8), (2, 20), (3, 50)):
        store.ingest("u", body(tokens, 0, (0, 0, 0)), second * S)
    first = {row["family"]: row for row in list(store.scrapes())[1]["series"]}["srv:tokens_total"]
    assert first["rate"] == pytest.approx(8.0)  # from 0, not missing
    block = server_metrics_block(store, {"profiling": (S // 2, 3 * S)})
    assert block["families"]["srv:tokens_total"]["series"][0]["profiling"]["total_increase"] == 50


def test_a_window_counter_rate_is_its_increase_over_its_time_and_a_short_last_interval_sets_no_max() -> None:
    """The final scrape lands 15 ms after the previous one: its interval rate (a burst of 183 tokens over
    15 ms, 12,200 tokens/s) is left out of min/max/percentiles, and the window's avg is the exact
    increase over the seconds between the scrapes that measured it."""
    store = ServerMetricsStore([MAP])
    store.add_source("u", "server")
    stamps_and_totals = [(0, 0), (S, 860), (2 * S, 1720), (3 * S, 2580), (3 * S + 15_000_000, 2763)]
    for stamp, tokens in stamps_and_totals:
        store.ingest("u", body(tokens, 0, (0, 0, 0)), stamp)
    block = server_metrics_block(store, {"run": (0, 3 * S + 15_000_000)})
    run = block["families"]["srv:tokens_total"]["series"][0]["run"]
    assert run["total_increase"] == 2763
    assert run["avg"] == pytest.approx(2763 / 3.015)
    assert run["max"] == pytest.approx(860.0) and run["min"] == pytest.approx(860.0)
    assert run["count"] == 3  # the three full intervals; the 15 ms one is too short for a rate


def scripted_run(tmp_path: Path) -> tuple[str, str]:
    """A scripted run's server_metrics.jsonl and server_metrics block (JSON, keys sorted): a server source
    and a DCGM source interleaved, a two-scrape gap, a reset, a late last scrape."""
    import json

    from inferload.export import ExportContext, json_safe
    from inferload.registry import LoadRules, load_plugins
    from inferload.runstate import PhaseProgress, RunInfo, RunState
    from inferload_plugins.exporters.server_metrics_jsonl import FILENAME, export_server_metrics
    from scrape_targets import dcgm_body

    store = ServerMetricsStore([MAP, *load_plugins(LoadRules()).all("server_metric_map").values()])
    store.add_source("http://srv/metrics", "server", discovered=True)
    store.add_source("http://gpu/metrics", "gpu")
    for n in range(12):
        at = n * S + 1_000
        if n in (4, 5):
            store.failed("http://srv/metrics", "HTTP 503", at)
        else:
            tokens = (n if n < 8 else n - 8) * 100
            store.ingest("http://srv/metrics", body(tokens, n, (n, 2 * n, 3 * n)), at)
        store.ingest("http://gpu/metrics", dcgm_body(n), at + 500_000)
    store.ingest("http://srv/metrics", body(600, 12, (12, 24, 36)), 11 * S + 20_000_000)
    state = RunState(run_info=RunInfo(benchmark_id="b", random_seed=1, cli_command=""), config=None,
                     artifact_dir=tmp_path, started_ns=S // 2, ended_ns=11 * S + 30_000_000,
                     phases={"warmup": PhaseProgress(phase="warmup", phase_index=0, start_ns=S // 2,
                                                     requests_end_ns=2 * S),
                             "profiling": PhaseProgress(phase="profiling", phase_index=1, start_ns=2 * S)},
                     plugin_states={"server-metrics": store})
    context = ExportContext(state=state, config=None, records=[], metrics={}, summary={}, inputs=[],
                            artifact_dir=tmp_path, accumulator=None, secrets=("unused",))  # type: ignore[arg-type]
    export_server_metrics(context)
    windows = {**state.windows(), "steady_state": (3 * S, 9 * S)}
    client = {"time_to_first_token": {"count": 5, "avg": 90.0, "p50": 80.0, "p90": 120.0, "p99": 150.0},
              "total_osl": {"avg": 300.0}}
    block = server_metrics_block(store, windows, client)
    return (tmp_path / FILENAME).read_text(encoding="utf-8"), json.dumps(json_safe(block), sort_keys=True)


def test_the_jsonl_file_and_the_summary_block_of_a_scripted_run_stay_byte_identical(tmp_path: Path) -> None:
    """Captured on the store that kept every scrape in memory (before the spool): the same bytes now."""
    import hashlib

    jsonl, block = scripted_run(tmp_path)
    assert len(jsonl.splitlines()) == 25
    assert hashlib.sha256(jsonl.encode()).hexdigest() == JSONL_SHA256
    assert hashlib.sha256(block.encode()).hexdigest() == BLOCK_SHA256


JSONL_SHA256 = "7913580af5c182646e5696202895ff7aee0c42654f0c247cad3ca4d1660e9808"
BLOCK_SHA256 = "bff64700ce9ddb52a39a25bf36e8483403e96be6c770fed8d4035765188cd30c"


def test_scrapes_are_spooled_to_a_file_streamed_back_in_order_and_deleted_on_close(tmp_path: Path) -> None:
    store = ServerMetricsStore([MAP], spool_dir=tmp_path)
    store.add_source("u", "server")
    assert list(store.scrapes()) == [] and not any(tmp_path.iterdir())  # no file before the first scrape
    store.ingest("u", body(0, 0, (0, 0, 0)), 0)
    store.failed("u", "boom", S)
    store.ingest("u", body(10, 1, (1, 1, 1)), 2 * S)
    (spool,) = tmp_path.iterdir()
    assert [(s["timestamp_ns"], s["ok"]) for s in store.scrapes()] == [(0, True), (S, False), (2 * S, True)]
    mark = store.mark()
    store.ingest("u", body(20, 2, (2, 2, 2)), 3 * S)
    assert len(list(store.scrapes(mark))) == 3  # a reader's passes all see the scrapes of its mark
    assert store.scrape_count == 4
    assert [s["timestamp_ns"] for s in store.latest()] == [3 * S]  # held in memory, not read back
    store.close()
    assert not spool.exists()
    assert list(store.scrapes()) == [] and store.latest()[0]["timestamp_ns"] == 3 * S


def test_a_spool_never_closed_is_deleted_with_its_store(tmp_path: Path) -> None:
    import gc

    store = ServerMetricsStore([MAP], spool_dir=tmp_path)
    store.add_source("u", "server")
    store.failed("u", "boom", 0)
    assert any(tmp_path.iterdir())
    del store
    gc.collect()
    assert not any(tmp_path.iterdir())
