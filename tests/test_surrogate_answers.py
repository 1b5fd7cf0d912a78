"""A streamed answer whose text holds surrogates is counted by every tokenizer, not turned into an error.

JSON may carry a lone ``\\ud800`` escape, and a server that escapes non-ASCII text can split an emoji's
surrogate pair across two events (``"\\ud83d"`` then ``"\\ude00"``): the joined answer then holds surrogate
code points, which UTF-8 (and so a Rust tokenizer) cannot take. Fed through the chat adapter's stream
parser as a worker feeds it, the request stays a success with its client-side output count.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.offline_tokenizers import tokenizer  # noqa: F401 - the fixture, under each tokenizer

from inferload.records import RequestRecord
from inferload_plugins.endpoints.chat import ChatAdapter


def _event(content: str) -> bytes:
    return b'data: {"choices":[{"index":0,"delta":{"content":"%s"}}]}\n\n' % content.encode()


STREAMS = {
    "split emoji": [_event("hi "), _event("\\ud83d"), _event("\\ude00"), _event(" there")],
    "lone surrogate": [_event("a"), _event("\\ud800"), _event("b")],
}


@pytest.mark.parametrize("shape", sorted(STREAMS))
def test_surrogates_in_the_answer_are_counted(shape: str, tokenizer: Any) -> None:  # noqa: F811
    parser = ChatAdapter().parser(True)
    record = RequestRecord(1, "profiling", "worker_0", "c", "x", 0, 0, 0, 0, 8, 4)
    for at, read in enumerate([*STREAMS[shape], b"data: [DONE]\n\n"]):
        parser.feed(read, 1_000 + at)
    parser.finish(record, tokenizer)
    assert record.error is None
    assert record.client_output_tokens is not None and record.client_output_tokens > 0
    assert len(record.chunk_ns) == len(STREAMS[shape])
