"""Say it before the first request when the server's own model list does not name ``--model``.

A server that answers any model name (llama-cpp-python, the simulator) runs a mistyped ``--model``
without a word, and the results and the artifact directory carry the wrong name. The run already asks that
list when no ``--model`` is given (model discovery); with one given, this plugin asks it once per server
and model (``before_load``, so after any target started and before any worker): when the list names other
models only, one warning line, also in the summary's ``client_health.warnings``. Only a warning, never a
stop: some servers list their aliases incompletely. Nothing is said when the list cannot be had (the
endpoint type has none or sends no model, an error status, no answer within :data:`LIST_CHECK_TIMEOUT_S`,
not a list, an empty list): the run's requests will tell."""

from __future__ import annotations

import http.client
import logging
import urllib.error
from typing import TYPE_CHECKING

from inferload import hookimpl
from inferload.redact import redact_url
from inferload_plugins.shared.model_list import get_body, list_request, model_ids

if TYPE_CHECKING:
    from inferload.config import ProfileConfig
    from inferload.types import BeforeLoadContext, EndpointSpec

log = logging.getLogger("inferload.setup")

LIST_CHECK_TIMEOUT_S = 3.0
"""How long the model list may take (the run waits for it before its first request)."""

_CHECKED: dict[tuple[str, str], str | None] = {}
"""(model-list URL, model) -> the warning, or None: asked once per process (a sweep's runs share it)."""


@hookimpl
def before_load(context: BeforeLoadContext) -> list[str]:
    """The warning of :func:`unlisted_model_warning` for this run's summary (logged the first time)."""
    config = context.config
    endpoint = context.registry.all("endpoint").get(config.endpoint_type or "")
    if endpoint is None:
        return []
    warning = unlisted_model_warning(config, endpoint)
    return [warning] if warning else []


def unlisted_model_warning(config: ProfileConfig, endpoint: EndpointSpec) -> str | None:
    """One line when the model list of ``endpoint`` at ``config.url`` names models but not ``config.model``,
    else None; logged as a warning the first time it is found for that list and model."""
    if (endpoint.models_path is None or not endpoint.sends_model or not config.model
            or config.base_url is None):
        return None
    url, headers = list_request(config, endpoint.models_path, endpoint)
    key = (url, config.model)
    if key in _CHECKED:
        return _CHECKED[key]
    try:
        models = model_ids(get_body(url, headers, LIST_CHECK_TIMEOUT_S))
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException):
        models = None  # a before_load failure would stop the run: a garbled answer is only no list
    warning = None
    if models and config.model not in models:
        listed = ", ".join(repr(m) for m in models[:5])
        listed += f" … ({len(models)} in all)" if len(models) > 5 else ""
        shown = redact_url(url)
        warning = (f"--model {config.model!r} is not among the models GET {shown} lists ({listed}); "
                   "a server that answers any name runs it under that label: check the spelling (some "
                   "servers list aliases incompletely)")
        log.warning("%s", warning)
    _CHECKED[key] = warning
    return warning
