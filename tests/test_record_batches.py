"""A worker's record batch (encode_batch) unpickles to exactly the records it was made of."""

from __future__ import annotations

import math
import pickle
from dataclasses import fields

from inferload.engine.messages import decode_batch, encode_batch
from inferload.records import ERROR_TIMEOUT, RequestError, RequestRecord


def _full() -> RequestRecord:
    record = RequestRecord(2**70, "profiling", "worker_1", "conv", "x-id", -5, 0, 2**63 + 1, -(2**64), 0)
    record.status, record.ack_ns, record.chunk_ns = 200, -1, [1, 2**80, -3]
    record.first_answer_ns, record.usage_prompt_tokens, record.usage_completion_tokens = 7, 0, 2**65
    record.server_timing_ms = {"eval_duration": math.nan, "load": math.inf, "neg": -0.0}
    record.usage_note, record.error = "note é \u2603", RequestError(ERROR_TIMEOUT, "late", code=None)
    record.cancelled, record.client_lag_ns, record.slot_wait_ns, record.read_delay_ns = True, -1, 3, None
    record.session_id, record.turn_index, record.documents = "s", 0, None
    return record


def _same(a: RequestRecord, b: RequestRecord) -> bool:
    for f in fields(RequestRecord):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name == "server_timing_ms" and x is not None:
            if x.keys() != y.keys() or any(
                not (math.isnan(x[k]) and math.isnan(y[k])) and (x[k], math.copysign(1, x[k]))
                != (y[k], math.copysign(1, y[k]))
                for k in x
            ):
                return False
        elif type(x) is not type(y) or x != y:
            return False
    return True


def test_a_batch_round_trips_every_field_exactly() -> None:
    plain = RequestRecord(1, "warmup", "worker_0", "c", "x", 10, 11, 12, 13, 8)  # defaults: None, 0, []
    batch = [_full(), plain, _full()]
    data = encode_batch(batch)
    records, kept = decode_batch(data)
    assert kept == data
    assert len(records) == 3 and all(_same(a, b) for a, b in zip(batch, records, strict=True))
    assert pickle.loads(data)[1].chunk_ns == [] and records[0].chunk_ns is not records[2].chunk_ns


def test_a_batch_with_something_else_than_records_is_pickled_as_the_list_it_is() -> None:
    batch = [_full(), {"not": "a record"}]
    records, _ = decode_batch(encode_batch(batch))
    assert _same(batch[0], records[0]) and records[1] == {"not": "a record"}


def test_an_empty_batch_is_an_empty_list() -> None:
    assert decode_batch(encode_batch([]))[0] == []
