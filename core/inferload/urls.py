"""The request target: what ``--url`` and ``--endpoint`` may hold, and how they join into the request URL.

Both are checked when the configuration is parsed (a usage error, exit 2), because ``urlsplit`` silently
drops CR, LF and TAB and a transport would put a space straight into the request line. The join keeps the
base URL's query at the end (Azure OpenAI's ``?api-version=``) and never sends a fragment.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from inferload.headers import refuse_character
from inferload.redact import redact_url

_BAD_TARGET_CHAR = re.compile(r"[^\x21-\x7e]")
"""Anything but visible ASCII: space, CR, LF, TAB and other controls, and non-ASCII (which RFC 3986
requires percent-encoded; transports would encode it differently)."""


def check_target_text(value: str, what: str) -> None:
    """ValueError naming the first character of ``value`` that cannot go into a request line, its position
    and the fix; ``what`` names the value in the message (``the URL``, ``the path``)."""
    refuse_character(_BAD_TARGET_CHAR, value, what, space="a space (write it as %20)")


def check_no_fragment(value: str, what: str) -> None:
    """ValueError when ``value`` holds a ``#fragment``: a fragment is never sent to a server, so a URL with
    one does not name what the user meant."""
    if "#" in value:
        raise ValueError(f"{what} holds a '#' fragment, which is never sent to a server; drop it "
                         "(or write '#' as %23 if it is part of the path)")


def check_server_path(value: str) -> str:
    """``value`` when it is a path on the server (starts with ``/``, no fragment, only characters a request
    line takes); else ValueError with the one line for the user. Used for ``--endpoint`` and every other
    path flag (``--reset-kv-cache-path``)."""
    check_target_text(value, "the path")
    check_no_fragment(value, "the path")
    if not value.startswith("/"):
        raise ValueError(f"{value!r} must be a path starting with '/'")
    return value


def split_endpoint(path: str) -> tuple[str, str]:
    """An endpoint path as (path, query): ``/v1/chat/completions?x=1`` -> (``/v1/chat/completions``,
    ``x=1``)."""
    endpoint_path, _, query = path.partition("?")
    return endpoint_path, query


def request_url(base_url: str, path: str) -> str:
    """The URL requests go to: ``base_url``'s path joined with the endpoint ``path``, the base URL's query
    (then the path's own) at the end, no fragment.

    A base URL whose path already ends in the endpoint's API version (``http://host:8000/v1``, the OpenAI
    SDK's ``base_url`` habit) does not get it twice, with or without a query:
    ``http://h/v1?api-version=2024`` + ``/v1/chat/completions`` ->
    ``http://h/v1/chat/completions?api-version=2024``.
    """
    parts = urlsplit(base_url)
    endpoint_path, endpoint_query = split_endpoint(path)
    base_path = parts.path.rstrip("/")
    if version_in_base(base_url, path):
        endpoint_path = "/" + endpoint_path.split("/", 2)[2]
    query = "&".join(q for q in (parts.query, endpoint_query) if q)
    return urlunsplit((parts.scheme, parts.netloc, base_path + endpoint_path, query, ""))


def version_in_base(base_url: str, path: str) -> bool:
    """True when ``base_url``'s path already ends in the first segment of the endpoint ``path`` (``/v1``),
    which :func:`request_url` then sends once."""
    endpoint_path, _ = split_endpoint(path)
    if endpoint_path.count("/") < 2:
        return False
    version = endpoint_path.split("/", 2)[1]
    return bool(version) and urlsplit(base_url).path.rstrip("/").endswith("/" + version)


_API_VERSION_SEGMENT = re.compile(r"/v\d+[a-z0-9]*$")
"""A trailing API version segment of a base URL's path (``/v1``, ``/v1beta``)."""


def server_route_url(base_url: str, route: str) -> str:
    """The URL of a server-level ``route`` (``/metrics``, ``/reset_prefix_cache``, ``/flush_cache``) on
    ``base_url``'s server: such routes live beside the API, not under its version, so a trailing API
    version segment of the base path is dropped (``http://h:8000/v1`` -> ``http://h:8000/metrics``; a
    proxy prefix such as ``/llm`` is kept), and the base URL's query stays at the end."""
    parts = urlsplit(base_url)
    base_path = _API_VERSION_SEGMENT.sub("", parts.path.rstrip("/"))
    return urlunsplit((parts.scheme, parts.netloc, base_path + route, parts.query, ""))


def check_http_url(value: str) -> str:
    """``value`` as a server URL (``http://`` or ``https://``, a host, a port 1-65535 if any, no fragment),
    without a trailing ``/``; a ValueError naming the problem (userinfo never shown) otherwise."""
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"{redact_url(value)!r} is not an http:// or https:// URL")
    check_target_text(value, "the URL")
    check_no_fragment(value, "the URL")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        raise ValueError("the port is not a number 1-65535; give one in that range") from None
    if not parts.hostname:
        raise ValueError(f"{redact_url(value)!r} has no host")
    if parts.port == 0:
        raise ValueError("port 0 is not a server's port; give a port 1-65535")
    return value.rstrip("/")
