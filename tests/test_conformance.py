"""The conformance corpus: every recorded dialect and stream case replayed through the real CLI.

See ``tests/conformance/README.md`` for the case format. One `inferload profile` subprocess per case,
framing and transport; assertions read ``profile_export.jsonl``/``.json``: success or error type, OSL,
output chunk count, and timing by ordering against the replay server's per-write timestamps.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conformance.replay import Case, ReplayServer, load_cases

CASES_DIR = Path(__file__).parent / "conformance" / "cases"
TRANSPORTS = ("protocol", "aiohttp", "httpx")
GAP_MS = 30.0
"""A write after at least this pause bounds the previous write's arrival from above."""


def _params() -> list[Any]:
    params = []
    for case in load_cases(CASES_DIR):
        transports = TRANSPORTS if len(case.framings) > 1 else TRANSPORTS[:1]
        for framing in case.framings:
            for transport in transports:
                params.append(pytest.param(case, framing, transport, id=f"{case.name}-{framing}-{transport}"))
    return params


def _profile(run_cli: Any, case: Case, url: str, transport: str, out: Path) -> Any:
    args = [
        "profile", "--url", url, "-m", "replay-model", "--endpoint-type", case.endpoint,
        "--request-count", str(case.request_count), "--concurrency", "1", "--isl", "16",
        "--transport", transport, "--artifact-dir", str(out), "--ui", "none", "--random-seed", "7",
    ]
    if case.streaming:
        args.append("--streaming")
    return run_cli(*args, timeout=90)


def _tokens(text: str) -> int:
    from inferload_plugins.tokenizers.builtin import BuiltinTokenizer

    return BuiltinTokenizer().count(text)


def _between(case: Case, writes: list[int], stamp_ns: int, index: int, what: str, alternate: bool) -> None:
    """``stamp_ns`` is at/after write ``index`` was sent, and before the next one after a deliberate gap."""
    assert writes[index] <= stamp_ns, f"{what} precedes the send of write {index}"
    plan = case.alternate_writes if alternate and case.alternate_writes else case.writes
    if index + 1 < len(writes) and plan[index + 1].delay_ms >= GAP_MS:
        assert stamp_ns < writes[index + 1], f"{what} is not before the send of write {index + 1}"


def _gap_between(case: Case, first: int | None, last: int, alternate: bool) -> bool:
    """A deliberate gap (>= GAP_MS) precedes some write in (first, last]: only then can a stamp be told apart
    from the later write's, since a client that reads later than the gap sees both in one read."""
    plan = case.alternate_writes if alternate and case.alternate_writes else case.writes
    return first is not None and any(w.delay_ms >= GAP_MS for w in plan[first + 1:last + 1])


def _at(line: dict[str, Any], tag: str) -> int:
    """The absolute monotonic time a latency metric of this request ends at."""
    return line["metadata"]["request_start_perf_ns"] + round(line["metrics"][tag]["value"] * 1e6)


@pytest.mark.parametrize(("case", "framing", "transport"), _params())
def test_recorded_response_is_measured_right(
    case: Case, framing: str, transport: str, run_cli: Any, tmp_path: Path
) -> None:
    with ReplayServer(case, framing) as server:
        result = _profile(run_cli, case, server.url, transport, tmp_path)
    assert "Traceback" not in result.stderr, result.stderr
    (jsonl_path,) = tmp_path.rglob("profile_export.jsonl")
    (summary_path,) = tmp_path.rglob("profile_export.json")
    lines = sorted(
        (json.loads(text) for text in jsonl_path.read_text().splitlines() if text.strip()),
        key=lambda line: line["metadata"]["request_id"],
    )
    summary = json.loads(summary_path.read_text())
    assert len(lines) == case.request_count == len(server.write_ns)  # every request accounted for

    any_ok = False
    for index, line in enumerate(lines):
        alternate = case.alternate_writes is not None and index % 2 == 1
        expect = case.expect if not alternate else json.loads(CASES_DIR.joinpath(f"{case.name}.json")
                                                              .read_text())["expect_alternate"]
        error, metrics, writes = line["error"], line["metrics"], server.write_ns[index]
        if expect["ok"]:
            assert error is None, error
            any_ok = True
        else:
            assert error is not None and error["type"] == expect["error_type"], error
            assert expect.get("message_contains", "") in error["message"]
            continue
        if "osl" in expect:
            assert metrics["output_sequence_length"]["value"] == expect["osl"]
        if "osl_client_text" in expect:
            want = _tokens(expect["osl_client_text"]) + _tokens(expect.get("osl_client_reasoning", ""))
            assert metrics["output_sequence_length"]["value"] == want
        if case.streaming and "chunks" in expect:
            assert "time_to_first_token" in metrics
            gaps = metrics.get("inter_chunk_latency", {}).get("value", [])
            assert len(gaps) == expect["chunks"] - 1
        for key, tag in (("first_token_write", "time_to_first_token"),
                         ("ttfot_write", "time_to_first_output_token"),
                         ("last_token_write", "request_latency")):
            if key in expect:
                _between(case, writes, _at(line, tag), expect[key], tag, alternate)
        if "last_byte_write" in expect:
            assert _at(line, "request_latency_last_byte") >= writes[expect["last_byte_write"]]
            if _gap_between(case, expect.get("last_token_write"), expect["last_byte_write"], alternate):
                assert _at(line, "request_latency") < writes[expect["last_byte_write"]]
            assert _at(line, "request_latency") <= _at(line, "request_latency_last_byte")
        assert bool(line["metadata"]["usage_note"]) == expect.get("usage_note", False)
        for tag in expect.get("metrics_present", []):
            assert tag in metrics, tag
        for tag in expect.get("metrics_absent", []):
            assert tag not in metrics, tag

    assert result.returncode == (0 if any_ok else 1), result.stderr
    if case.expect.get("usage_note"):
        assert summary["measurement_warnings"], summary.get("measurement_warnings")
    if "hint_contains" in case.expect:
        hints = [entry.get("hint") or "" for entry in summary["error_summary"]]
        assert any(case.expect["hint_contains"] in hint for hint in hints), hints


_BUGGY_ENDPOINT = '''
from inferload import hookimpl
from inferload.types import EndpointSpec
from inferload_plugins.endpoints.chat import ChatAdapter


class _Parser:
    def feed(self, data, ts_ns):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")

    def finish(self, record, tokenizer):
        pass


class BuggyAdapter(ChatAdapter):
    def parser(self, streaming):
        return _Parser()


@hookimpl
def register_endpoints():
    return [EndpointSpec(name="buggy", description="raises while parsing", path="/v1/chat/completions",
                         streaming=True, produces_tokens=True, factory=BuggyAdapter)]
'''


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_exception_inside_the_client_is_a_client_error_never_a_connection_error(
    transport: str, run_cli: Any, plugin_site: Any, tmp_path: Path
) -> None:
    plugin_site.add_distribution("inferload-buggy", {"buggy": "inferload_buggy"},
                                 {"inferload_buggy": _BUGGY_ENDPOINT})
    case = Case.load(CASES_DIR / "vllm_chat_stream.json")
    with ReplayServer(case, "chunked") as server:
        result = run_cli(
            "profile", "--url", server.url, "-m", "m", "--endpoint-type", "buggy", "--streaming",
            "--request-count", "2", "--transport", transport, "--artifact-dir", tmp_path / "out",
            "--ui", "none", env=plugin_site.env, timeout=90,
        )
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    (jsonl_path,) = tmp_path.rglob("profile_export.jsonl")
    errors = [json.loads(text)["error"] for text in jsonl_path.read_text().splitlines()]
    assert [e["type"] for e in errors] == ["client_error", "client_error"]
    assert "TypeError" in errors[0]["message"]
    assert "-v" in result.stderr  # the hint: an inferload or plugin bug, run with -v and report it
