"""Hints that fit a failure: from an error's type, HTTP code and message to the likely cause and the flag
to change. Used for the one-line message of a run whose every request failed and for ``error_summary``."""

from __future__ import annotations

import re

from inferload.records import (
    ERROR_CLIENT,
    ERROR_CONNECTION,
    ERROR_EMPTY,
    ERROR_INCOMPLETE,
    ERROR_MALFORMED,
    ERROR_METRIC,
    ERROR_TIMEOUT,
)

__all__ = ["hint_for"]

_UNEXPECTED_FIELD = re.compile(
    r"unexpected|extra (?:fields|inputs)|extra_forbidden|not permitted|unrecognized|unknown (?:field|param)"
    r"|not allowed|unsupported (?:field|param)",
    re.IGNORECASE,
)
_FIELD_FLAGS = (
    ("ignore_eos", "--ignore-eos"),
    ("max_completion_tokens", "--use-legacy-max-tokens"),
)
_MODEL = re.compile(r"\bmodel\b", re.IGNORECASE)
_OTHER_DIALECT = re.compile(r"looks like (--endpoint-type \S+)")


def hint_for(kind: str, code: int | None, message: str) -> str | None:
    """The likely cause of one kind of error and what to try, or None when there is nothing to add."""
    if code in (400, 422) and _UNEXPECTED_FIELD.search(message):
        for field, flag in _FIELD_FLAGS:
            if field in message:
                return f"the server rejects the field {field!r}, which {flag} sends; run without {flag}"
        return "the server rejects a field of the request body; remove it from --extra-inputs"
    if code in (400, 404) and _MODEL.search(message):
        return "the server does not know the model name; pass the name it serves with --model"
    if code == 404:
        return "nothing answers at that path; check --url and --endpoint-type (and --model)"
    if code in (401, 403):
        return "the server refused the credentials; check --api-key or the -H authorization header"
    if kind == ERROR_CONNECTION:
        return "check that the server is up and that --url (host, port, scheme) is right"
    if kind == ERROR_INCOMPLETE:
        return ("the stream ended before any finish_reason and without 'data: [DONE]': the server or a proxy "
                "cut responses short (restarts, proxy timeouts, output limits)")
    if kind == ERROR_EMPTY:
        return ("the server answered with no output; check --model and that the prompt fits its context "
                "(a 200 with no tokens is not a success)")
    if kind == ERROR_TIMEOUT:
        return "responses took longer than --request-timeout-seconds; raise it or lower the load"
    other = _OTHER_DIALECT.search(message) if kind == ERROR_MALFORMED else None
    if other is not None:
        return f"the server answers in another API's dialect; run with {other.group(1)}"
    if kind == ERROR_MALFORMED:
        return "the response is not the shape --endpoint-type expects; check --endpoint-type and --streaming"
    if kind in (ERROR_CLIENT, ERROR_METRIC):
        return "an inferload bug or a plugin failed on this response; run with -v and report it"
    return None
