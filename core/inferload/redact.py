"""Secret redaction, in one place: names, payloads, the launch command, headers, URLs and free text.

What is secret is decided by *name* (:func:`is_secret_name`: a header, flag, body field or query parameter
whose words include token, key, secret, password, authorization, credential, cookie …) and by *value*
(the run's own secret values, which :func:`replace_secrets` removes wherever they turn up). ``cli_command``
is built once by :func:`build_cli_command` from argv *and* the parsed settings' secret values, so any
spelling of a flag (``--api-key=X``, ``-HAuthorization: X``) is covered. Anything that prints
configuration, payloads or errors goes through these functions; nothing else decides what is secret.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

REDACTED = "<redacted>"

_SECRET_WORDS = frozenset({
    "token", "key", "apikey", "secret", "password", "passwd", "pwd", "passphrase", "auth",
    "authorization", "credential", "credentials", "cookie", "signature", "bearer", "jwt", "sid",
})
"""A name is secret when one of its words (split at ``-``, ``_``, ``.``, spaces and camelCase) is one
of these; ``max_tokens``, ``tokenizer`` or ``session_id`` are not."""
_SECRET_PARTS = re.compile(
    r"(apikey|api_key|accesstoken|authtoken|refreshtoken|password|passwd|secret|credential|"
    r"authorization|cookie|privatekey)", re.IGNORECASE
)
"""Unambiguous fragments that make a name secret wherever they occur (``xapikey``, ``dbpassword``)."""
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_HEADER_FLAGS = ("-H", "--header")
_URL_IN_TEXT = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<userinfo>[^/@\s'\"]+)@")
_QUERY_URL_IN_TEXT = re.compile(r"[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s'\"<>?]*\?[^\s'\"<>]+")
"""A URL with a query in free text (``GET http://host/metrics?api-key=X``), for :func:`redact_url`."""
_AUTH_SCHEMES = r"(?:Basic|Bearer|Token|Digest|Negotiate|NTLM|AWS4-HMAC-SHA256|ApiKey)"
_FIELD_IN_TEXT = re.compile(
    r"(?P<name>[A-Za-z][A-Za-z0-9_.-]*)(?P<q>\\?[\"']?)(?P<sep>\s*[:=]\s*)"
    r"(?P<value>\\?\"(?:[^\"\\]|\\[^\"])*\\?\"|'[^']*'|"
    + _AUTH_SCHEMES
    + r"\s+[^\s,;&\"'}]+|[^\s,;&\"'}\]]+)"
)
"""``name: value`` / ``"name": "value"`` / ``name=value`` in free text (an echoed header or JSON body)."""
_PLAIN_WORD = re.compile(r"[A-Z]{1,12}$|[a-z]{1,12}$")
"""An unquoted value that is one short all-upper or all-lower word (``POST``, ``failed``) is prose after an
auth-like word (``bad auth: POST /v1/...``), not a credential: credentials are long, mixed, with digits.
The run's own secret values are removed by value first (:func:`replace_secrets`), whatever they look like."""


@functools.lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """True for header, flag, body-field or query-parameter names that carry credentials
    (``Authorization``, ``X-Api-Key``, ``api_token``, ``--hf-token``, ``Cookie``, ``clientSecret`` …);
    harmless names such as ``X-Team``, ``max_tokens``, ``--tokenizer`` or ``session_id`` are not."""
    if _SECRET_PARTS.search(name):
        return True
    return any(word.lower() in _SECRET_WORDS for word in _WORD.findall(name))


def is_secret_flag(flag: str) -> bool:
    """True for flags whose value is a credential (``--api-key``, ``--hf-token``); the same rule as
    :func:`is_secret_name` on the flag without its dashes."""
    return is_secret_name(flag.lstrip("-"))


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
    """``value``, or ``<redacted>`` when the header ``name`` carries credentials."""
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


def redact_payload(value: Any) -> Any:
    """A copy of a JSON-like value with every secret-named field's value replaced by ``<redacted>``,
    at any depth; the shape is kept (a secret-named object or list keeps its keys and length, its leaves
    become ``<redacted>``). Values that hold no secret-named key are returned as they are, not copied."""
    return _redact_secret_fields(value) if _holds_secret_field(value) else value


def secret_leaves(value: Any, inside_secret: bool = False) -> list[str]:
    """The string (and number) values held under secret-named fields of a JSON-like value, any depth."""
    if isinstance(value, Mapping):
        return [leaf for key, item in value.items()
                for leaf in secret_leaves(item, inside_secret or is_secret_name(str(key)))]
    if isinstance(value, list):
        return [leaf for item in value for leaf in secret_leaves(item, inside_secret)]
    if inside_secret and value is not None and not isinstance(value, bool):
        return [str(value)]
    return []


def redact_argv(argv: Sequence[str]) -> list[str]:
    """Redact secret flag values, credential headers and URL userinfo in an argument list, in every
    spelling: ``--flag value``, ``--flag=value``, attached short options (``-HAuthorization: X``)."""
    out: list[str] = []
    pending: str | None = None  # the flag whose value comes next
    for arg in argv:
        if pending is not None:
            out.append(_redact_value(pending, arg))
            pending = None
            continue
        if arg.startswith("--") and "=" in arg:
            flag, value = arg.split("=", 1)
            out.append(f"{flag}={_redact_value(flag, value)}")
            continue
        if arg.startswith("-") and not arg.startswith("--") and len(arg) > 2 and not _is_number(arg):
            flag, value = arg[:2], arg[2:]  # an attached short option: -HName:value, -uURL
            out.append(f"{flag}{_redact_value(flag, value)}")
            continue
        if arg.startswith("-") and not _is_number(arg):
            out.append(arg)
            if arg in _HEADER_FLAGS or is_secret_flag(arg) or _takes_url(arg):
                pending = arg
            continue
        out.append(redact_url(arg) if "://" in arg else arg)
    return out


def build_cli_command(argv: Sequence[str], prog: str = "inferload", secrets: Iterable[str] = ()) -> str:
    """The redacted, shell-quoted launch command, e.g. ``inferload profile --api-key '<redacted>'``.

    ``secrets`` are the parsed settings' secret values (``ProfileConfig.secret_values()``): removed from
    every argument whatever flag spelling carried them (``--extra-inputs 'api_token:X'``, a JSON object)."""
    known = list(secrets)
    return " ".join([prog, *(shlex.quote(_redact_arg(arg, known)) for arg in redact_argv(argv))])


def _redact_arg(arg: str, secrets: list[str]) -> str:
    """One argument of ``cli_command``: a JSON object (``--extra-inputs '{...}'``) is redacted inside the
    parsed value and written back as JSON, so it stays valid JSON; anything else is scrubbed as text."""
    if arg.lstrip().startswith("{"):
        try:
            obj = json.loads(arg)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            return json.dumps(_replace_in_leaves(redact_payload(obj), secrets), ensure_ascii=False)
    return redact_text(arg, secrets)


def _replace_in_leaves(value: Any, secrets: list[str]) -> Any:
    """``value`` with the known secret values removed from every string leaf (keys stay as they are)."""
    if isinstance(value, Mapping):
        return {key: _replace_in_leaves(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_replace_in_leaves(item, secrets) for item in value]
    return redact_text(value, secrets) if isinstance(value, str) else value


def replace_secrets(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every known secret value replaced by ``<redacted>``, the longest first (so a value
    that contains a shorter one is not left half shown). Values under 3 characters are left alone: they
    would redact ordinary words."""
    for secret in sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Scrub free text (error messages, log lines, echoed responses): the run's known secret values,
    URL userinfo, secret-named query values of any URL in it, and the value of any secret-named field or
    header written in it (``Authorization: Basic …``, ``"api_key": "…"``, ``Cookie=…``)."""
    text = replace_secrets(text, secrets)
    text = _URL_IN_TEXT.sub(lambda m: f"{m['scheme']}{REDACTED}@", text)
    if "?" in text:
        text = _QUERY_URL_IN_TEXT.sub(lambda m: redact_url(m[0]), text)
    if ":" in text or "=" in text:
        text = _FIELD_IN_TEXT.sub(_redact_field, text)
    return text


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


def _redact_field(match: re.Match[str]) -> str:
    value = match["value"]
    if not is_secret_name(match["name"]):
        # a harmless field whose quoted value may itself hold "Authorization: …" (an echoed header)
        inner = _FIELD_IN_TEXT.sub(_redact_field, value[1:]) if value[:1] in "\\\"'" else value[1:]
        return f"{match['name']}{match['q']}{match['sep']}{value[:1]}{inner}"
    if REDACTED in value or _is_number(value.strip("\\\"'")) or _PLAIN_WORD.match(value):
        return match[0]
    quote = ""
    for candidate in ('\\"', '"', "'"):
        if value.startswith(candidate) and value.endswith(candidate) and len(value) >= 2 * len(candidate):
            quote = candidate
            break
    return f"{match['name']}{match['q']}{match['sep']}{quote}{REDACTED}{quote}"


def _holds_secret_field(value: Any) -> bool:
    if isinstance(value, Mapping):
        return any(is_secret_name(str(key)) or _holds_secret_field(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_secret_field(item) for item in value)
    return False


def _redact_secret_fields(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _redact_leaves(item) if is_secret_name(str(key)) else _redact_secret_fields(item)
                for key, item in value.items()}
    if isinstance(value, list):
        return [_redact_secret_fields(item) for item in value]
    return value


def _redact_leaves(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _redact_leaves(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact_leaves(item) for item in value]
    return REDACTED if value is not None and not isinstance(value, bool) else value


def _redact_value(flag: str, value: str) -> str:
    if flag in _HEADER_FLAGS:
        return redact_header_arg(value)
    if is_secret_flag(flag):
        return REDACTED
    return redact_url(value) if "://" in value else value


def _takes_url(flag: str) -> bool:
    name = flag.lstrip("-").lower()
    return flag == "-u" or "url" in name or "uri" in name or "endpoint" in name


def _is_number(arg: str) -> bool:
    try:
        float(arg)
    except ValueError:
        return False
    return True


def url_userinfo_secrets(url: str | None) -> list[str]:
    """The secret parts of a URL's userinfo: the percent-decoded password and the raw ``user:pass``."""
    if not url or "@" not in url:
        return []
    parts = urlsplit(url)
    if parts.username is None:
        return []
    return ([unquote(parts.password)] if parts.password else []) + [parts.netloc.rsplit("@", 1)[0]]


def url_query_secrets(url: str | None) -> list[str]:
    """The values of a URL's secret-named query parameters (``?api-key=X`` -> ``["X"]``), decoded."""
    if not url or "?" not in url:
        return []
    try:
        query = urlsplit(url).query
    except ValueError:
        return []
    return [value for key, value in parse_qsl(query, keep_blank_values=True) if value and is_secret_name(key)]
