"""Which API a response speaks, for the error of a response in the wrong one: each registered endpoint
type recognises its own dialect (:attr:`inferload.types.EndpointSpec.recognise`), the
``malformed_response`` names the likely ``--endpoint-type``, and :class:`StopResponse` is what a parser
raises to end a request at the first event that shows it cannot succeed.

Public API for endpoint plugins (with :mod:`inferload.endpoint`). Core names no endpoint type: the
recognisers come from the registry, so a disabled plugin is never suggested.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from inferload.records import ERROR_MALFORMED, RequestError

if TYPE_CHECKING:
    from inferload.registry import PluginRegistry

__all__ = ["StopResponse", "likely_endpoint_type", "other_dialect", "recognisers_of", "set_recognisers",
           "sniff_json"]

Recogniser = Callable[[Any], bool]
"""True when a decoded event, NDJSON line or body is in one endpoint type's dialect."""

_recognisers: tuple[tuple[str, Recogniser], ...] = ()


def recognisers_of(registry: PluginRegistry) -> tuple[tuple[str, Recogniser], ...]:
    """``(endpoint type, recognise)`` of every registered endpoint type that says how to recognise its
    dialect (:attr:`inferload.types.EndpointSpec.recognise`), in registration order."""
    return tuple((name, spec.recognise) for name, spec in registry.all("endpoint").items() if spec.recognise)


def set_recognisers(recognisers: tuple[tuple[str, Recogniser], ...]) -> None:
    """What :func:`likely_endpoint_type` asks in this process (the parent and each worker set it from the
    registry's endpoint types, so a disabled plugin is never named)."""
    global _recognisers
    _recognisers = tuple(recognisers)


class StopResponse(Exception):
    """Raised by :meth:`ResponseParser.feed <inferload.endpoint.ResponseParser.feed>` to end the request
    now with ``error`` (e.g. the first event is of another dialect): the worker closes the connection and
    records ``error``, what the parser saw so far kept, the end at the last read."""

    def __init__(self, error: RequestError) -> None:
        super().__init__(error.message)
        self.error = error


def likely_endpoint_type(obj: Any) -> str | None:
    """The first registered endpoint type whose dialect ``obj`` (one decoded event, NDJSON line or body)
    belongs to, if one recognises it."""
    for name, recognise in _recognisers:
        try:
            if recognise(obj):
                return name
        except Exception:  # noqa: BLE001 - a plugin's recogniser never fails the request it explains
            continue
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
