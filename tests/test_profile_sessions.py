"""Multi-turn sessions end to end: `inferload profile` as a user types it, against a recording server (what
each turn's request carries) and the real simulator with its prefix cache (what a server makes of it)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from inferload_plugins.simulator.prefix_cache import PrefixCache
from profile_fixtures import FAST_SIM, artifact_dir, read_jsonl, start_simulator, usage_error
from scripted_server import ScriptedRequest, ScriptedServer

SESSIONS: list[dict[str, Any]] = [
    {"session_id": "alpha", "system": "Be brief.",
     "turns": [{"text": "Name a river."}, {"text": "How long is it?", "delay_ms": 5}, {"text": "Thanks."}]},
    {"session_id": "beta",
     "turns": [{"text": "Pick a number."}, {"messages": [{"role": "user", "content": "Double it."}]}]},
]


def reply_of(number: int) -> str:
    """The text the recording server streams for its ``number``-th request: unique per request."""
    return f"reply {number} from the server"


def streamed_reply(request: ScriptedRequest, number: int) -> bytes:
    """A chat completion stream of :func:`reply_of` in three deltas, with usage, then ``[DONE]``."""
    text = reply_of(number)
    pieces = [text[:6], text[6:12], text[12:]]
    events = [{"choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]} for p in pieces]
    events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    events.append({"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}})
    body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n" % len(body)
    return head + body


def streamed_completion(request: ScriptedRequest, number: int) -> bytes:
    """A completions stream (``choices[0].text``) of :func:`reply_of`, then ``[DONE]``."""
    events = [{"choices": [{"index": 0, "text": reply_of(number), "finish_reason": None}]},
              {"choices": [{"index": 0, "text": "", "finish_reason": "stop"}]}]
    body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n" % len(body)
    return head + body


def write_sessions(path: Path, sessions: list[Any]) -> Path:
    path.write_text("\n".join(json.dumps(s) for s in sessions) + "\n", encoding="utf-8")
    return path


def run_sessions(run_cli: Any, url: str | None, root: Path, *args: Any, env: Any = None) -> Any:
    target = ("--url", url, "-m", "m") if url else ()
    return run_cli("profile", *target, "--streaming", "--artifact-dir", root, "--ui", "none",
                   "--api-linger", "0", *args, env=env)


def by_session(server: ScriptedServer) -> dict[str, list[tuple[int, ScriptedRequest]]]:
    """The requests the server got, grouped by their X-Session-ID header, in arrival order."""
    groups: dict[str, list[tuple[int, ScriptedRequest]]] = {}
    for number, request in enumerate(server.requests):
        groups.setdefault(request.headers["x-session-id"], []).append((number, request))
    return groups


def test_each_later_turn_carries_the_replies_the_server_actually_streamed(
    run_cli: Any, tmp_path: Path
) -> None:
    path = write_sessions(tmp_path / "sessions.jsonl", SESSIONS)
    with ScriptedServer(streamed_reply) as server:
        # no --dataset: a file whose lines have "turns" is a session file
        result = run_sessions(run_cli, server.url, tmp_path / "art", "--input-file", path,
                              "--concurrency", "2")
    assert result.returncode == 0, result.stderr
    groups = by_session(server)
    assert len(groups) == 2 and len(server.requests) == 5  # the whole file, every turn once
    for source in SESSIONS:
        (requests,) = [g for g in groups.values() if len(g) == len(source["turns"])]
        system = [{"role": "system", "content": source["system"]}] if "system" in source else []
        expected = list(system)
        for turn, (number, request) in zip(source["turns"], requests, strict=True):
            said = turn["messages"] if "messages" in turn else [{"role": "user", "content": turn["text"]}]
            expected.extend(said)
            assert json.loads(request.body)["messages"] == expected
            # the next turn carries this reply exactly as it was streamed
            expected.append({"role": "assistant", "content": reply_of(number)})
    run = artifact_dir(tmp_path / "art")
    data = json.loads((run / "inputs.json").read_text())["data"]
    inputs = {entry["session_id"]: entry["payloads"] for entry in data}
    system = {"role": "system", "content": SESSIONS[0]["system"]}
    assert [body["messages"] for body in inputs["alpha"]] == [
        [system, {"role": "user", "content": turn["text"]}] for turn in SESSIONS[0]["turns"]
    ]  # each turn as the file gives it: the replies come at run time
    records = read_jsonl(run / "profile_export.jsonl")
    for key, requests in groups.items():
        mine = sorted((r["metadata"] for r in records if r["metadata"]["session_id"] == key),
                      key=lambda m: m["turn_index"])
        assert [m["turn_index"] for m in mine] == list(range(len(requests)))
        assert [m["x_request_id"] for m in mine] == [req.headers["x-request-id"] for _, req in requests]
        assert len({m["conversation_id"] for m in mine}) == 1


def test_a_session_keeps_its_affinity_header_and_its_connection(run_cli: Any, tmp_path: Path) -> None:
    path = write_sessions(tmp_path / "sessions.jsonl", SESSIONS)
    with ScriptedServer(streamed_reply) as server:
        result = run_sessions(run_cli, server.url, tmp_path / "art", "--input-file", path,
                              "--session-id-header", "X-Affinity", "--conversation-num", "4")
    assert result.returncode == 0, result.stderr
    keys = [request.headers.get("x-affinity") for request in server.requests]
    assert None not in keys and "x-session-id" not in server.requests[0].headers
    assert len(set(keys)) == 4  # every session started has its own id, a file session sent twice too
    # one session at a time here: each session's turns follow one another on the same connection
    for key in set(keys):
        connections = {r.connection for r in server.requests if r.headers["x-affinity"] == key}
        assert len(connections) == 1


@pytest.mark.parametrize(("history", "earlier_turns"), [("none", 0), ("window:1", 1)])
def test_conversation_history_limits_the_earlier_turns_a_request_carries(
    run_cli: Any, tmp_path: Path, history: str, earlier_turns: int
) -> None:
    path = write_sessions(tmp_path / "sessions.jsonl", SESSIONS[:1])
    with ScriptedServer(streamed_reply) as server:
        result = run_sessions(run_cli, server.url, tmp_path / "art", "--input-file", path,
                              "--conversation-history", history)
    assert result.returncode == 0, result.stderr
    bodies = [json.loads(request.body)["messages"] for request in server.requests]
    turns = SESSIONS[0]["turns"]
    system = {"role": "system", "content": SESSIONS[0]["system"]}
    for index, body in enumerate(bodies):
        kept = range(max(0, index - earlier_turns), index)
        expected = [system]
        for earlier in kept:
            expected += [{"role": "user", "content": turns[earlier]["text"]},
                         {"role": "assistant", "content": reply_of(earlier)}]
        expected.append({"role": "user", "content": turns[index]["text"]})
        assert body == expected


def test_against_the_simulator_cached_tokens_rise_on_later_turns_and_turn_metrics_exist(
    inferload_exe: Path, cli_env: Any, run_cli: Any, tmp_path: Path
) -> None:
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, *FAST_SIM, "--kv-cache-blocks", "4096")
    try:
        result = run_sessions(run_cli, sim.url, tmp_path / "art", "--conversation-num", "4",
                              "--conversation-turn-mean", "3", "--isl", "48", "--osl", "12",
                              "--concurrency", "2")
        truth = sim.truth()
    finally:
        sim.stop()
    assert result.returncode == 0, result.stderr
    run = artifact_dir(tmp_path / "art")
    records = read_jsonl(run / "profile_export.jsonl")
    assert len(records) == len(truth) == 12
    server = {t["request_id"]: t for t in truth}
    sessions: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        meta = record["metadata"]
        seen = server[meta["x_request_id"]]
        assert seen["session_id"] == meta["session_id"]  # the affinity header reached the server
        assert record["metrics"]["usage_cached_tokens"]["value"] == seen["cached_tokens"]
        sessions.setdefault(meta["session_id"], []).append({**meta, "cached": seen["cached_tokens"]})
    for turns in sessions.values():
        turns.sort(key=lambda m: m["turn_index"])
        cached = [t["cached"] for t in turns]
        assert cached[0] == 0 and cached[0] < cached[1] < cached[2]  # each turn finds the turns before it
    summary = json.loads((run / "profile_export.json").read_text())
    assert summary["time_to_first_token_first_turn"]["count"] == 4
    assert summary["time_to_first_token_later_turns"]["count"] == 8
    assert summary["prefix_cache_hit_rate"]["avg"] > 0
    # the simulator's vLLM-named counters, scraped during the run, agree with the usage the client read
    (hits,) = summary["server_metrics"]["families"]["vllm:prefix_cache_hits_total"]["series"]
    assert hits["run"]["total_increase"] == sum(t["cached_tokens"] for t in truth) > 0
    report = json.loads((run / "profile_export_sessions.json").read_text())
    assert [t["turn_index"] for t in report["turns"]] == [0, 1, 2]
    cached_avg = [t["metrics"]["usage_cached_tokens"]["avg"] for t in report["turns"]]
    assert cached_avg[0] == 0 and cached_avg[0] < cached_avg[1] < cached_avg[2]
    assert [t["metrics"]["time_to_first_token"]["count"] for t in report["turns"]] == [4, 4, 4]
    assert report["sessions"]["session_count"] == 4
    assert report["sessions"]["turns_completed"]["min"] == 3
    assert all(row["duration_ms"] > 0 for row in report["per_session"])


def test_session_concurrency_caps_open_sessions_and_concurrency_caps_requests(
    run_cli: Any, tmp_path: Path
) -> None:
    sessions = [{"turns": [{"text": f"s{n} a"}, {"text": f"s{n} b", "delay_ms": 40}, {"text": f"s{n} c"}]}
                for n in range(6)]
    path = write_sessions(tmp_path / "sessions.jsonl", sessions)
    with ScriptedServer(streamed_reply) as server:
        result = run_sessions(run_cli, server.url, tmp_path / "art", "--input-file", path,
                              "--session-concurrency", "3", "--concurrency", "1")
    assert result.returncode == 0, result.stderr
    metas = [r["metadata"] for r in read_jsonl(artifact_dir(tmp_path / "art") / "profile_export.jsonl")]
    assert len(metas) == 18
    requests = [(m["request_start_ns"], m["request_end_ns"]) for m in metas]
    spans: dict[str, list[int]] = {}
    for m in metas:
        span = spans.setdefault(m["session_id"], [m["request_start_ns"], m["request_end_ns"]])
        span[0], span[1] = min(span[0], m["request_start_ns"]), max(span[1], m["request_end_ns"])
    assert max_overlap(requests) == 1
    assert max_overlap([tuple(s) for s in spans.values()]) == 3  # think times let other sessions in


def max_overlap(intervals: list[Any]) -> int:
    """Most intervals open at one instant (an end at the same instant as a start does not overlap)."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    most = current = 0
    for _, step in events:
        current += step
        most = max(most, current)
    return most


def test_rate_mode_starts_sessions_at_the_rate(run_cli: Any, tmp_path: Path) -> None:
    path = write_sessions(tmp_path / "sessions.jsonl", SESSIONS)
    with ScriptedServer(streamed_reply) as server:
        result = run_sessions(run_cli, server.url, tmp_path / "art", "--input-file", path,
                              "--request-rate", "50", "--arrival-pattern", "constant",
                              "--conversation-num", "4")
    assert result.returncode == 0, result.stderr
    metas = [r["metadata"] for r in read_jsonl(artifact_dir(tmp_path / "art") / "profile_export.jsonl")]
    firsts = sorted((m for m in metas if m["turn_index"] == 0), key=lambda m: m["request_scheduled_ns"])
    assert len(firsts) == 4 and len(metas) == 10  # 3 + 2 + 3 + 2 turns
    gaps = {b["request_scheduled_ns"] - a["request_scheduled_ns"] for a, b in itertools.pairwise(firsts)}
    assert gaps == {20_000_000}  # 1/50 s apart, on the schedule's absolute clock


@pytest.mark.parametrize(("line", "message"), [
    ('{"turns": [{"text": "hi"}, {"delay_ms": 5}]}', 'turn 2: needs a "text" or a "messages" field'),
    ('{"turns": []}', '"turns" must be a non-empty list'),
    ('{"turns": [{"text": ""}]}', 'turn 1: "text" must be a non-empty string'),
    ('{"turns": [{"text": "a", "delay_ms": -1}]}', 'turn 1: "delay_ms" must be a number of milliseconds'),
    ('{"session_id": "x", "turns": [{"text": "a"}]', "not valid JSON"),
])
def test_a_malformed_session_line_is_one_usage_error_naming_file_and_line_before_any_request(
    run_cli: Any, tmp_path: Path, line: str, message: str
) -> None:
    path = tmp_path / "sessions.jsonl"
    path.write_text('{"turns": [{"text": "fine"}]}\n' + line + "\n", encoding="utf-8")
    with ScriptedServer(streamed_reply) as server:
        result = run_sessions(run_cli, server.url, tmp_path / "art", "--input-file", path, "--dataset",
                              "multi_turn")
    line = usage_error(result)
    assert f"{path}:2:" in line and message in line, line
    assert server.requests == []


@pytest.mark.parametrize(("args", "fragment"), [
    (["--conversation-history", "some"], "--conversation-history"),
    (["--dataset", "file", "--input-file", "PROMPTS", "--conversation-turn-mean", "2"],
     "--conversation-turn-mean shape(s) multi-turn sessions"),
    (["--session-id-header", "bad header"], "--session-id-header"),
])
def test_bad_session_flags_are_one_line_usage_errors(
    run_cli: Any, tmp_path: Path, args: list[str], fragment: str
) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"text": "hi"}\n', encoding="utf-8")
    args = [str(prompts) if a == "PROMPTS" else a for a in args]
    result = run_sessions(run_cli, None, tmp_path / "art", *args)
    line = usage_error(result)
    assert fragment in line, line


@pytest.mark.parametrize(("args", "fragment"), [
    # session flags on a run that makes no sessions would be ignored
    (["--conversation-history", "window:2"], "--conversation-history shape(s) multi-turn sessions, and"),
    (["--session-concurrency", "3"], "--session-concurrency shape(s) multi-turn sessions, and this run"),
    (["--conversation-turn-delay-mean", "100"], "--conversation-turn-delay-mean shape(s)"),
    # a load that changes mid-run would cut open sessions short
    (["--conversation-num", "2", "--api-port", "0", "--api-token", "tok-secret-77"],
     "multi-turn sessions run at a fixed load"),
    (["--conversation-num", "2", "--load-schedule", "SCHEDULE"], "multi-turn sessions run at a fixed load"),
    # no reply to carry back
    (["--conversation-num", "2", "--endpoint-type", "embeddings"],
     "--endpoint-type embeddings produces no reply"),
    # flags of another dataset or endpoint type
    (["--sharegpt-turns", "all"], "--sharegpt-turns does not apply to --dataset synthetic"),
    (["--rerank-query-tokens", "10"], "--rerank-query-tokens applies to endpoint types that rank documents"),
])
def test_flags_a_run_would_ignore_or_that_would_cut_sessions_short_are_refused_before_any_request(
    run_cli: Any, tmp_path: Path, args: list[str], fragment: str
) -> None:
    schedule = tmp_path / "steps.json"
    schedule.write_text('[{"duration": 1, "concurrency": 1}, {"duration": 1, "concurrency": 2}]')
    args = [str(schedule) if a == "SCHEDULE" else a for a in args]
    with ScriptedServer(streamed_reply) as server:
        count = [] if "--conversation-num" in args else ["--request-count", "2"]
        stream = [] if "embeddings" in args else ["--streaming"]  # embeddings do not stream
        result = run_cli("profile", "--url", server.url, "-m", "m", *stream, "--artifact-dir",
                         tmp_path / "art", "--ui", "none", "--api-linger", "0", *count, *args)
    line = usage_error(result)
    assert fragment in line, line
    assert "tok-secret-77" not in result.stderr + result.stdout
    assert [r for r in server.requests if r.target.endswith(("/chat/completions", "/embeddings"))] == []


def test_prefix_cache_serves_the_longest_cached_prefix_and_evicts_the_least_recently_used() -> None:
    cache = PrefixCache(capacity=4, block_size=2)
    assert cache.admit([1, 2, 3, 4, 5]) == 0  # blocks [1,2] and [3,4] are now cached
    assert cache.admit([1, 2, 3, 4, 9, 9, 7]) == 4  # shares both blocks; [9,9] added
    assert cache.admit([1, 2, 8, 8]) == 2  # shares the first block only (the last token is always computed)
    assert cache.admit([3, 4, 5, 6]) == 0  # same ids, another prefix: blocks key the whole prefix
    assert len(cache) == 4  # capacity kept: the least recently used blocks went first
    assert cache.admit([1, 2, 3, 4, 9, 9]) == 2  # [1,2] was used recently and stayed; the block after it went


def test_benchmark_duration_cuts_sessions_and_their_think_times(run_cli: Any, tmp_path: Path) -> None:
    # every later turn would wait ten minutes: the run ends with the duration, not after the think times
    sessions = [{"turns": [{"text": f"s{n} a"}, {"text": f"s{n} b", "delay_ms": 600_000}]} for n in range(2)]
    path = write_sessions(tmp_path / "sessions.jsonl", sessions)
    with ScriptedServer(streamed_reply) as server:
        result = run_sessions(run_cli, server.url, tmp_path / "art", "--input-file", path,
                              "--concurrency", "3", "--benchmark-duration", "1",
                              "--benchmark-grace-period", "0")
    assert result.returncode == 0, result.stderr
    metas = [r["metadata"] for r in read_jsonl(artifact_dir(tmp_path / "art") / "profile_export.jsonl")]
    assert len(metas) == len(server.requests) == 3  # three sessions opened (the file's two, then one again)
    assert {m["turn_index"] for m in metas} == {0}  # no later turn: each was still thinking at the end
    assert len({m["session_id"] for m in metas}) == 3


def test_a_prompt_endpoint_gets_the_history_as_one_prompt_text(run_cli: Any, tmp_path: Path) -> None:
    path = write_sessions(tmp_path / "sessions.jsonl", SESSIONS[:1])
    with ScriptedServer(streamed_completion) as server:
        result = run_sessions(run_cli, server.url, tmp_path / "art", "--input-file", path,
                              "--endpoint-type", "completions")
    assert result.returncode == 0, result.stderr
    prompts = [json.loads(request.body)["prompt"] for request in server.requests]
    system, turns = SESSIONS[0]["system"], [turn["text"] for turn in SESSIONS[0]["turns"]]
    assert prompts == [
        "\n".join([system, turns[0]]),
        "\n".join([system, turns[0], reply_of(0), turns[1]]),
        "\n".join([system, turns[0], reply_of(0), turns[1], reply_of(1), turns[2]]),
    ]


def test_an_endpoint_that_cannot_carry_history_is_a_usage_error(run_cli: Any, tmp_path: Path) -> None:
    path = write_sessions(tmp_path / "sessions.jsonl", SESSIONS[:1])
    result = run_sessions(run_cli, None, tmp_path / "art", "--input-file", path,
                          "--endpoint-type", "embeddings")
    line = usage_error(result)
    assert "--endpoint-type embeddings" in line, line


def test_the_console_header_shows_the_session_concurrency_in_flight(run_cli: Any, tmp_path: Path) -> None:
    result = run_cli("profile", "--conversation-num", "6", "--conversation-turn-mean", "3",
                     "--session-concurrency", "3", "--ui", "none", "--artifact-dir", tmp_path / "art")
    assert result.returncode == 0, result.stderr
    load = [line for line in result.stdout.splitlines() if " Load " in f" {line.strip()} "]
    assert len(load) == 1 and "concurrency 3 (sessions in flight)" in load[0], result.stdout
    assert "concurrency 1" not in load[0]
