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

__all__ = ["REFUSED_CREDENTIALS_FIX", "hint_for", "quoted_answer"]

REFUSED_CREDENTIALS_FIX = ("set the right key with --api-key or INFERLOAD_API_KEY (or fix the -H "
                           "authorization header)")
"""What to do when the server refuses the credentials (401, 403) and nothing else will heal it: the end of
the line that stops a run early (the run guard ``inferload_plugins.guards.credentials``) and the
``--wait-for-model-timeout`` wait."""


def quoted_answer(text: str, limit: int = 200) -> str:
    """A server's error text as quoted in a one-line message: whitespace runs made one space, cut to
    ``limit`` characters with an ellipsis. Redact it first."""
    answer = " ".join(text.split())
    return answer if len(answer) <= limit else answer[: limit - 1] + "…"

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
_NOT_CONNECTED = re.compile(
    r"cannot connect|connect call failed|connection refused|ConnectError|ConnectTimeout|ClientConnectorError"
    r"|name or service not known|nodename nor servname|getaddrinfo|temporary failure in name resolution"
    r"|no address associated|network is unreachable|no route to host",
    re.IGNORECASE,
)
"""A connection error raised before any connection existed (refused, DNS, unreachable, connect timeout),
in the words of each transport (protocol, aiohttp, httpx) and the OS."""
STREAM_CUT_HINT = (
    "the server ended the stream early, after its HTTP status and part of the body; servers that do this "
    "under concurrency: llama-cpp-python with interrupt_requests (its default: a new request cancels the "
    "stream in flight; run it with --interrupt_requests False), a proxy's response or idle timeout, a "
    "server that restarts; or lower --concurrency"
)
"""The hint of a response cut after a 2xx status: the server was reached, so --url is not the cause."""
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
        return "nothing answers at that path; check the path in --url, --endpoint and --endpoint-type"
    if code in (401, 403):
        return ("the server refused the credentials; give or check --api-key (or INFERLOAD_API_KEY) or the "
                "-H authorization header")
    if kind == ERROR_CONNECTION:
        return _connection_hint(code, message)
    if kind == ERROR_INCOMPLETE:
        return ("the stream ended before any finish_reason and without 'data: [DONE]': the server or a proxy "
                "cut responses short (restarts, proxy timeouts, output limits, a server that ends a stream "
                "when another request arrives: llama-cpp-python's interrupt_requests); or lower "
                "--concurrency")
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


def _connection_hint(code: int | None, message: str) -> str:
    """The hint of a connection error by the phase it failed in: after a status line (a cut stream), before
    any connection (refused, DNS, connect timeout), or on a connection the server closed unanswered."""
    if code is not None:
        return STREAM_CUT_HINT
    if _NOT_CONNECTED.search(message):
        return ("nothing accepted the connection; check that the server is up and that --url (host, port) "
                "is right")
    return ("the server accepted the connection but closed it before any response: check --url's scheme "
            "(https:// to a plain-HTTP port, or http:// to a TLS one) and the server's log (a crash, a "
            "proxy)")
