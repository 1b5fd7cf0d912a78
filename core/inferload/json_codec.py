"""JSON on the hot path: msgspec where it gives what the standard library gives, the standard library where
it does not.

Measured (bench/bench_client.py and the commit that added this module): decoding an OpenAI stream chunk
takes msgspec about a third of the time of ``json`` (it dominates the worker's parsing per event), and
encoding a ``profile_export.jsonl`` line about a tenth. Both functions keep the standard library's
results exactly, or improve on them:

- :func:`loads` takes msgspec's answer when msgspec accepts the input (big integers stay exact integers;
  orjson, measured too, turns them into floats). What msgspec rejects and ``json`` accepts — ``NaN`` and
  ``Infinity`` literals, lone surrogate escapes (``"\\ud800"``), numbers beyond the float range, a UTF-8
  byte-order mark — goes to ``json.loads`` and comes out as before; invalid input (including invalid
  UTF-8) raises ``ValueError`` as before.
- :func:`dumps` writes compact JSON as ``json.dumps(..., separators=(",", ":"))`` would, except that NaN
  and ±inf become ``null`` (strict JSON; the exporters did that already) and non-ASCII text is written as
  UTF-8 rather than ``\\u`` escapes (the same JSON, shorter). Values msgspec cannot encode (a lone
  surrogate in a string, a type it does not know) fall back to the standard library.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import msgspec

_decode = msgspec.json.Decoder().decode
_encoder = msgspec.json.Encoder()
_encode = _encoder.encode


def loads(data: bytes | str) -> Any:
    """Parse one JSON document; ``ValueError`` (``json.JSONDecodeError`` or ``UnicodeDecodeError``) when
    it is not one."""
    try:
        return _decode(data)
    except msgspec.DecodeError:
        return json.loads(data)


def dumps(value: Any) -> str:
    """Compact strict JSON text of ``value`` (NaN and ±inf as ``null``)."""
    return dumpb(value).decode("utf-8")


def dumpb(value: Any) -> bytes:
    """:func:`dumps` as UTF-8 bytes, without a round trip through ``str`` on the common path."""
    try:
        return _encode(value)
    except (TypeError, ValueError, UnicodeError):
        return json.dumps(json_safe(value), separators=(",", ":"), allow_nan=False).encode("utf-8")


def dump_lines(values: list[Any]) -> bytes:
    """JSON lines of ``values``, each as :func:`dumpb` writes it and ending in ``\n``: one msgspec call for
    the lot, or one :func:`dumpb` per value when msgspec cannot encode one of them."""
    try:
        return _encoder.encode_lines(values)
    except (TypeError, ValueError, UnicodeError):
        return b"".join(dumpb(value) + b"\n" for value in values)


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None, so it serialises as strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value
