"""Each contrib endpoint adapter end to end: the real `inferload profile` CLI against a real simulator
process speaking that dialect (its route comes from the adapter's own plugin), checked against the
simulator's truth log by ordering and by counts, never by wall-clock thresholds."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from profile_fixtures import (
    FAST_SIM,
    assert_bracketed_by_truth,
    load_run,
    profile,
    start_simulator,
)

STREAMING = ["responses", "anthropic_messages", "tgi_generate", "ollama_chat"]
REASONING = {"responses", "anthropic_messages", "ollama_chat"}
"""Dialects that carry reasoning apart (TGI's native API has none)."""
SECRET = "sk-ant-e2e-secret-4c3b2a"
PATHS = {"responses": "/v1/responses", "anthropic_messages": "/v1/messages",
         "tgi_generate": "/generate_stream", "ollama_chat": "/api/chat"}


@pytest.mark.parametrize("endpoint_type", STREAMING)
def test_streaming_timings_are_bracketed_by_the_truth_and_reasoning_is_apart(
    endpoint_type: str, inferload_exe: Path, cli_env: Any, run_cli: Any, tmp_path: Path
) -> None:
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, "--decode-step-s", "0.01",
                          "--decode-step-per-seq-s", "0", "--prefill-tokens-per-s", "4000",
                          "--reasoning-tokens", "2")
    try:
        result = profile(run_cli, sim.url, tmp_path / "art", "-m", "m", "--endpoint-type", endpoint_type,
                         "--streaming", "--concurrency", "4", "--request-count", "12", "--osl", "8",
                         "--isl", "64", "--api-key", SECRET)
        assert result.returncode == 0, result.stderr
        run, _, records = load_run(tmp_path / "art")
        truth = sim.truth_by_request_id()
    finally:
        sim.stop()
    assert len(truth) == len(records) == 12
    assert {t["route"] for t in truth.values()} == {PATHS[endpoint_type]}
    assert all(record["error"] is None for record in records)
    # with --osl the output is cut at max tokens: TGI's last token event is then its final event
    assert_bracketed_by_truth(records, truth, final_write=endpoint_type != "tgi_generate")
    for record in records:
        metrics = record["metrics"]
        server = truth[record["metadata"]["x_request_id"]]
        assert metrics["output_sequence_length"]["value"] == server["completion_tokens"] == 8
        assert server["prompt_tokens"] == 64
        if endpoint_type != "tgi_generate":  # TGI reports no prompt count without decoder_input_details
            assert metrics["usage_prompt_tokens"]["value"] == 64
        assert metrics["usage_completion_tokens_diff"]["value"] == 0  # usage read and agreeing
        if endpoint_type in REASONING:
            assert metrics["reasoning_token_count"]["value"] == server["reasoning_tokens"] == 2
            # the answer starts after the reasoning: the first output token is not the first token
            assert metrics["time_to_first_output_token"]["value"] > metrics["time_to_first_token"]["value"]
        else:
            assert server["reasoning_tokens"] == 0
    for path in (p for p in run.rglob("*") if p.is_file()):
        assert SECRET not in path.read_text(errors="replace"), path.name
    assert SECRET not in result.stdout + result.stderr


@pytest.mark.parametrize("endpoint_type", STREAMING)
def test_whole_responses_are_measured_with_usage(
    endpoint_type: str, inferload_exe: Path, cli_env: Any, run_cli: Any, tmp_path: Path
) -> None:
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, *FAST_SIM)
    try:
        result = profile(run_cli, sim.url, tmp_path / "art", "-m", "m", "--endpoint-type", endpoint_type,
                         "--request-count", "6", "--osl", "5")
        assert result.returncode == 0, result.stderr
        _, _, records = load_run(tmp_path / "art")
        truth = sim.truth_by_request_id()
    finally:
        sim.stop()
    assert len(records) == len(truth) == 6
    assert {t["stream"] for t in truth.values()} == {False}
    for record in records:
        assert record["error"] is None
        assert record["metrics"]["output_sequence_length"]["value"] == 5
        assert record["metrics"]["usage_completion_tokens"]["value"] == 5


@pytest.mark.parametrize("endpoint_type", STREAMING)
def test_injected_faults_are_typed_per_request_and_the_run_goes_on(
    endpoint_type: str, inferload_exe: Path, cli_env: Any, run_cli: Any, tmp_path: Path
) -> None:
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, *FAST_SIM, "--seed", "7",
                          "--fault-rate", "http500=0.2,malformed_chunk=0.2,drop_mid=0.1")
    try:
        result = profile(run_cli, sim.url, tmp_path / "art", "-m", "m", "--endpoint-type", endpoint_type,
                         "--streaming", "--request-count", "30", "--concurrency", "3", "--osl", "6")
        _, summary, records = load_run(tmp_path / "art")
        truth = sim.truth_by_request_id()
    finally:
        sim.stop()
    assert len(records) == len(truth) == 30
    expected = {None: None, "http500": "http_error", "malformed_chunk": "malformed_response",
                "drop_mid": "connection_error"}
    seen = set()
    for record in records:
        fault = truth[record["metadata"]["x_request_id"]]["fault"]
        error = record["error"]
        assert (error or {}).get("type") == expected[fault], (fault, error)
        seen.add(fault)
        if fault == "http500":
            # the server's message, read from the dialect's own error body
            assert error["message"] == "simulated internal server error (fault injection)"
            assert error["code"] == 500
    assert seen == set(expected)
    assert summary["error_request_count"]["avg"] == sum(1 for r in records if r["error"])
    assert result.returncode in (0, 1), result.stderr


@pytest.mark.parametrize("endpoint_type", STREAMING)
def test_another_dialect_in_answer_is_a_typed_error_with_a_hint_naming_the_endpoint_type(
    endpoint_type: str, inferload_exe: Path, cli_env: Any, run_cli: Any, tmp_path: Path
) -> None:
    """The adapter's request sent to the simulator's OpenAI chat route, which answers chat chunks (the
    Responses and TGI bodies get a ``messages`` field too, so the chat route accepts them, as a gateway
    would)."""
    extra = ("--extra-inputs", '{"messages": [{"role": "user", "content": "hi"}]}')
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, *FAST_SIM)
    try:
        result = profile(run_cli, sim.url, tmp_path / "art", "-m", "m", "--endpoint-type", endpoint_type,
                         "--endpoint", "/v1/chat/completions", "--streaming", "--request-count", "4",
                         "--osl", "4", *(extra if endpoint_type in ("responses", "tgi_generate") else ()))
        _, _summary, records = load_run(tmp_path / "art")
    finally:
        sim.stop()
    assert len(records) == 4
    for record in records:
        assert record["error"]["type"] == "malformed_response"
        assert "looks like --endpoint-type chat" in record["error"]["message"]
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "run with --endpoint-type chat" in result.stderr + result.stdout


PLUGINS = {"responses": "endpoint-responses", "anthropic_messages": "endpoint-anthropic-messages",
           "tgi_generate": "endpoint-tgi-generate", "ollama_chat": "endpoint-ollama-chat"}


def test_each_adapter_is_its_own_contrib_plugin_with_its_simulator_route(run_cli: Any) -> None:
    rows = {row["name"]: row for row in json.loads(run_cli("plugins", "--json").stdout)}
    for endpoint_type, plugin in PLUGINS.items():
        row = rows[plugin]
        assert row["status"] == "enabled" and row["module"].startswith("inferload_contrib.")
        assert set(row["category"].split(",")) >= {"endpoint", "simulator_route"}
        assert f"{endpoint_type} (" in row["provides"][0]
        assert f"POST {PATHS[endpoint_type].replace('_stream', '')}" in row["provides"]


@pytest.mark.parametrize("endpoint_type", STREAMING)
def test_disabling_one_adapter_removes_only_its_endpoint_type_and_route(
    endpoint_type: str, inferload_exe: Path, cli_env: Any, run_cli: Any, tmp_path: Path
) -> None:
    """Against the embedded simulator (no --url): the disabled plugin's type is an unknown endpoint type
    (exit 2, one line), and the simulator no longer serves its route; every other dialect still runs."""
    disabled = PLUGINS[endpoint_type]
    env = {"INFERLOAD_DISABLE_PLUGINS": disabled}
    refused = profile(run_cli, None, tmp_path / "off", "--endpoint-type", endpoint_type, "--request-count",
                      "2", env=env)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        refused.stderr.strip().splitlines()[0]] and f"unknown endpoint {endpoint_type!r}" in refused.stderr
    for other in (t for t in STREAMING if t != endpoint_type):
        result = profile(run_cli, None, tmp_path / other, "--endpoint-type", other, "--streaming",
                         "--request-count", "2", "--osl", "3", env=env)
        assert result.returncode == 0, result.stderr
        _, _, records = load_run(tmp_path / other)
        assert [r["error"] for r in records] == [None, None]
    sim = start_simulator(inferload_exe, {**cli_env(), **env}, tmp_path, *FAST_SIM)
    try:
        request = urllib.request.Request(sim.url + PATHS[endpoint_type], data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=10)
        assert info.value.code == 404
    finally:
        sim.stop()


def test_tei_embed_measures_latency_without_tokens_and_types_its_faults(
    inferload_exe: Path, cli_env: Any, run_cli: Any, tmp_path: Path
) -> None:
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, *FAST_SIM, "--seed", "3",
                          "--fault-rate", "http503=0.25,malformed_chunk=0.25")
    try:
        result = profile(run_cli, sim.url, tmp_path / "art", "-m", "m", "--endpoint-type", "tei_embed",
                         "--request-count", "20", "--concurrency", "2", "--isl", "24")
        _, _, records = load_run(tmp_path / "art")
        truth = sim.truth_by_request_id()
        streamed = profile(run_cli, sim.url, tmp_path / "s", "-m", "m", "--endpoint-type", "tei_embed",
                           "--streaming", "--request-count", "2")
    finally:
        sim.stop()
    assert result.returncode in (0, 1), result.stderr
    assert len(records) == len(truth) == 20
    assert {t["route"] for t in truth.values()} == {"/embed"}
    expected = {None: None, "http503": "http_error", "malformed_chunk": "malformed_response"}
    for record in records:
        server = truth[record["metadata"]["x_request_id"]]
        assert (record["error"] or {}).get("type") == expected[server["fault"]], record["error"]
        if server["fault"] == "http503":  # the server's message, from TEI's {"error", "error_type"}
            assert record["error"]["message"] == "simulated overload: service unavailable (fault injection)"
        if server["fault"] is None:
            assert server["prompt_tokens"] == 24
            assert "request_latency" in record["metrics"]
            assert "output_sequence_length" not in record["metrics"]
    assert {truth[r["metadata"]["x_request_id"]]["fault"] for r in records} == set(expected)
    assert streamed.returncode == 2 and len(streamed.stderr.strip().splitlines()) == 1


NON_STREAMED_PATHS = {**PATHS, "tgi_generate": "/generate"}


@pytest.mark.parametrize("endpoint_type", STREAMING)
def test_the_wait_for_model_probe_is_one_token_in_the_dialect_on_the_non_streamed_path(
    endpoint_type: str, inferload_exe: Path, cli_env: Any, run_cli: Any, tmp_path: Path
) -> None:
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, *FAST_SIM)
    try:
        result = profile(run_cli, sim.url, tmp_path / "art", "-m", "m", "--endpoint-type", endpoint_type,
                         "--streaming", "--request-count", "3", "--osl", "5", "--api-key", SECRET,
                         "--wait-for-model-timeout", "30")
        assert result.returncode == 0, result.stderr
        truth = sim.truth()
    finally:
        sim.stop()
    assert "answered a one-token request" in result.stderr
    probes = [t for t in truth if not t["stream"]]
    runs = [t for t in truth if t["stream"]]
    # the probe: rendered by the adapter (the simulator parsed it as its dialect), not streamed, one token
    assert [(t["route"], t["status"], t["completion_tokens"]) for t in probes] == [
        (NON_STREAMED_PATHS[endpoint_type], 200, 1)
    ]
    assert len(runs) == 3 and {t["route"] for t in runs} == {PATHS[endpoint_type]}


ENCODERS = {
    # endpoint type, its flags -> the route that answers
    "embeddings": (("--isl", "64"), "/v1/embeddings"),
    "tei_embed": (("--isl", "64"), "/embed"),
    "tei_rerank": (("--rerank-documents", "3", "--rerank-query-tokens", "8", "--isl", "16"), "/rerank"),
    "rerank": (("--rerank-documents", "3", "--rerank-query-tokens", "8", "--isl", "16"), "/v1/rerank"),
}


@pytest.mark.parametrize("endpoint_type", sorted(ENCODERS))
def test_encoder_request_latency_is_bracketed_by_the_truth(
    endpoint_type: str, inferload_exe: Path, cli_env: Any, run_cli: Any, tmp_path: Path
) -> None:
    # the simulator's own prefill pass (20,000 tokens/s) as the encoding cost, two requests in flight
    flags, route = ENCODERS[endpoint_type]
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, "--prefill-tokens-per-s", "20000")
    try:
        result = profile(run_cli, sim.url, tmp_path / "art", "-m", "m", "--endpoint-type", endpoint_type,
                         *flags, "--request-count", "6", "--concurrency", "2")
        assert result.returncode == 0, result.stderr
        _, _, records = load_run(tmp_path / "art")
        truth = sim.truth_by_request_id()
    finally:
        sim.stop()
    assert len(records) == len(truth) == 6 and {t["route"] for t in truth.values()} == {route}
    for record in records:
        server, meta = truth[record["metadata"]["x_request_id"]], record["metadata"]
        # the server's timeline of one encoding: received, encoded (scheduled .. finished), written
        assert server["outcome"] == "ok" and server["first_token_ns"] is None, server
        encoded = (server["received_ns"], server["scheduled_ns"], server["finished_ns"], server["headers_ns"],
                   server["last_chunk_ns"])
        assert list(encoded) == sorted(encoded) and server["scheduled_ns"] < server["finished_ns"], server
        assert server["chunk_ns"] == [server["last_chunk_ns"]]
        # causality, as for the generation routes: the client sent before the server had the request and
        # got the body after the encoding was done (last_chunk_ns is read after the write returned, so a
        # client on another core may stamp its read first: it bounds nothing)
        assert meta["request_start_ns"] <= server["received_ns"]
        assert server["finished_ns"] <= meta["request_end_ns"]
        latency = round(record["metrics"]["request_latency"]["value"] * 1e6)
        assert latency == meta["request_end_ns"] - meta["request_start_ns"]
        assert latency >= server["finished_ns"] - server["received_ns"]
