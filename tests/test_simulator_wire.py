"""The simulator's HTTP layer and side channels: keep-alive, pipelining, framing, errors, /metrics and
the truth-log format."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from inferload_plugins.simulator.embedded import EmbeddedSimulator
from inferload_plugins.simulator.text import count_tokens
from inferload_plugins.simulator.truthlog import read_truth_log
from profile_fixtures import wait_for
from simulator_wire import RawExchange, StartSimulator, http_request, post_raw, send_raw

pytest_plugins = ["simulator_fixtures"]

COMPLETIONS = "/v1/completions"


def completion(stream: bool, tokens: int = 4) -> dict:
    return {"model": "m", "prompt": "wire test", "max_tokens": tokens, "ignore_eos": True, "stream": stream}


def read_responses(conn: socket.socket, count: int) -> list[RawExchange]:
    """Read ``count`` Content-Length responses off one keep-alive connection."""
    buffer, responses = b"", []
    while len(responses) < count:
        while b"\r\n\r\n" not in buffer:
            buffer += conn.recv(65536)
        head, _, buffer = buffer.partition(b"\r\n\r\n")
        response = RawExchange(head=head)
        length = int(response.header("content-length") or 0)
        while len(buffer) < length:
            buffer += conn.recv(65536)
        response.body, buffer = buffer[:length], buffer[length:]
        responses.append(response)
    return responses


def connect(simulator: EmbeddedSimulator) -> socket.socket:
    parts = urlsplit(simulator.url)
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def test_keep_alive_serves_many_requests_on_one_connection(fast_simulator: EmbeddedSimulator) -> None:
    keep = {"connection": "keep-alive"}
    with connect(fast_simulator) as conn:
        for _ in range(3):
            conn.sendall(http_request("POST", COMPLETIONS, completion(False), headers=keep))
            [response] = read_responses(conn, 1)
            assert response.status == 200 and response.header("connection") == "keep-alive"
            assert response.json()["usage"]["completion_tokens"] == 4


def test_pipelined_requests_are_answered_in_order(fast_simulator: EmbeddedSimulator) -> None:
    keep = {"connection": "keep-alive"}
    requests = [http_request("POST", COMPLETIONS, completion(False, tokens=n), headers=keep)
                for n in (1, 2, 3)]
    requests.append(http_request("GET", "/health", headers=keep))
    with connect(fast_simulator) as conn:
        conn.sendall(b"".join(requests))
        responses = read_responses(conn, 4)
    assert [r.json()["usage"]["completion_tokens"] for r in responses[:3]] == [1, 2, 3]
    assert responses[3].json() == {"status": "ok"}


def test_a_half_closed_client_still_gets_its_whole_answer(start_simulator: StartSimulator) -> None:
    simulator = start_simulator(decode_step_s=0.005)
    with connect(simulator) as conn:
        keep = {"connection": "keep-alive"}
        conn.sendall(http_request("POST", COMPLETIONS, completion(True), headers=keep))
        conn.shutdown(socket.SHUT_WR)
        received = b""
        while data := conn.recv(65536):  # the server closes once the answer is complete
            received += data
    assert received.endswith(b"data: [DONE]\n\n\r\n0\r\n\r\n")


def test_streams_use_chunked_encoding_and_end_with_done(fast_simulator: EmbeddedSimulator) -> None:
    exchange = post_raw(fast_simulator.url, COMPLETIONS, completion(True))
    assert exchange.chunked and (exchange.header("content-type") or "").startswith("text/event-stream")
    data, complete = exchange.payload()
    assert complete and data.endswith(b"data: [DONE]\n\n")
    texts = [json.loads(e)["choices"][0]["text"] for e in exchange.events()[:-1]]
    assert count_tokens("".join(texts)) == 4


def test_http10_streams_are_close_delimited(fast_simulator: EmbeddedSimulator) -> None:
    exchange = send_raw(fast_simulator.url, http_request("POST", COMPLETIONS, completion(True),
                                                         version="HTTP/1.0", headers={}))
    assert exchange.eof and not exchange.chunked
    assert exchange.header("connection") == "close"
    assert exchange.body.endswith(b"data: [DONE]\n\n")


def test_errors_use_the_openai_shape_and_proper_statuses(fast_simulator: EmbeddedSimulator) -> None:
    url = fast_simulator.url
    unknown = send_raw(url, http_request("GET", "/v2/nothing"))
    assert unknown.status == 404 and unknown.json()["error"]["code"] == "unknown_url"
    wrong_method = send_raw(url, http_request("GET", COMPLETIONS))
    assert wrong_method.status == 405 and wrong_method.header("allow") == "POST"
    bad_json = send_raw(url, http_request("POST", COMPLETIONS, raw_body=b"{not json"))
    assert bad_json.status == 400 and "not valid JSON" in bad_json.json()["error"]["message"]
    no_messages = post_raw(url, "/v1/chat/completions", {"model": "m"})
    assert no_messages.status == 400 and no_messages.json()["error"]["param"] == "messages"
    too_long = post_raw(url, COMPLETIONS, {"model": "m", "prompt": "word " * 9000})
    assert too_long.status == 400 and too_long.json()["error"]["code"] == "context_length_exceeded"
    batch = post_raw(url, COMPLETIONS, {"model": "m", "prompt": ["one", "two"]})
    assert batch.status == 400 and batch.json()["error"]["param"] == "prompt"
    for exchange in (unknown, wrong_method, bad_json, no_messages, too_long, batch):
        assert set(exchange.json()["error"]) == {"message", "type", "param", "code"}


def test_malformed_http_gets_400_and_the_connection_closes(fast_simulator: EmbeddedSimulator) -> None:
    with connect(fast_simulator) as conn:
        conn.sendall(b"THIS IS NOT HTTP\r\n\r\n")
        received = b""
        while data := conn.recv(65536):  # until the server closes
            received += data
    assert received.startswith(b"HTTP/1.1 400 ") and b"malformed HTTP request" in received


def test_token_id_prompts_count_their_ids(fast_simulator: EmbeddedSimulator) -> None:
    exchange = post_raw(fast_simulator.url, COMPLETIONS, {"model": "m", "prompt": [5, 6, 7, 8]})
    assert exchange.json()["usage"]["prompt_tokens"] == 4


def test_metrics_expose_vllm_series_that_add_up(start_simulator: StartSimulator) -> None:
    simulator = start_simulator(fast=True)
    for tokens in (3, 5):
        post_raw(simulator.url, COMPLETIONS, completion(False, tokens))
    post_raw(simulator.url, COMPLETIONS, completion(True, 7))
    post_raw(simulator.url, COMPLETIONS, completion(False), headers={"x-inferload-fault": "http500"})
    response = httpx.get(simulator.url + "/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(response.text) for s in family.samples}
    model = (("model_name", "inferload-sim"),)
    assert samples[("vllm:generation_tokens_total", model)] == 15
    assert samples[("vllm:prompt_tokens_total", model)] == 3 * count_tokens("wire test")
    assert samples[("vllm:num_requests_running", model)] == 0
    assert samples[("vllm:num_requests_waiting", model)] == 0
    assert samples[("vllm:time_to_first_token_seconds_count", model)] == 3
    assert samples[("vllm:request_success_total", (("finished_reason", "length"), *model))] == 3
    assert samples[("inferload_sim:faults_injected_total", (("kind", "http500"), *model))] == 1
    for name in ("vllm:e2e_request_latency_seconds_count", "vllm:time_per_output_token_seconds_count",
                 "vllm:request_queue_time_seconds_count"):
        assert samples[(name, model)] == 3


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "engine"])
def test_metrics_count_encoder_requests_as_finished_requests(
    start_simulator: StartSimulator, fast: bool
) -> None:
    simulator = start_simulator(fast=fast)
    embeddings = {"model": "m", "input": ["one two", "three"]}
    assert post_raw(simulator.url, "/v1/embeddings", embeddings).status == 200
    rerank = {"model": "m", "query": "which", "documents": ["a b", "c"]}
    assert post_raw(simulator.url, "/v1/rerank", rerank).status == 200
    post_raw(simulator.url, "/v1/embeddings", embeddings, headers={"x-inferload-fault": "http500"})
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(httpx.get(simulator.url + "/metrics").text)
               for s in family.samples}
    model = (("model_name", "inferload-sim"),)
    assert samples[("vllm:request_success_total", (("finished_reason", "stop"), *model))] == 2
    assert samples[("vllm:prompt_tokens_total", model)] > 0
    assert samples[("vllm:e2e_request_latency_seconds_count", model)] == 2
    assert samples[("vllm:request_queue_time_seconds_count", model)] == 2
    assert samples[("vllm:time_to_first_token_seconds_count", model)] == 0


def test_an_encoder_request_in_its_prefill_pass_counts_as_running(start_simulator: StartSimulator) -> None:
    simulator = start_simulator(prefill_tokens_per_s=2.0)  # a few tokens: a pass of seconds
    sent = threading.Thread(target=post_raw, args=(simulator.url, "/v1/embeddings",
                                                   {"model": "m", "input": "one two three"}))
    sent.start()

    def running() -> float:
        text = httpx.get(simulator.url + "/metrics").text
        return next(s.value for family in text_string_to_metric_families(text) for s in family.samples
                    if s.name == "vllm:num_requests_running")

    try:
        wait_for(lambda: running() == 1, timeout=30)
    finally:
        sent.join(60)
    assert running() == 0


def test_truth_log_records_each_request_with_its_server_timestamps(
    start_simulator: StartSimulator, tmp_path: Path
) -> None:
    truth = tmp_path / "truth.jsonl"
    simulator = start_simulator(decode_step_s=0.002, truth_log=truth)
    post_raw(simulator.url, COMPLETIONS, completion(True, 5), headers={"x-request-id": "streamed"})
    post_raw(simulator.url, COMPLETIONS, completion(False, 5), headers={"x-request-id": "whole"})
    post_raw(simulator.url, COMPLETIONS, {"model": "m"}, headers={"x-request-id": "refused"})
    assert simulator.stop() == 0
    records = {r["request_id"]: r for r in read_truth_log(truth)}
    assert set(records) == {"streamed", "whole", "refused"}
    streamed = records["streamed"]
    assert set(streamed) == {
        "id", "request_id", "session_id", "route", "model", "stream", "status", "fault", "outcome",
        "prompt_tokens", "cached_tokens", "completion_tokens", "reasoning_tokens", "finish_reason",
        "received_ns", "scheduled_ns",
        "first_token_ns", "finished_ns", "headers_ns", "first_chunk_ns", "chunk_ns", "chunk_write_ns",
        "last_chunk_ns",
    }
    assert streamed["id"].startswith("cmpl-") and streamed["route"] == COMPLETIONS
    assert (streamed["stream"], streamed["status"], streamed["outcome"]) == (True, 200, "ok")
    assert (streamed["completion_tokens"], streamed["finish_reason"]) == (5, "length")
    assert len(streamed["chunk_ns"]) == 5 and streamed["chunk_ns"] == sorted(streamed["chunk_ns"])
    assert (streamed["received_ns"] <= streamed["scheduled_ns"] <= streamed["first_token_ns"]
            <= streamed["first_chunk_ns"] <= streamed["chunk_ns"][-1] <= streamed["last_chunk_ns"])
    assert streamed["headers_ns"] <= streamed["first_chunk_ns"]
    # each token write is stamped just before it (chunk_write_ns) and just after (chunk_ns)
    starts, ends = streamed["chunk_write_ns"], streamed["chunk_ns"]
    assert len(starts) == 5 and all(a <= b for a, b in zip(starts, ends, strict=True))
    assert all(end <= start for end, start in zip(ends, starts[1:], strict=False))
    whole = records["whole"]
    assert whole["chunk_write_ns"] == []
    assert whole["stream"] is False and len(whole["chunk_ns"]) == 1
    assert whole["first_chunk_ns"] == whole["last_chunk_ns"] >= whole["finished_ns"]
    refused = records["refused"]
    assert (refused["status"], refused["outcome"], refused["chunk_ns"]) == (400, "error", [])
