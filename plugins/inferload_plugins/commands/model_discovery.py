"""Model discovery: with ``--url`` and no ``--model``, ask the server which model it serves (a helper of the
profile command, ``commands/profile.py``, its only caller).

The endpoint type says where its server lists models (:attr:`inferload.types.EndpointSpec.models_path`,
``GET /v1/models`` by default, in OpenAI's ``{"data": [{"id": ...}]}`` shape). One model: it is used.
None, several, or no answer: a :class:`~inferload.errors.UsageError` naming the URL (credentials
redacted) and the fix (``--model NAME``), so the CLI exits 2 with one line.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

from inferload import __version__
from inferload.errors import UsageError
from inferload.redact import redact_url

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
    from inferload.urls import request_url

    if endpoint.models_path is None:
        raise UsageError(
            f"--endpoint-type {endpoint.name} cannot list the server's models; give --model NAME"
        )
    url = request_url(config.base_url or "", endpoint.models_path)
    shown = redact_url(url)
    headers = {"Accept": "application/json", "User-Agent": f"inferload/{__version__}"}
    headers.update(config.headers_for(endpoint))
    request = urllib.request.Request(url, headers=headers, method="GET")
    context = ssl.create_default_context() if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(request, timeout=DISCOVERY_TIMEOUT_S, context=context) as response:
            body = response.read(1 << 20)
    except urllib.error.HTTPError as exc:
        raise UsageError(
            f"no --model given and GET {shown} answered HTTP {exc.code}; give --model NAME"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
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


def model_ids(body: bytes) -> list[str] | None:
    """The model ids of a model-list body: OpenAI's ``{"data": [{"id"}]}`` (also Ollama's ``{"models":
    [{"name"}]}`` and a TGI ``/info`` ``{"model_id"}``), or None when the body is none of these."""
    try:
        obj: Any = json.loads(body)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    if isinstance(obj.get("data"), list):
        return [str(m["id"]) for m in obj["data"] if isinstance(m, dict) and m.get("id")]
    if isinstance(obj.get("models"), list):
        return [str(m.get("name") or m.get("model")) for m in obj["models"]
                if isinstance(m, dict) and (m.get("name") or m.get("model"))]
    if isinstance(obj.get("model_id"), str):
        return [obj["model_id"]]
    return None
