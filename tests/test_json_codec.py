"""The hot path's JSON (msgspec with the standard library behind it) reads and writes what ``json`` did,
edge cases included: NaN and Infinity literals, big integers, non-ASCII text, lone surrogates, invalid
UTF-8; and the stream parser and the JSONL exporter built on it keep their results."""

from __future__ import annotations

import json

import pytest

from inferload.endpoint import SSEJSONParser
from inferload.json_codec import dump_lines, dumpb, dumps, loads
from inferload.records import ERROR_MALFORMED, RequestRecord
from inferload_plugins.endpoints.chat import ChatAdapter

SAME_AS_JSON = [
    b'{"choices":[{"index":0,"delta":{"content":" the"},"finish_reason":null}]}',
    '{"choices":[{"delta":{"content":"日本語 🚀 é"}}]}'.encode(),
    b'{"choices":[{"delta":{"content":"\\u65e5\\ud83d\\ude80"}}]}',  # escaped pair: one astral char
    b'{"usage":{"prompt_tokens":123456789012345678901234567890,"completion_tokens":-0}}',  # big int
    b'{"a":NaN,"b":Infinity,"c":-Infinity}',  # not JSON, but json (and servers) use them
    b'{"a":1e400,"b":-1e400,"c":5e-324,"d":1.7976931348623157e308}',
    b'{"a":"\\ud800"}',  # a lone surrogate escape
    b'{"a":1,"a":2}',  # duplicate keys: the last one wins
    b'\xef\xbb\xbf{"bom":true}',  # UTF-8 byte-order mark
    b' [1, 2.5, "x", true, false, null] ',
    b'"just a string"',
]


@pytest.mark.parametrize("data", SAME_AS_JSON)
def test_loads_gives_what_json_loads_gives(data: bytes) -> None:
    expected, got = json.loads(data), loads(data)
    assert repr(got) == repr(expected)  # repr: NaN compares unequal, and int versus float must match
    assert repr(loads(data.decode("utf-8-sig"))) == repr(expected)  # text input too


@pytest.mark.parametrize("data", [b'{"a":"\xff\xfe"}', b'{"a":1} trailing', b'{"a":', b"", b"{'a':1}"])
def test_loads_rejects_what_json_rejects_with_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        json.loads(data)
    with pytest.raises(ValueError):
        loads(data)


def test_dumps_is_compact_strict_json_with_nan_as_null_and_exact_big_integers() -> None:
    value = {"a": [1.5, float("nan"), float("inf"), -0.0], "big": 2**70, "text": "日本 é", "none": None}
    text = dumps(value)
    assert " " not in text.replace("日本 é", "")
    assert json.loads(text) == {"a": [1.5, None, None, -0.0], "big": 2**70, "text": "日本 é", "none": None}
    assert "日本" in text  # UTF-8, not \\u escapes
    assert dumps({"x": 0.1, "y": 1e16}) in ('{"x":0.1,"y":1e16}', '{"x":0.1,"y":1e+16}')


def test_dumps_falls_back_to_json_for_a_lone_surrogate_and_unknown_float_types() -> None:
    import numpy as np

    assert dumps({"s": "\ud800"}) == json.dumps({"s": "\ud800"}, separators=(",", ":"))
    assert json.loads(dumps({"v": np.float64(2.5), "n": np.float64("nan")})) == {"v": 2.5, "n": None}


def test_dump_lines_writes_each_value_as_dumps_does_and_falls_back_per_value() -> None:
    plain = [{"a": 1.5, "n": float("nan")}, {"big": 2**70, "text": "é"}, []]
    assert dump_lines(plain).decode().splitlines() == [dumps(value) for value in plain]
    mixed = [*plain, {"s": "\ud800"}]  # msgspec cannot encode a lone surrogate: every line still comes out
    assert dump_lines(mixed) == b"".join(dumpb(value) + b"\n" for value in mixed)
    assert dump_lines([]) == b""


def _stream(*events: bytes) -> RequestRecord:
    parser = SSEJSONParser(ChatAdapter().parser(True)._extract)
    for ts, event in enumerate(events, start=1):
        parser.feed(event, ts * 10)
    record = RequestRecord(0, "profiling", "w", "c", "x", 0, 0, 0, 0, 8)
    parser.finish(record, None)
    return record


def test_stream_with_nan_and_big_integer_usage_and_non_ascii_text_parses_as_before() -> None:
    record = _stream(
        'data: {"choices":[{"delta":{"content":"日本"}}]}\n\n'.encode(),
        b'data: {"choices":[{"delta":{"content":"!"},"finish_reason":"stop"}],"x":NaN}\n\n',
        b'data: {"choices":[],"usage":{"prompt_tokens":8,"completion_tokens":2,"total_tokens":10,'
        b'"cost":123456789012345678901234567890}}\n\n',
        b"data: [DONE]\n\n",
    )
    assert record.error is None
    assert record.chunk_ns == [10, 20]
    assert record.usage_completion_tokens == 2


def test_stream_event_with_invalid_utf8_fails_the_request_as_malformed() -> None:
    record = _stream(b'data: {"choices":[{"delta":{"content":"\xff"}}]}\n\n', b"data: [DONE]\n\n")
    assert record.error is not None and record.error.type == ERROR_MALFORMED
    assert record.error.message.startswith("stream event is not JSON")
