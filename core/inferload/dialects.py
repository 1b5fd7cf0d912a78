"""Which API a response speaks, for the error of a response in the wrong one: the public wire shapes of
the endpoint types inferload knows (OpenAI's, and the vendor dialects of ``inferload_contrib``), the
``malformed_response`` that names the likely ``--endpoint-type``, and :class:`StopResponse`, which a parser
raises to end a request at the first event that shows it cannot succeed.

Public API for endpoint plugins (with :mod:`inferload.endpoint`). The names are endpoint-type names only,
never imports: a hint names the type to try, which ``inferload plugins`` says how to get.
"""

from __future__ import annotations

import json
from typing import Any

from inferload.records import ERROR_MALFORMED, RequestError

__all__ = ["StopResponse", "likely_endpoint_type", "other_dialect", "sniff_json"]

_TYPED_EVENTS: tuple[tuple[str, str], ...] = (
    ("message_", "anthropic_messages"),
    ("content_block_", "anthropic_messages"),
    ("response.", "responses"),
)


class StopResponse(Exception):
    """Raised by :meth:`ResponseParser.feed <inferload.endpoint.ResponseParser.feed>` to end the request
    now with ``error`` (e.g. the first event is of another dialect): the worker closes the connection and
    records ``error``, what the parser saw so far kept, the end at the last read."""

    def __init__(self, error: RequestError) -> None:
        super().__init__(error.message)
        self.error = error


def likely_endpoint_type(obj: Any) -> str | None:
    """The endpoint type whose dialect ``obj`` (one decoded event, NDJSON line or body) belongs to, if its
    shape is known."""
    if isinstance(obj, list):
        if obj and all(isinstance(x, dict) and "index" in x and "score" in x for x in obj):
            return "tei_rerank"
        if obj and isinstance(obj[0], list):
            return "tei_embed"
        return None
    if not isinstance(obj, dict):
        return None
    kind = obj.get("type")
    if kind == "message":  # a whole Messages body
        return "anthropic_messages"
    if obj.get("object") == "response":  # a whole Responses body
        return "responses"
    if isinstance(kind, str):
        for prefix, endpoint_type in _TYPED_EVENTS:
            if kind.startswith(prefix):
                return endpoint_type
    if "choices" in obj or str(obj.get("object", "")).startswith("chat.completion"):
        return "chat"
    if "done" in obj and ("message" in obj or "eval_count" in obj):
        return "ollama_chat"
    if isinstance(obj.get("token"), dict) or "generated_text" in obj:
        return "tgi_generate"
    if isinstance(obj.get("results"), list) or isinstance(obj.get("rankings"), list):
        return "rerank"
    return None


def other_dialect(obj: Any, what: str, payload: bytes) -> RequestError:
    """A ``malformed_response`` for an event or body of another dialect or of an unknown type: ``what``
    was seen, its first bytes, and the likely ``--endpoint-type`` when the shape is known (the hint the
    run prints and the error summary's hint name it)."""
    guess = likely_endpoint_type(obj)
    tail = f"; looks like --endpoint-type {guess}" if guess else ""
    return RequestError(ERROR_MALFORMED, f"{what}: {payload[:80]!r}{tail}")


def sniff_json(head: bytes) -> tuple[Any, bytes] | None:
    """The first JSON value of a response that should be a stream of events but starts with ``{`` or ``[``
    (NDJSON, or a whole JSON body): ``(decoded, its line)`` once a whole line (or, at the end, the whole
    ``head``) decodes, else None (not JSON, or not complete yet)."""
    line = head.split(b"\n", 1)[0].strip()
    if line[:1] not in (b"{", b"["):
        return None
    try:
        return json.loads(line), line
    except ValueError:
        return None
