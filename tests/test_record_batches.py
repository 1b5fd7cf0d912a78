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


def _plain(i: int) -> RequestRecord:
    """A record of the kinds a run makes: 64-bit times, a failed one's error, a server's timings."""
    base = 10**18 + i
    record = RequestRecord(i, "profiling", f"worker_{i % 2}", f"conv-{i}", f"id-{i}", base, base + 1,
                           base + 9, base - 7, 8, 4)
    record.status, record.ack_ns, record.chunk_ns = 200, base + 2, [base + 3, base + 4, 2**64 - 1]
    record.usage_prompt_tokens, record.usage_completion_tokens, record.usage_total_tokens = 8, 4, 12
    record.client_output_tokens, record.bytes_sent, record.bytes_received = 4, 300, 600
    record.read_delay_ns, record.client_lag_ns, record.slot_wait_ns = 0, -(2**63), 3
    record.server_timing_ms = {"eval_duration": math.nan, "load": math.inf, "neg": -0.0, "count": 3}
    record.usage_note = "note é \u2603 \U0001f600"
    if i % 3 == 0:
        record.error, record.cancelled = RequestError(ERROR_TIMEOUT, "late", code=504), bool(i % 2)
    return record


def test_plain_records_go_as_messagepack_rows_and_come_back_exactly() -> None:
    batch = [_plain(i) for i in range(7)] + [RequestRecord(7, "warmup", "w", "c", "x", 1, 2, 3, 4, 5)]
    data = encode_batch(batch)
    assert data[0] != 0x80  # not a pickle
    records, kept = decode_batch(data)
    assert kept == data
    assert len(records) == 8 and all(_same(a, b) for a, b in zip(batch, records, strict=True))
    assert type(records[0].error) is RequestError and records[0].error.code == 504
    assert records[7].chunk_ns == [] and records[7].error is None


def test_what_messagepack_cannot_carry_exactly_goes_as_a_pickle() -> None:
    big, surrogate, as_tuple = _plain(1), _plain(2), _plain(4)
    big.usage_completion_tokens = 2**64  # a server's usage may be any integer
    surrogate.usage_note = "half a pair \ud800"  # JSON can carry a lone surrogate escape
    as_tuple.chunk_ns = (1, 2)  # type: ignore[assignment]
    for odd in (big, surrogate, as_tuple):
        batch = [_plain(0), odd, _plain(3)]
        data = encode_batch(batch)
        assert data[0] == 0x80
        records, _ = decode_batch(data)
        assert all(_same(a, b) for a, b in zip(batch, records, strict=True))
        assert type(records[1].chunk_ns) is type(odd.chunk_ns)


def test_the_record_store_reads_back_both_formats_and_records_it_encoded_itself(tmp_path) -> None:
    from inferload.record_store import RecordStore

    store = RecordStore(spool_dir=tmp_path)
    packed = [_plain(i) for i in range(5)]
    pickled = [_plain(10), _full()]
    store.append(packed, data=encode_batch(packed))
    store.append(pickled, data=encode_batch(pickled))
    store.append(packed)  # no bytes given: the store encodes them
    back = [record for batch in store.batches() for record in batch]
    assert len(back) == 12
    assert all(_same(a, b) for a, b in zip(packed + pickled + packed, back, strict=True))
    store.close()
