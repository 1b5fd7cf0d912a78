"""Fault injection: each fault kind shows on the raw wire exactly as documented, by header and by rate."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from inferload_plugins.simulator.embedded import EmbeddedSimulator
from inferload_plugins.simulator.truthlog import read_truth_log
from simulator_wire import RawExchange, StartSimulator, http_request, post_raw

pytest_plugins = ["simulator_fixtures"]

CHAT = "/v1/chat/completions"
STALL = 0.3
"""Stall length in these tests; checks only ever use it as a lower bound (a sleep never ends early)."""
TOLERANCE = 0.05
"""Timer granularity allowance for those lower bounds (the event loop's clock ticks in milliseconds)."""
SILENCE = 2.0
"""How long a read waits before a response that never ends counts as stalled. Its first half comes from a
fast simulator in milliseconds; the window is wide so a loaded machine's pauses are not taken for it."""


def chat(stream: bool, tokens: int = 10) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": "fault me"}], "max_tokens": tokens,
            "ignore_eos": True, "stream": stream}


def classify(events: list[bytes]) -> list[str]:
    """Each SSE event as ``token``, ``malformed``, ``done`` or ``other`` (role, finish, usage)."""
    kinds = []
    for event in events:
        if event == b"[DONE]":
            kinds.append("done")
            continue
        try:
            data = json.loads(event)
        except ValueError:
            kinds.append("malformed")
            continue
        choice = data["choices"][0] if data["choices"] else {}
        kinds.append("token" if choice.get("delta", {}).get("content") or choice.get("text") else "other")
    return kinds


def truth_record(simulator: EmbeddedSimulator, request_id: str) -> dict[str, Any]:
    """The truth-log line of one request; the server writes it just after the response's last byte, so
    wait (bounded) until it is there."""
    path = simulator.config.truth_log
    assert isinstance(path, Path)
    deadline = time.monotonic() + 10
    while True:
        records = [r for r in read_truth_log(path) if r["request_id"] == request_id]
        if records or time.monotonic() > deadline:
            assert len(records) == 1, f"{len(records)} truth records for {request_id}"
            return records[0]
        time.sleep(0.01)


def faulted(simulator: EmbeddedSimulator, fault: str, payload: dict[str, Any], request_id: str, *,
            path: str = CHAT, timeout: float = 10.0) -> RawExchange:
    return post_raw(simulator.url, path, payload, timeout=timeout,
                    headers={"x-inferload-fault": fault, "x-request-id": request_id})


@pytest.mark.parametrize(("fault", "status"), [("http500", 500), ("http503", 503), ("http429:2", 429)])
def test_status_faults_answer_in_the_openai_error_shape(fast_simulator: EmbeddedSimulator, fault: str,
                                                        status: int) -> None:
    exchange = faulted(fast_simulator, fault, chat(stream=True), f"status-{status}")
    assert exchange.status == status
    assert set(exchange.json()["error"]) == {"message", "type", "param", "code"}
    assert exchange.header("retry-after") == ("2" if status == 429 else None)
    assert truth_record(fast_simulator, f"status-{status}")["status"] == status


def test_stall_first_byte_delays_the_whole_response(fast_simulator: EmbeddedSimulator) -> None:
    exchange = faulted(fast_simulator, f"stall_first_byte:{STALL}", chat(stream=True), "stall-first")
    assert exchange.first_byte_at is not None
    assert exchange.first_byte_at - exchange.sent_at >= STALL - TOLERANCE
    assert exchange.payload()[1] and classify(exchange.events()).count("token") == 10
    record = truth_record(fast_simulator, "stall-first")
    assert record["headers_ns"] - record["received_ns"] >= (STALL - TOLERANCE) * 1e9


def test_stall_mid_stream_pauses_half_way_then_finishes(fast_simulator: EmbeddedSimulator) -> None:
    exchange = faulted(fast_simulator, f"stall_mid:{STALL}", chat(stream=True), "stall-mid")
    assert exchange.payload()[1] and classify(exchange.events())[-1] == "done"
    # On the wire: the read after the pause starts exactly at token 6; five tokens came before it.
    gaps = [(later[0] - earlier[0], earlier[1]) for earlier, later in
            zip(exchange.arrivals, exchange.arrivals[1:], strict=False)]
    pause, bytes_before = max(gaps)
    assert pause >= STALL - TOLERANCE
    before = RawExchange(head=exchange.head, body=exchange.body[:bytes_before])
    assert classify(before.events()).count("token") == 5
    chunk_ns = truth_record(fast_simulator, "stall-mid")["chunk_ns"]
    assert chunk_ns[5] - chunk_ns[4] >= (STALL - TOLERANCE) * 1e9


def test_drop_mid_stream_closes_without_terminator(fast_simulator: EmbeddedSimulator) -> None:
    exchange = faulted(fast_simulator, "drop_mid", chat(stream=True), "drop")
    data, complete = exchange.payload()
    assert exchange.eof and not complete
    assert b"[DONE]" not in data
    assert classify(exchange.events()).count("token") == 5
    record = truth_record(fast_simulator, "drop")
    assert (record["outcome"], record["completion_tokens"]) == ("dropped", 5)


def test_malformed_chunk_is_one_bad_event_in_a_complete_stream(fast_simulator: EmbeddedSimulator) -> None:
    exchange = faulted(fast_simulator, "malformed_chunk", chat(stream=True), "malformed")
    kinds = classify(exchange.events())
    assert exchange.payload()[1]
    assert kinds.count("malformed") == 1 and kinds[-1] == "done"
    assert kinds[: kinds.index("malformed")].count("token") == 5
    assert kinds.count("token") == 10


def test_never_end_sends_half_then_nothing(fast_simulator: EmbeddedSimulator) -> None:
    exchange = faulted(fast_simulator, "never_end", chat(stream=True), "never", timeout=SILENCE)
    assert exchange.timed_out and not exchange.eof and not exchange.payload()[1]
    assert classify(exchange.events()).count("token") == 5


def test_never_end_is_closed_when_the_server_stops(start_simulator: StartSimulator) -> None:
    simulator = start_simulator(fast=True)
    host, port = simulator.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(http_request("POST", CHAT, chat(stream=True),
                                  headers={"x-inferload-fault": "never_end"}))
        received = b""
        while received.count(b'"content":"') < 6:  # the role event plus five tokens
            received += conn.recv(65536)
        assert simulator.stop() == 0
        assert conn.recv(65536) == b""  # closed by the server, not left hanging


@pytest.mark.parametrize("fault", ["drop_mid", "never_end"])
def test_mid_body_faults_cut_a_content_length_body(fast_simulator: EmbeddedSimulator, fault: str) -> None:
    exchange = faulted(fast_simulator, fault, chat(stream=False), f"whole-{fault}", timeout=SILENCE)
    length = int(exchange.header("content-length") or 0)
    assert exchange.status == 200 and 0 < len(exchange.body) < length
    assert exchange.eof if fault == "drop_mid" else exchange.timed_out


def test_stall_mid_in_a_content_length_body(fast_simulator: EmbeddedSimulator) -> None:
    exchange = faulted(fast_simulator, f"stall_mid:{STALL}", chat(stream=False), "whole-stall")
    assert exchange.json()["usage"]["completion_tokens"] == 10
    pause, bytes_before = max((later[0] - earlier[0], earlier[1]) for earlier, later in
                              zip(exchange.arrivals, exchange.arrivals[1:], strict=False))
    assert pause >= STALL - TOLERANCE
    assert bytes_before == len(exchange.body) // 2


def test_malformed_content_length_body_is_invalid_json(fast_simulator: EmbeddedSimulator) -> None:
    exchange = faulted(fast_simulator, "malformed_chunk", chat(stream=False), "whole-malformed")
    assert exchange.status == 200 and exchange.payload()[1]
    with pytest.raises(ValueError):
        exchange.json()


def test_faults_apply_to_embeddings(fast_simulator: EmbeddedSimulator) -> None:
    exchange = faulted(fast_simulator, "http503", {"model": "e", "input": "x"}, "embed-503",
                       path="/v1/embeddings")
    assert exchange.status == 503


def test_unknown_fault_header_is_a_bad_request_listing_the_kinds(fast_simulator: EmbeddedSimulator) -> None:
    exchange = faulted(fast_simulator, "explode", chat(stream=False), "bad-fault")
    assert exchange.status == 400
    assert "stall_mid" in exchange.json()["error"]["message"]


def test_fault_rates_replay_the_same_faults_for_the_same_seed(start_simulator: StartSimulator) -> None:
    def statuses(simulator: EmbeddedSimulator) -> list[int]:
        return [post_raw(simulator.url, CHAT, chat(stream=False, tokens=2)).status for _ in range(16)]

    first = statuses(start_simulator(fast=True, seed=3, fault_rate="http500=0.5"))
    second = statuses(start_simulator(fast=True, seed=3, fault_rate="http500=0.5"))
    assert first == second
    assert set(first) == {200, 500}
