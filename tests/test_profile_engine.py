"""Engine parts in isolation: SSE framing and timing, response parsers, the schedule."""

from __future__ import annotations

import itertools
import json
from types import SimpleNamespace

import pytest

from inferload.config import ProfileConfig
from inferload.dataset import Conversation
from inferload.endpoint import JSONBodyParser, SSEJSONParser, error_from_body
from inferload.engine.schedule import arrival_offsets, default_workers, split_concurrency
from inferload.engine.sse import SSEParser
from inferload.records import ERROR_HTTP, ERROR_INCOMPLETE, ERROR_MALFORMED, RequestRecord
from inferload_plugins.endpoints.chat import ChatAdapter
from inferload_plugins.endpoints.completions import CompletionsAdapter


def _record() -> RequestRecord:
    return RequestRecord(0, "profiling", "w", "c", "x", 0, 0, 0, 0, 8)


def _event(obj: object) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def test_sse_event_split_across_reads_is_timed_by_its_first_byte() -> None:
    parser = SSEParser()
    assert parser.feed(b'data: {"a"', 100) == []
    assert parser.feed(b": 1}\n", 200) == []
    assert parser.feed(b"\ndata: x\n\ndata: y", 300) == [(100, b"", b'{"a": 1}'), (300, b"", b"x")]
    assert parser.feed(b"\n\n", 400) == [(300, b"", b"y")]


def test_sse_handles_crlf_comments_and_multiline_data() -> None:
    parser = SSEParser()
    events = parser.feed(b": keep-alive\r\n\r\nevent: message\r\ndata: a\r\ndata: b\r\n\r\n", 5)
    assert events == [(5, b"message", b"a\nb")]


def test_sse_crlf_split_across_reads_is_one_line_end() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\r", 1) == []
    assert parser.feed(b"\ndata: b\r", 2) == []
    assert parser.feed(b"\n\r", 3) == [(1, b"", b"a\nb")]
    assert parser.feed(b"\ndata: c\n\n", 4) == [(4, b"", b"c")]


def test_sse_lone_cr_line_ends_and_event_names_are_kept() -> None:
    parser = SSEParser()
    events = parser.feed(b"\xef\xbb\xbfevent: error\rdata: {\"details\": 1}\r\rdata\r\r", 7)
    assert events == [(7, b"error", b'{"details": 1}'), (7, b"", b"")]


def test_sse_event_without_data_is_not_dispatched_and_partial_last_line_is_dropped() -> None:
    parser = SSEParser()
    assert parser.feed(b"event: ping\n\nid: 3\nretry: 10\n\ndata: x\ndata: {\"cut", 1) == []
    assert parser.close() == [(1, b"", b"x")]


@pytest.mark.parametrize(
    ("read", "events"),
    [
        (b"data: a\n\ndata:b\n\ndata:  c\n\n", [b"a", b"b", b" c"]),
        (b"data:\n\ndata: b\n\n", [b"", b"b"]),
        (b"data: a\n\n\n\ndata: b\n\n", [b"a", b"b"]),
        (b"data: a\n\n\ndata: b\n\n", [b"a", b"b"]),
        (b"data: a\ndata: b\n\ndata: c\n\n", [b"a\nb", b"c"]),
        (b"data: a\n\n: keep-alive\n\ndata: b\n\n", [b"a", b"b"]),
    ],
)
def test_sse_read_of_whole_events_gives_each_event_with_the_read_time(
    read: bytes, events: list[bytes]
) -> None:
    # a short stream read at once (the protocol transport hands a read's HTTP chunks over as one)
    parser = SSEParser()
    assert parser.feed(read, 9) == [(9, b"", data) for data in events]
    assert parser.feed(b"data: d\n\n", 10) == [(10, b"", b"d")]
    assert parser.pending() == b""


def test_sse_read_of_whole_events_keeps_event_names() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\n\nevent: error\ndata: b\n\n", 3) == [(3, b"", b"a"), (3, b"error", b"b")]


def test_chat_stream_keeps_reasoning_apart_and_reads_usage() -> None:
    parser = SSEJSONParser(ChatAdapter().parser(True)._extract)
    chunks = [
        _event({"choices": [{"delta": {"reasoning_content": "think"}}]}),
        _event({"choices": [{"delta": {"content": "Hel"}}]}),
        _event({"choices": [{"delta": {"content": "lo"}}]}),
        _event(
            {
                "choices": [],
                "usage": {
                    "prompt_tokens": 8,
                    "completion_tokens": 3,
                    "total_tokens": 11,
                    "completion_tokens_details": {"reasoning_tokens": 1},
                },
            }
        ),
        b"data: [DONE]\n\n",
    ]
    for ts, chunk in enumerate(chunks, start=1):
        parser.feed(chunk, ts * 10)
    record = _record()
    parser.finish(record, None)
    assert record.chunk_ns == [10, 20, 30]
    assert record.first_answer_ns == 20
    assert (record.usage_completion_tokens, record.usage_reasoning_tokens) == (3, 1)
    assert record.error is None


def test_stream_ending_before_finish_reason_is_incomplete_and_keeps_timings() -> None:
    parser = CompletionsAdapter().parser(True)
    parser.feed(_event({"choices": [{"text": "a"}]}), 1)
    record = _record()
    parser.finish(record, None)
    assert record.error is not None and record.error.type == ERROR_INCOMPLETE
    assert record.chunk_ns == [1]


def test_stream_ending_after_finish_reason_without_done_succeeds() -> None:
    parser = CompletionsAdapter().parser(True)
    parser.feed(_event({"choices": [{"text": "a", "finish_reason": None}]}), 1)
    parser.feed(_event({"choices": [{"text": "", "finish_reason": "length"}]}), 2)
    record = _record()
    parser.finish(record, None)
    assert record.error is None and record.chunk_ns == [1]


def test_bad_json_stream_event_is_malformed() -> None:
    parser = CompletionsAdapter().parser(True)
    parser.feed(b"data: {not json\n\ndata: [DONE]\n\n", 1)
    record = _record()
    parser.finish(record, None)
    assert record.error is not None and record.error.type == ERROR_MALFORMED


def test_non_streamed_body_and_http_error() -> None:
    parser = JSONBodyParser(ChatAdapter().parser(False)._extract)
    parser.feed(
        json.dumps({"choices": [{"message": {"content": "hi"}}], "usage": {"completion_tokens": 1}}).encode(),
        1,
    )
    record = _record()
    parser.finish(record, None)
    assert record.error is None and record.usage_completion_tokens == 1
    error = error_from_body(503, b'{"error": {"message": "busy", "type": "overloaded"}}')
    assert (error.type, error.code, error.message) == (ERROR_HTTP, 503, "busy")


def test_chat_body_has_only_standard_openai_fields_by_default() -> None:
    config = ProfileConfig(model="m", streaming=True, extra_inputs=["temperature:0.1"])
    conversation = SimpleNamespace(
        chat_messages=lambda: [{"role": "user", "content": "x"}], max_output_tokens=7
    )
    body = ChatAdapter().render(conversation, config)
    assert body == {
        "model": "m",
        "messages": [{"role": "user", "content": "x"}],
        "stream": True,
        "max_tokens": 7,
        "stream_options": {"include_usage": True},
        "temperature": 0.1,
    }
    prompt = Conversation(conversation_id="c", prompt="p", input_tokens=1)
    assert CompletionsAdapter().render(prompt, ProfileConfig(model="m")) == {
        "model": "m", "prompt": "p", "stream": False
    }


def test_no_use_legacy_max_tokens_sends_max_completion_tokens_and_ignore_eos_only_when_asked() -> None:
    conversation = SimpleNamespace(chat_messages=lambda: [], max_output_tokens=9)
    modern = ChatAdapter().render(conversation, ProfileConfig(use_legacy_max_tokens=False))
    assert modern["max_completion_tokens"] == 9 and "max_tokens" not in modern and "ignore_eos" not in modern
    forced = ChatAdapter().render(conversation, ProfileConfig(ignore_eos=True))
    assert (forced["max_tokens"], forced["ignore_eos"]) == (9, True)
    prompt = Conversation(conversation_id="c", prompt="p", input_tokens=1, max_output_tokens=9)
    # the completions API has one length field, whatever --use-legacy-max-tokens says
    modern_config = ProfileConfig(use_legacy_max_tokens=False, ignore_eos=True)
    completions = CompletionsAdapter().render(prompt, modern_config)
    assert (completions["max_tokens"], completions["ignore_eos"]) == (9, True)


def test_schedule_offsets_are_absolute_sums_of_gaps() -> None:
    quarter = arrival_offsets(itertools.repeat(0.25), 4, None)
    assert quarter.tolist() == [0, 250_000_000, 500_000_000, 750_000_000]
    assert arrival_offsets(itertools.repeat(0.4), None, 1.0).tolist() == [0, 400_000_000, 800_000_000]


@pytest.mark.parametrize(
    ("total", "workers", "shares"), [(8, 2, [4, 4]), (5, 2, [3, 2]), (None, 2, [None, None])]
)
def test_concurrency_shares_sum_to_the_cap(total: int | None, workers: int, shares: list[int | None]) -> None:
    assert split_concurrency(total, workers) == shares


def test_default_workers_never_exceed_the_cap() -> None:
    config = SimpleNamespace(request_rate=None, effective_concurrency=1)
    assert default_workers(config) == 1


def test_rate_schedule_is_shared_round_robin_between_workers() -> None:
    from inferload.engine.schedule import PhasePlan

    plan = PhasePlan("profiling", 10, 5, None, None, [0, 1, 2, 3, 4])
    assert list(plan.worker_schedule(0, 2)) == [(10, 0), (12, 2), (14, 4)]
    assert list(plan.worker_schedule(1, 2)) == [(11, 1), (13, 3)]


@pytest.mark.parametrize(
    ("usage", "expected", "error"),
    [
        ({"prompt_tokens": 8, "completion_tokens": 4, "total_tokens": 12}, (8, 4, 12), None),
        ({"prompt_tokens": 8, "completion_tokens": -1, "total_tokens": 7}, (8, None, None),
         "completion_tokens"),
        ({"prompt_tokens": True, "completion_tokens": 4, "total_tokens": 12}, (None, None, None),
         "prompt_tokens"),
        ({"prompt_tokens": 8, "completion_tokens": 4.0, "total_tokens": 12}, (8, None, None),
         "completion_tokens"),
        ({"prompt_tokens": 8, "completion_tokens": 4, "completion_tokens_details": {"reasoning_tokens": 2}},
         (8, 4, None), None),
        ({"prompt_tokens": 2**70, "completion_tokens": 0, "total_tokens": 2**70}, (2**70, 0, 2**70), None),
    ],
)
def test_usage_counts_are_copied_only_when_they_are_non_negative_integers(
    usage: dict[str, object], expected: tuple[object, ...], error: str | None
) -> None:
    from inferload.endpoint import apply_usage

    record = _record()
    problem = apply_usage(record, usage)
    assert (record.usage_prompt_tokens, record.usage_completion_tokens, record.usage_total_tokens) == expected
    if error is None:
        assert problem is None
    else:
        assert problem is not None and problem.type == ERROR_MALFORMED
        assert f"usage.{error} is" in problem.message


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        ({"content": "x"}, ("x", None)),
        ({"content": ""}, ("", None)),
        ({"content": None}, (None, None)),
        ({"content": "x", "reasoning_content": "r"}, ("x", "r")),
        ({"content": "x", "role": "assistant"}, ("x", None)),
        ({"reasoning": "r"}, (None, "r")),
        ({"content": [{"type": "text", "text": "t"}]}, ("t", None)),
    ],
)
def test_chat_delta_reads_answer_and_reasoning(
    delta: dict[str, object], expected: tuple[object, object]
) -> None:
    from inferload_plugins.endpoints.chat import _delta

    assert _delta({"choices": [{"delta": delta}]}) == expected
