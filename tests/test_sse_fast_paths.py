"""The SSE parser's and the chat stream parser's fast paths (whole one-line ``data:`` events in one read,
the int-operand newline tests, ``_event``'s direct msgspec decode) give what the general path gives: each
stream is fed whole (fast paths) and one byte per read (general path only), and the results compared."""

from __future__ import annotations

import random

import pytest

from inferload.engine.sse import SSEParser
from inferload.records import RequestRecord
from inferload_plugins.endpoints.chat import ChatAdapter
from inferload_plugins.tokenizers.builtin import BuiltinTokenizer

_CHAT_EVENTS = [
    b'data: {"choices":[{"index":0,"delta":{"content":"tok"}}]}\n\n',
    b'data:{"choices":[{"index":0,"delta":{"content":" two words"}}]}\n\n',
    b'data: {"choices":[{"index":0,"delta":{"reasoning_content":"think"}}]}\n\n',
    b'data: {"choices":[{"index":0,"delta":{"content":null,"tool_calls":[{"index":0,"function":'
    b'{"name":"f","arguments":"{\\"a\\":1}"}}]}}]}\n\n',
    b'data: {"choices":[{"index":0,"delta":{"content":"\\ud800 lone"}}]}\n\n',
    b'data: {"choices":[{"index":0,"delta":{"content":"n"},"x":NaN,"y":Infinity}]}\n\n',
    b'data: {"choices":[{"index":0,"delta":{"content":"big"},"n":123456789012345678901234567890}]}\n\n',
    b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n',
    b'data: {"choices":[],"usage":{"prompt_tokens":8,"completion_tokens":4,"total_tokens":12}}\n\n',
    b'data: {"usage":{"prompt_tokens":8,"completion_tokens":4,"total_tokens":12,'
    b'"completion_tokens_details":{"reasoning_tokens":1}}}\n\n',
    b'data: {"error":{"message":"boom","code":500}}\n\n',
    b"event: error\ndata: overloaded\n\n",
    b"data: not json\n\n",
    b"data: [1, 2]\n\n",
    b": comment\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"c\"}}]}\n\n",
    b'data: {"choices":[{"index":0,\ndata: "delta":{"content":"split"}}]}\n\n',
    b'data: {"choices":[{"index":0,"delta":{"content":"crlf"}}]}\r\n\r\n',
    b'data: {"choices":[{"index":0,"delta":{"content":"cr"}}]}\r\r',
    b"retry: 100\n\n",
    b'id: 4\ndata: {"choices":[{"index":0,"delta":{"content":"with id"}}]}\n\n',
    b"\n",
    b'data: {"choices":[{"index":0,"delta":{"content":"data: inside"}}]}\n\n',
    b"data: [DONE]\n\n",
]


def _streams(count: int) -> list[bytes]:
    rng = random.Random(17)
    streams = [b"".join(_CHAT_EVENTS[:4]) + _CHAT_EVENTS[-1]]
    for _ in range(count):
        streams.append(b"".join(rng.choice(_CHAT_EVENTS) for _ in range(rng.randint(1, 8))))
    return streams


def _events(reads: list[bytes]) -> list[tuple[int, bytes, bytes]]:
    parser = SSEParser()
    events = []
    for read in reads:
        events += parser.feed(read, 7)
    return events + parser.close()


def _record(reads: list[bytes]) -> RequestRecord:
    tokenizer = BuiltinTokenizer()
    record = RequestRecord(1, "profiling", "worker_0", "c", "x", 0, 0, 0, 0, 8, 4)
    parser = ChatAdapter().parser(True)
    for read in reads:
        parser.feed(read, 7)
    parser.finish(record, tokenizer)
    return record


def test_sse_events_are_the_same_fed_whole_or_byte_by_byte() -> None:
    for stream in _streams(300):
        bytewise = [stream[i : i + 1] for i in range(len(stream))]
        assert _events([stream]) == _events(bytewise), stream
        cut = len(stream) // 2
        assert _events([stream[:cut], stream[cut:]]) == _events(bytewise), stream


def test_chat_records_are_the_same_fed_whole_or_byte_by_byte() -> None:
    for stream in _streams(300):
        bytewise = [stream[i : i + 1] for i in range(len(stream))]
        assert _record([stream]).as_dict() == _record(bytewise).as_dict(), stream


def test_fast_path_reads_the_bench_stream_as_expected() -> None:
    stream = b"".join(_CHAT_EVENTS[:2]) + _CHAT_EVENTS[8] + _CHAT_EVENTS[-1]
    assert _events([stream]) == [
        (7, b"", b'{"choices":[{"index":0,"delta":{"content":"tok"}}]}'),
        (7, b"", b'{"choices":[{"index":0,"delta":{"content":" two words"}}]}'),
        (7, b"", _CHAT_EVENTS[8][6:-2]),
        (7, b"", b"[DONE]"),
    ]
    record = _record([stream])
    assert record.error is None and record.chunk_ns == [7, 7]
    assert (record.usage_prompt_tokens, record.usage_completion_tokens, record.client_output_tokens) == (
        8, 4, 4
    )


def test_chat_delta_fast_case_gives_what_output_gives() -> None:
    """The chat adapter's ``_delta`` answers a delta of text alone itself, without ``_output``: the same."""
    from inferload_plugins.endpoints.chat import _delta, _output

    deltas: list[dict[str, object]] = [
        {"content": "a"}, {"content": ""}, {"content": None}, {"content": "a", "role": "assistant"},
        {"reasoning_content": "r"}, {"content": "a", "reasoning": "r"},
        {"content": [{"type": "text", "text": "t"}]},
        {"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": "{}"}}]}, {},
    ]
    for delta in deltas:
        assert _delta({"choices": [{"index": 0, "delta": delta}]}) == _output(delta), delta


def test_whole_data_gives_what_feed_gives_or_nothing_at_all() -> None:
    """``SSEParser.whole_data`` (the common read cut in one pass) answers only for reads of whole one-line
    ``data:`` events, with their values, and otherwise reads nothing, so ``feed`` goes on as before."""
    for stream in _streams(300):
        for reads in ([stream], [stream[: len(stream) // 2], stream[len(stream) // 2 :]]):
            fast, general = SSEParser(), SSEParser()
            got: list[bytes] = []
            for read in reads:
                values = fast.whole_data(read)
                if values is None:
                    got += [value for _, _, value in fast.feed(read, 7)]
                else:
                    expected = general.feed(read, 7)
                    assert all(kind == b"" for _, kind, _ in expected), read
                    assert values == [value for _, _, value in expected], read
                    got += values
                    continue
                general.feed(read, 7)
            assert got + [v for _, _, v in fast.close()] == [v for _, _, v in _events(reads)], stream
    for read in (b"data: a\n\nretry: 1\n\ndata: b\n\n", b"data: a\n\n: ping\n\n", b"data: a\n\n\n",
                 b"data: a\ndata: b\n\n", b"data: a\n\ndata:b\n\n", b"data: a\r\n\r\n", b"data: a\n"):
        assert SSEParser().whole_data(read) is None, read
    assert SSEParser().whole_data(b"data: a\n\ndata: \n\ndata: [DONE]\n\n") == [b"a", b"", b"[DONE]"]
    pending = SSEParser()
    assert pending.feed(b"data: a", 7) == [] and pending.whole_data(b"data: b\n\n") is None


def _random_chat_event(rng: random.Random, completions: bool = False) -> bytes:
    """One ``data:`` event of a random chat-like (or ``completions``-like) shape: what servers send, and
    what they should not."""
    import json

    deltas: list[object] = [
        {}, {"content": "x"}, {"content": " two words"}, {"content": ""}, {"content": None},
        {"role": "assistant", "content": ""}, {"role": "assistant"},
        {"content": [{"type": "text", "text": "t"}]},
        {"reasoning_content": "r"}, {"reasoning": ""}, {"reasoning_content": None, "content": "a"},
        {"reasoning": "why"}, {"content": "a", "reasoning": "b"}, {"content": "a", "reasoning_content": "b"},
        {"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": "{}"}}]}, {"tool_calls": []},
        {"content": 5}, None, "x", {"content": "é \u2603", "tool_calls": None},
    ]
    def choice() -> object:
        if rng.random() < 0.1:
            return rng.choice([1, "c", None, []])
        out: dict[str, object] = {"index": 0}
        if completions:
            part = rng.choice(deltas)
            if isinstance(part, dict):
                out.update({("text" if key == "content" else key): value for key, value in part.items()})
        elif rng.random() < 0.9:
            out["delta"] = rng.choice(deltas)
        if rng.random() < 0.5:
            out["finish_reason"] = rng.choice([None, "stop", "", 0, "length"])
        if rng.random() < 0.3:
            out["logprobs"] = None
        return out

    event: dict[str, object] = {}
    if rng.random() < 0.5:
        event.update(id="chatcmpl-1", object="chat.completion.chunk", created=1733000000, model="m")
    roll = rng.random()
    if roll < 0.75:
        event["choices"] = [choice()]
    elif roll < 0.85:
        event["choices"] = []
    elif roll < 0.9:
        event["choices"] = [choice(), choice()]
    elif roll < 0.95:
        event["choices"] = rng.choice([None, "s", 3])
    if rng.random() < 0.2:
        counts = {"prompt_tokens": 8, "completion_tokens": 4, "total_tokens": 12}
        cached = {**counts, "prompt_tokens_details": {"cached_tokens": 2}}
        event["usage"] = rng.choice([None, {}, 5, counts, cached])
    if rng.random() < 0.08:
        event["error"] = rng.choice([None, False, {"message": "boom", "code": 500}, "bad"])
    text = json.dumps(event, ensure_ascii=rng.random() < 0.5).encode()
    if rng.random() < 0.15:  # what msgspec refuses or reads apart: NaN, a 30-digit int, a lone surrogate,
        # bytes that are not UTF-8 (in a field the fast reader skips), a UTF-8-encoded surrogate
        extra = rng.choice([b'"x":NaN', b'"n":123456789012345678901234567890', b'"s":"\\ud800"',
                            b'"id":"\xff"', b'"m":"\xe2\x82"', b'"r":"\xed\xa0\x80"', b'"\xc0\x80":1'])
        text = b"{" + extra + (b"," + text[1:] if text != b"{}" else b"}")
    return b"data: " + text + b"\n\n"


@pytest.mark.parametrize("endpoint", ["chat", "completions"])
def test_the_fast_reader_reads_every_event_as_the_general_path_does(endpoint: str) -> None:
    """The endpoint's stream parser (with its ``fast`` reader of plain events) and the general parser
    alone make the same record and answer text of every stream: the fast reader answers only what it
    reads exactly, and leaves the rest to the general path."""
    from inferload.endpoint import SSEJSONParser
    from inferload_plugins.endpoints import chat, completions

    module = chat if endpoint == "chat" else completions
    extract = chat._delta if endpoint == "chat" else completions._text
    rng = random.Random(29)
    tokenizer = BuiltinTokenizer()
    read_fast = 0
    for _ in range(1500):
        events = [_random_chat_event(rng, endpoint == "completions") for _ in range(rng.randint(1, 6))]
        read_fast += sum(module._plain_event(event[6:-2]) is not None for event in events)
        stream = b"".join(events) + (b"data: [DONE]\n\n" if rng.random() < 0.7 else b"")
        records, texts = [], []
        adapter = chat.ChatAdapter() if endpoint == "chat" else completions.CompletionsAdapter()
        for parser in (adapter.parser(True), SSEJSONParser(extract)):
            record = RequestRecord(1, "profiling", "worker_0", "c", "x", 0, 0, 0, 0, 8, 4)
            for read in ([stream] if rng.random() < 0.5 else [stream[:7], stream[7:]]):
                parser.feed(read, 7)
            parser.finish(record, tokenizer)
            records.append(record.as_dict())
            texts.append(parser.answer_text())
        assert records[0] == records[1] and texts[0] == texts[1], stream
    assert read_fast > 1000  # the fast reader did read most events: the comparison is not vacuous


def test_output_that_is_not_text_is_a_malformed_response_not_a_client_error() -> None:
    """Anything but text or null where a server should send text (``text``, ``reasoning_content``,
    ``reasoning``: a number, false, a list, an object) fails the request as ``malformed_response``,
    streamed or not; it used to raise in ``finish`` (a ``client_error``), or be read as no text."""
    import json

    from inferload.records import ERROR_MALFORMED
    from inferload_plugins.endpoints.completions import CompletionsAdapter

    odd = (b"5", b"0", b"false", b"[]", b"{}", b"[1]")
    bodies = [(CompletionsAdapter(), b'{"choices":[{"index":0,"text":%s}]}' % value) for value in odd]
    for field in (b"reasoning_content", b"reasoning"):
        for value in odd:
            pair = (field, value)
            bodies.append((CompletionsAdapter(), b'{"choices":[{"index":0,"text":"a","%s":%s}]}' % pair))
            chat_body = b'{"choices":[{"index":0,"delta":{"content":"a","%s":%s}}]}' % pair
            bodies.append((ChatAdapter(), chat_body))
    for _, body in bodies:
        json.loads(body)  # each is JSON: what fails it is the value, not the syntax
    for adapter, body in bodies:
        for streaming in (True, False):
            record = RequestRecord(1, "profiling", "worker_0", "c", "x", 0, 0, 0, 0, 8, 4)
            parser = adapter.parser(streaming)
            data = b"data: " + body + b"\n\ndata: [DONE]\n\n" if streaming else body
            if not streaming:
                data = data.replace(b'"delta"', b'"message"')
            parser.feed(data, 7)
            parser.finish(record, BuiltinTokenizer())
            assert record.error is not None and record.error.type == ERROR_MALFORMED, (body, streaming)


def test_the_first_read_is_sniffed_for_json_as_the_full_check_does() -> None:
    """``feed``'s quick look at a body's first byte decides as ``_sniff`` would: for every first byte
    before a JSON line of another dialect, both stop the request or both go on."""
    from inferload.dialects import StopResponse

    line = b'{"model":"m","response":"hi","done":false}\n'
    for byte in range(256):
        outcomes = []
        for quick in (True, False):
            parser = ChatAdapter().parser(True)
            try:
                if quick:
                    parser.feed(bytes([byte]) + line, 7)
                else:
                    parser._sniff(bytes([byte]) + line)
                outcomes.append("went on")
            except StopResponse:
                outcomes.append("stopped")
        assert outcomes[0] == outcomes[1], byte
    parser = ChatAdapter().parser(True)
    try:
        parser.feed(b"\x0c" + line, 7)
    except StopResponse:
        pass
    else:
        raise AssertionError("a JSON line after a form feed was not seen")
