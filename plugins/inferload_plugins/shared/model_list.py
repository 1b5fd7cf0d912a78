"""The server's model list, as the profile command's model discovery (``commands/model_discovery.py``) and
the unlisted-model check (``diagnostics/model_listed.py``) both ask it: the endpoint type's
``models_path`` (``GET /v1/models`` by default), with the run's headers, read with urllib (not the
transport plugin: one request, before or beside the run)."""

from __future__ import annotations

import json
import ssl
import urllib.request
from typing import TYPE_CHECKING, Any

from inferload import __version__

if TYPE_CHECKING:
    from inferload.config import ProfileConfig
    from inferload.types import EndpointSpec

__all__ = ["get_body", "list_request", "model_ids"]


def list_request(config: ProfileConfig, path: str, endpoint: EndpointSpec) -> tuple[str, dict[str, str]]:
    """The URL and headers of the model-list GET at ``path`` beside ``config.base_url``: the run's headers
    (``--api-key`` as the endpoint sends it, ``-H``), so a server that needs credentials for its list gets
    them. The headers carry secrets: never log them."""
    from inferload.urls import request_url

    url = request_url(config.base_url or "", path)
    headers = {"Accept": "application/json", "User-Agent": f"inferload/{__version__}"}
    headers.update(config.headers_for(endpoint))
    return url, headers


def get_body(url: str, headers: dict[str, str], timeout: float) -> bytes:
    """The body (at most 1 MiB) of a GET of ``url``; urllib's errors (``HTTPError``, ``URLError``,
    ``OSError``) propagate to the caller, which decides what each means."""
    request = urllib.request.Request(url, headers=headers, method="GET")
    context = ssl.create_default_context() if url.startswith("https:") else None
    with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
        body: bytes = response.read(1 << 20)
    return body


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
