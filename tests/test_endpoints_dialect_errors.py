"""A server that answers in another API's dialect: each request ends at the first event as a typed
``malformed_response`` saying what was seen and the likely --endpoint-type, the hint is printed once while
the run goes on, and the run completes, on every transport (real CLI against a real simulator process;
the truth log says whether the client hung up mid-stream). Also the Anthropic adapter's default output
length."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from inferload.dataset import DEFAULT_OUTPUT_TOKENS
from profile_fixtures import load_run, profile, start_simulator

SLOW_STREAM = ("--decode-step-s", "0.01", "--decode-step-per-seq-s", "0", "--prefill-tokens-per-s", "1000000")
"""40 tokens take 0.4 s: a client that stops at the first event hangs up long before the last one."""

CASES = {
    # asked endpoint type, the route that answers (another dialect), what the message says, the guess
    "anthropic_to_chat": ("anthropic_messages", "/v1/chat/completions",
                          "a stream event without a Messages 'type'", "chat"),
    "responses_to_anthropic": ("responses", "/v1/messages", "unknown Responses event type 'message_start'",
                               "anthropic_messages"),
    "chat_to_ollama": ("chat", "/api/chat", "a JSON line, no SSE event", "ollama_chat"),
    "ollama_to_chat": ("ollama_chat", "/v1/chat/completions", "an SSE event where NDJSON lines were expected",
                       "chat"),
    "tgi_to_responses": ("tgi_generate", "/v1/responses", "a stream event without 'token'", "responses"),
}
BODY_FIX = {
    # fields the answering route needs beside the asked dialect's own (a gateway would accept them too)
    "/v1/chat/completions": {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 40},
    "/v1/messages": {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 40},
    "/api/chat": {"messages": [{"role": "user", "content": "hi"}], "options": {"num_predict": 40}},
    "/v1/responses": {"input": "hi", "max_output_tokens": 40, "stream": True},
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("transport", ["protocol", "aiohttp", "httpx"])
def test_another_dialect_ends_each_request_at_its_first_event_with_the_hint_once(
    case: str, transport: str, inferload_exe: Path, cli_env: Any, run_cli: Any, tmp_path: Path
) -> None:
    asked, route, said, guess = CASES[case]
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, *SLOW_STREAM)
    try:
        result = profile(run_cli, sim.url, tmp_path / "art", "-m", "m", "--endpoint-type", asked,
                         "--endpoint", route, "--streaming", "--request-count", "4", "--osl", "40",
                         "--transport", transport, "--extra-inputs", json.dumps(BODY_FIX[route]))
        _, summary, records = load_run(tmp_path / "art")
        truth = sim.truth_by_request_id()
    finally:
        sim.stop()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(records) == len(truth) == 4  # every request accounted for, none stopped the run
    for record in records:
        error = record["error"]
        assert error["type"] == "malformed_response", error
        assert error["message"].startswith(said + ": b'"), error
        assert error["message"].endswith(f"; looks like --endpoint-type {guess}"), error
        # every transport closes the connection at the first event: the server sees it hang up
        server = truth[record["metadata"]["x_request_id"]]
        assert server["outcome"] == "client_closed", server
        assert len(server["chunk_ns"]) < 40
    # the hint while the run goes on, once; then the error summary's hint at the end
    live = [line for line in result.stderr.splitlines() if "WARNING: request" in line]
    assert len(live) == 1 and live[0].endswith(f"run with --endpoint-type {guess}")
    assert summary["error_summary"][0]["hint"].endswith(f"run with --endpoint-type {guess}")


def test_a_whole_json_error_body_to_a_stream_request_is_the_servers_error(
    inferload_exe: Path, cli_env: Any, run_cli: Any, tmp_path: Path
) -> None:
    # a non-streamed answer where a stream was asked: the chat route answers whole JSON to stream=false,
    # which --extra-inputs forces; the chat parser names what it got instead of "stream incomplete"
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, *SLOW_STREAM)
    try:
        result = profile(run_cli, sim.url, tmp_path / "art", "-m", "m", "--streaming", "--request-count",
                         "2", "--osl", "3", "--extra-inputs", '{"stream": false}')
        _, _, records = load_run(tmp_path / "art")
    finally:
        sim.stop()
    assert result.returncode == 1
    for record in records:
        assert record["error"]["type"] == "malformed_response"
        assert record["error"]["message"].startswith("a whole JSON body where a stream was expected")
        assert record["error"]["message"].endswith("looks like --endpoint-type chat")


def test_anthropic_without_osl_asks_the_default_output_length_every_endpoint_type_gets(
    inferload_exe: Path, cli_env: Any, run_cli: Any, tmp_path: Path
) -> None:
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, "--fast", "--output-len-sigma", "0")
    try:
        anthropic = profile(run_cli, sim.url, tmp_path / "a", "-m", "m", "--endpoint-type",
                            "anthropic_messages", "--streaming", "--request-count", "3")
        chat = profile(run_cli, sim.url, tmp_path / "c", "-m", "m", "--streaming", "--request-count", "3")
        truth = sim.truth()
    finally:
        sim.stop()
    assert anthropic.returncode == chat.returncode == 0, anthropic.stderr + chat.stderr
    run, _, records = load_run(tmp_path / "a")
    bodies = [e["payloads"][0] for e in json.loads((run / "inputs.json").read_text())["data"]]
    assert {body["max_tokens"] for body in bodies} == {DEFAULT_OUTPUT_TOKENS}
    # the simulator's natural length (sigma 0: exactly its mean) for chat, which asks none, is the same
    assert {(t["route"], t["completion_tokens"]) for t in truth} == {
        ("/v1/messages", DEFAULT_OUTPUT_TOKENS), ("/v1/chat/completions", DEFAULT_OUTPUT_TOKENS)}
    assert {r["metrics"]["output_sequence_length"]["value"] for r in records} == {DEFAULT_OUTPUT_TOKENS}


def test_a_disabled_endpoint_type_is_never_suggested(
    inferload_exe: Path, cli_env: Any, run_cli: Any, tmp_path: Path
) -> None:
    # the simulator (all plugins) answers NDJSON; the client runs without the Ollama plugin: the request
    # still ends at the first line as malformed_response, but names no endpoint type it cannot use
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, *SLOW_STREAM)
    try:
        result = profile(run_cli, sim.url, tmp_path / "art", "-m", "m", "--endpoint", "/api/chat",
                         "--streaming", "--request-count", "2", "--osl", "4", "--extra-inputs",
                         json.dumps(BODY_FIX["/api/chat"]),
                         env={"INFERLOAD_DISABLE_PLUGINS": "endpoint-ollama-chat"})
        _, _, records = load_run(tmp_path / "art")
    finally:
        sim.stop()
    assert result.returncode == 1
    for record in records:
        assert record["error"]["type"] == "malformed_response"
        assert record["error"]["message"].startswith("a JSON line, no SSE event: b'")
        assert "--endpoint-type" not in record["error"]["message"]
    assert "ollama_chat" not in result.stderr + result.stdout
