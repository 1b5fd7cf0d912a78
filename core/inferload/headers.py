"""Request header rules (RFC 9110 §5): what a user may put in ``-H``/``--header`` and ``--api-key``.

Checked when the configuration is parsed, so a header that would inject lines on the wire, crash a
worker's encoder or fight the transport's own framing is a usage error (exit 2) before anything starts.
Messages name the header but never echo its value: a malformed header is often a mistyped credential.
The same rules hold for transports (:data:`FRAMING_HEADERS`), and URL userinfo becomes Basic auth in one
place, :func:`split_userinfo`, for the config and every transport.
"""

from __future__ import annotations

import base64
import re
from urllib.parse import unquote, urlsplit, urlunsplit

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
"""RFC 9110 §5.1 field-name: a token of tchar."""
_BAD_VALUE_CHAR = re.compile(r"[^\t\x20-\x7e]")
"""RFC 9110 §5.5 field-value as senders should write it: VCHAR, SP and HTAB (so no CR, LF or NUL). obs-text
(bytes 0x80-0xFF) is refused too: transports encode it differently (Latin-1, UTF-8, or an error), so the
same -H would not send the same bytes on every transport."""
FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding"})
"""Headers a transport computes for each body; neither a user nor a plugin may set them."""
TRANSPORT_HEADERS = FRAMING_HEADERS | {"host"}
"""Headers the transport sets itself from the URL and each body; a user value would corrupt the request."""


def check_header(line: str) -> tuple[str, str]:
    """``"Name: value"`` -> (name, value) if it is a valid header to send; ValueError saying what is wrong.

    Raises ValueError when there is no ``:``, the name is not an RFC 9110 token, the value holds a
    character a header cannot carry, or the name is a transport framing header (Content-Length, Host,
    Transfer-Encoding)."""
    name, sep, rest = line.partition(":")
    name, value = name.strip(), rest.strip()
    if not sep or not name:
        raise ValueError("a header is not 'Name: value' (not shown: it may hold a credential)")
    if not _TOKEN.match(name):
        shown = name[:40].encode("unicode_escape").decode("ascii")
        raise ValueError(
            f"header name '{shown}' is not a valid HTTP token (letters, digits and !#$%&'*+-.^_`|~ only; "
            "no spaces)"
        )
    if name.lower() in TRANSPORT_HEADERS:
        raise ValueError(f"{name} is set by the client for each request (from the URL and the body); "
                         "drop this header")
    check_header_value(name, value)
    return name, value


def check_header_value(name: str, value: str) -> None:
    """ValueError if ``value`` cannot be sent as the value of header ``name`` (CR/LF, control
    characters, anything beyond ASCII); the message gives the position, never the value."""
    refuse_character(_BAD_VALUE_CHAR, value, f"the value of header {name!r}",
                     line_break="a line break (it would inject header lines)")


def refuse_character(
    bad_chars: re.Pattern[str], value: str, subject: str, *, line_break: str = "a line break",
    space: str = "a space",
) -> None:
    """ValueError naming the first character of ``value`` that ``bad_chars`` matches, what it is and its
    position (never the value: it may be a credential), e.g. ``the URL holds a line break at character
    12``; ``subject`` names the value, ``line_break`` and ``space`` how CR/LF and a space are named."""
    bad = bad_chars.search(value)
    if bad is None:
        return
    char = bad.group()
    if char in "\r\n":
        what = line_break
    elif char == " ":
        what = space
    elif ord(char) > 0x7E:
        what = f"U+{ord(char):04X}, which is not ASCII (percent-encode it)"
    else:
        what = f"the control character U+{ord(char):04X}"
    raise ValueError(f"{subject} holds {what} at character {bad.start() + 1}")


def split_userinfo(url: str) -> tuple[str, str | None]:
    """``url`` without its userinfo (``user:pass@``), and the ``Authorization`` value that userinfo stands
    for: ``Basic base64(user:password)``, percent-decoded, UTF-8 (RFC 7617); None when there is none.
    ``http://bob:s%40fe@h:8000/v1`` -> (``http://h:8000/v1``, ``Basic Ym9iOnNAZmU=``)."""
    if "@" not in url:
        return url, None
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    bare = urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    return bare, "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
