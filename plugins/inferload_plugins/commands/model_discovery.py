"""Model discovery: with ``--url`` and no ``--model``, ask the server which model it serves (a helper of the
profile command, ``commands/profile.py``, its only caller).

The endpoint type says where its server lists models (:attr:`inferload.types.EndpointSpec.models_path`,
``GET /v1/models`` by default, in OpenAI's ``{"data": [{"id": ...}]}`` shape). One model: it is used.
None, several, or no answer: a :class:`~inferload.errors.UsageError` naming the URL (credentials
redacted) and the fix (``--model NAME``; ``--api-key`` for a 401 or 403), so the CLI exits 2 with one line.
"""

from __future__ import annotations

import http.client
import urllib.error
from typing import TYPE_CHECKING

from inferload.errors import UsageError
from inferload.redact import redact_url
from inferload_plugins.shared.model_list import get_body, list_request, model_ids

if TYPE_CHECKING:
    from inferload.config import ProfileConfig
    from inferload.types import EndpointSpec

DISCOVERY_TIMEOUT_S = 10.0
"""How long the model list may take to answer."""


UNNAMED_MODEL = "unnamed"
"""The run's model label when the endpoint type sends no model and the server names none."""


def model_for_run(config: ProfileConfig, endpoint: EndpointSpec) -> tuple[str, str]:
    """The model of a run without ``--model`` and the line that says where it came from.

    An endpoint type whose API has a model field needs one: :func:`discover_model` (a UsageError when the
    server does not name exactly one). One without (``sends_model=False``: TGI, TEI) needs none: the model
    the server names labels the results, else :data:`UNNAMED_MODEL`, and the run goes on either way."""
    if endpoint.sends_model:
        model = discover_model(config, endpoint)
        return model, f"using {model!r}, the one model the server lists"
    try:
        model = discover_model(config, endpoint)
    except UsageError as exc:
        why = str(exc).split("; give --model", 1)[0].removeprefix("no --model given and ")
        return UNNAMED_MODEL, (f"--endpoint-type {endpoint.name} sends none, and the server names none "
                               f"({why}): results are labelled {UNNAMED_MODEL!r}")
    return model, f"--endpoint-type {endpoint.name} sends none; results are labelled {model!r}, the server's"


def discover_model(config: ProfileConfig, endpoint: EndpointSpec) -> str:
    """The one model the server at ``config.url`` lists for ``endpoint``; raises ``UsageError`` otherwise.

    The request carries the run's headers (``--api-key`` as the endpoint sends it, ``-H``), so a server
    that needs credentials for its model list gets them.
    """
    if endpoint.models_path is None:
        raise UsageError(
            f"--endpoint-type {endpoint.name} cannot list the server's models; give --model NAME"
        )
    url, headers = list_request(config, endpoint.models_path, endpoint)
    shown = redact_url(url)
    try:
        body = get_body(url, headers, DISCOVERY_TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise UsageError(f"no --model given and GET {shown} answered HTTP {exc.code}; "
                             f"{credentials_fix(headers)}") from None
        raise UsageError(
            f"no --model given and GET {shown} answered HTTP {exc.code}; give --model NAME"
        ) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        # a garbled answer (not HTTP) is named by its kind, never echoed
        reason = (f"not an HTTP answer: {type(exc).__name__}" if isinstance(exc, http.client.HTTPException)
                  else getattr(exc, "reason", exc))
        raise UsageError(
            f"no --model given and GET {shown} failed ({reason}); check --url or give --model NAME"
        ) from None
    models = model_ids(body)
    if models is None:
        raise UsageError(f"no --model given and GET {shown} is not a model list; give --model NAME")
    if len(models) == 1:
        return models[0]
    if not models:
        raise UsageError(f"no --model given and GET {shown} lists no model; give --model NAME")
    listed = ", ".join(models[:20]) + (f" … ({len(models)} in all)" if len(models) > 20 else "")
    raise UsageError(f"no --model given and the server serves several: {listed}; pick one with --model NAME")


AUTH_HEADERS = frozenset({"authorization", "x-api-key", "api-key"})
"""Header names that carry credentials in the endpoint types' APIs (OpenAI, Anthropic, Azure)."""


def credentials_fix(headers: dict[str, str]) -> str:
    """What to do about a 401 or 403 from a request that carried ``headers``: give a key when none was sent,
    else check the one sent. Giving ``--model`` would not help: every request would be refused alike."""
    if not AUTH_HEADERS & {name.lower() for name in headers}:
        return "the server wants credentials: give --api-key KEY (or set INFERLOAD_API_KEY)"
    return ("the server refused the credentials: check --api-key (or INFERLOAD_API_KEY) or the -H "
            "authorization header")
