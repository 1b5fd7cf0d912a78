"""HTTP/1.1 response bytes: status lines, heads, chunked framing, and the OpenAI error body.

Responses with a known body carry ``Content-Length``; SSE streams use chunked transfer encoding on
HTTP/1.1 and plain close-delimited bodies for HTTP/1.0 clients, which cannot read chunked encoding.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

REASONS = {
    200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 413: "Payload Too Large",
    429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable",
}

JSON = b"application/json"
SSE = b"text/event-stream; charset=utf-8"
SERVER = b"server: inferload-simulator\r\n"
LAST_CHUNK = b"0\r\n\r\n"

_ERROR_TYPES = {
    400: ("invalid_request_error", None), 404: ("invalid_request_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"), 413: ("invalid_request_error", "payload_too_large"),
    429: ("rate_limit_error", "rate_limit_exceeded"), 500: ("server_error", "internal_server_error"),
    503: ("server_error", "service_unavailable"),
}


def _connection(keep_alive: bool) -> bytes:
    return b"connection: keep-alive\r\n" if keep_alive else b"connection: close\r\n"


def response(
    status: int,
    body: bytes,
    *,
    keep_alive: bool,
    content_type: bytes = JSON,
    headers: Iterable[tuple[str, str]] = (),
) -> bytes:
    """A complete response with ``Content-Length``."""
    return head(status, keep_alive=keep_alive, content_type=content_type, headers=headers,
                content_length=len(body)) + body


def head(
    status: int,
    *,
    keep_alive: bool,
    content_type: bytes = JSON,
    headers: Iterable[tuple[str, str]] = (),
    content_length: int | None = None,
    chunked: bool = False,
) -> bytes:
    """Status line and headers, ending with the blank line."""
    parts = [
        b"HTTP/1.1 %d %s\r\n" % (status, REASONS.get(status, "Unknown").encode()),
        SERVER,
        b"content-type: " + content_type + b"\r\n",
        _connection(keep_alive),
    ]
    if content_length is not None:
        parts.append(b"content-length: %d\r\n" % content_length)
    if chunked:
        parts.append(b"transfer-encoding: chunked\r\n")
    parts.extend(f"{name}: {value}\r\n".encode("latin-1") for name, value in headers)
    parts.append(b"\r\n")
    return b"".join(parts)


def sse_head(*, keep_alive: bool, chunked: bool, headers: Iterable[tuple[str, str]] = (),
             content_type: bytes = SSE) -> bytes:
    """The head of a streamed response (SSE unless ``content_type`` says otherwise, e.g. NDJSON)."""
    return head(200, keep_alive=keep_alive, content_type=content_type,
                headers=(("cache-control", "no-cache"), *headers), chunked=chunked)


def chunk(data: bytes) -> bytes:
    """One chunk of chunked transfer encoding."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def error_body(status: int, message: str, *, param: str | None = None, code: str | None = None) -> bytes:
    """``{"error": {"message", "type", "param", "code"}}`` as OpenAI sends it."""
    error_type, default_code = _ERROR_TYPES.get(status, ("server_error", None))
    return json.dumps(
        {"error": {"message": message, "type": error_type, "param": param, "code": code or default_code}},
        separators=(",", ":"),
    ).encode()


def error_response(
    status: int,
    message: str,
    *,
    keep_alive: bool,
    param: str | None = None,
    code: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
) -> bytes:
    """A complete error response in the OpenAI shape."""
    return response(status, error_body(status, message, param=param, code=code), keep_alive=keep_alive,
                    headers=headers)
