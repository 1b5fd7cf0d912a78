"""Secret redaction, in one place: the launch command, headers, URLs and free text.

``cli_command`` is built once from argv by :func:`build_cli_command` and stored redacted, so the API, the
JSON export and the logs all hold the same safe string. Anything that prints configuration or errors goes
through these functions; nothing else decides what is secret.
"""

from __future__ import annotations

import logging
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "<redacted>"

_SECRET_NAME = re.compile(
    r"(api[-_]?key|apikey|auth|token|secret|password|passwd|credential|cookie|session|signature|"
    r"subscription[-_]key|private[-_]?key|access[-_]?key)",
    re.IGNORECASE,
)
_SECRET_FLAG = re.compile(
    r"(^|[-_])(api[-_]?key|apikey|key|token|password|passwd|secret|credentials?)$", re.IGNORECASE
)
_HEADER_FLAGS = ("-H", "--header")
_URL_IN_TEXT = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<userinfo>[^/@\s'\"]+)@")


def is_secret_name(name: str) -> bool:
    """True for header, flag or query-parameter names that carry credentials (Authorization, X-Api-Key,
    api_key, token …). Harmless names such as X-Team or Content-Type are not secret."""
    return bool(_SECRET_NAME.search(name))


def is_secret_flag(flag: str) -> bool:
    """True for flags whose value is a credential (``--api-key``, ``--hf-token``, ``--password``), but not
    for look-alikes such as ``--tokenizer`` or ``--max-tokens``."""
    return bool(_SECRET_FLAG.search(flag.lstrip("-")))


def redact_url(url: str) -> str:
    """Replace userinfo (``user:pass@``) and credential-looking query values with ``<redacted>``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _URL_IN_TEXT.sub(lambda m: f"{m['scheme']}{REDACTED}@", url)
    if not parts.scheme or not parts.netloc:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(is_secret_name(key) for key, _ in pairs):
            query = urlencode([(k, REDACTED if is_secret_name(k) else v) for k, v in pairs], safe="<>")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def split_header(value: str) -> tuple[str, str]:
    """``"Name: value"`` or ``"Name:value"`` -> (name, value), both stripped."""
    name, _, rest = value.partition(":")
    return name.strip(), rest.strip()


def redact_header_value(name: str, value: str) -> str:
    return REDACTED if is_secret_name(name) else value


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``headers`` with credential-bearing values replaced."""
    return {name: redact_header_value(name, value) for name, value in headers.items()}


def redact_header_arg(value: str) -> str:
    """One ``-H`` argument: keep the header name readable, hide a secret value."""
    name, _ = split_header(value)
    if not name:
        return value
    return f"{name}: {REDACTED}" if is_secret_name(name) else value


def redact_argv(argv: Sequence[str]) -> list[str]:
    """Redact secret flag values, credential headers and URL userinfo in an argument list."""
    out: list[str] = []
    pending: str | None = None  # the flag whose value comes next
    for arg in argv:
        if pending is not None:
            out.append(_redact_value(pending, arg))
            pending = None
            continue
        if arg.startswith("-") and "=" in arg and arg.startswith("--"):
            flag, value = arg.split("=", 1)
            out.append(f"{flag}={_redact_value(flag, value)}")
            continue
        if arg.startswith("-") and not _looks_negative_number(arg):
            out.append(arg)
            if arg in _HEADER_FLAGS or is_secret_flag(arg) or _takes_url(arg):
                pending = arg
            continue
        out.append(redact_url(arg) if "://" in arg else arg)
    return out


def build_cli_command(argv: Sequence[str], prog: str = "inferload") -> str:
    """The redacted, shell-quoted launch command, e.g. ``inferload profile --api-key '<redacted>'``."""
    return " ".join([prog, *(shlex.quote(arg) for arg in redact_argv(argv))])


def replace_secrets(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every known secret value replaced by ``<redacted>``, the longest first (so a value
    that contains a shorter one is not left half shown). Values under 3 characters are left alone: they
    would redact ordinary words."""
    for secret in sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Scrub known secret values and URL userinfo from free text (error messages, log lines)."""
    return _URL_IN_TEXT.sub(lambda m: f"{m['scheme']}{REDACTED}@", replace_secrets(text, secrets))


class SecretFilter(logging.Filter):
    """A logging filter that scrubs the run's secret values from every record it passes."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact_text(message, self.secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


def _redact_value(flag: str, value: str) -> str:
    if flag in _HEADER_FLAGS:
        return redact_header_arg(value)
    if is_secret_flag(flag):
        return REDACTED
    return redact_url(value) if "://" in value else value


def _takes_url(flag: str) -> bool:
    name = flag.lstrip("-").lower()
    return flag == "-u" or "url" in name or "uri" in name or "endpoint" in name


def _looks_negative_number(arg: str) -> bool:
    try:
        float(arg)
    except ValueError:
        return False
    return True
