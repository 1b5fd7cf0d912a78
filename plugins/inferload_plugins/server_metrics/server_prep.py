"""A clean, ready server before a run: ``--reset-kv-cache`` and ``--wait-for-model-timeout`` (the
``before_load`` hook), and those flags themselves (``register_options``: :class:`ServerPrepOptions`, so
disabling this plugin refuses them with one line naming it).

Called for every run once the target's URL is known and before any worker starts, so in a sweep it
happens before each variation and trial. Order: the cache reset, then the wait (a reset may leave a
server briefly busy). A model that does not answer in time stops the run before any request (RunFailed,
one line). Definitions: docs/sweeps.md ("A clean, ready server").
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, Field, field_validator

from inferload import hookimpl
from inferload.errors import RunFailed
from inferload.plugin_options import Flag
from inferload.redact import redact_url
from inferload.types import OptionsSpec
from inferload.urls import check_server_path, server_route_url

if TYPE_CHECKING:
    from inferload.config import ProfileConfig
    from inferload.registry import PluginRegistry
    from inferload.types import BeforeLoadContext

log = logging.getLogger("inferload.server")

_UNSUPPORTED: set[str] = set()
"""Base URLs on which no reset worked: warned about once per process (a sweep goes on without)."""
_WORKING: dict[str, tuple[str, str, str]] = {}
"""Base URL -> (plugin name, method, path) that reset it last time."""

_POLL_S = 0.5
_REQUEST_TIMEOUT_S = 10.0


class ServerPrepOptions(BaseModel):
    """``--reset-kv-cache``, ``--reset-kv-cache-path`` and ``--wait-for-model-timeout`` (docs/profile.md)."""

    reset_kv_cache: Annotated[bool, Flag(lists="cache_reset")] = Field(
        False, description="reset the server's KV/prefix cache before each run")
    reset_kv_cache_path: Annotated[str | None, Flag(metavar="PATH")] = Field(
        None, description="POST this path to reset the cache instead (e.g. /reset_prefix_cache)")
    wait_for_model_timeout: Annotated[float | None, Flag(metavar="S")] = Field(
        None, ge=0, description="before the first request (and after a reset), wait up to S s until a "
        "one-token request succeeds")

    @field_validator("reset_kv_cache_path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        return None if value is None else check_server_path(value)


def check_server_prep_options(config: ProfileConfig, options: ServerPrepOptions) -> None:
    """A reset path only means something with the reset."""
    if options.reset_kv_cache_path is not None and not options.reset_kv_cache:
        raise ValueError("--reset-kv-cache-path needs --reset-kv-cache")


SERVER_PREP_OPTIONS = OptionsSpec(
    name="server-prep", description="A clean, ready server before each run", model=ServerPrepOptions,
    title="a clean, ready server (docs/sweeps.md)", check=check_server_prep_options,
)


@hookimpl
def register_options() -> list[OptionsSpec]:
    return [SERVER_PREP_OPTIONS]


@hookimpl
def before_load(context: BeforeLoadContext) -> list[str]:
    """Prepare the run's server (:func:`prepare_server`) with the probe and headers the run's requests use."""
    return prepare_server(context.config, context.registry, context.probe_url, context.probe_body,
                          headers=context.headers)


def prepare_server(
    config: ProfileConfig,
    registry: PluginRegistry,
    url: str,
    probe_body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> list[str]:
    """``--reset-kv-cache``, then ``--wait-for-model-timeout`` (``probe_body`` sent to ``url``), each only
    when asked for; returns the client warnings for the run's summary (a reset no server path took).
    Raises RunFailed when the model does not answer in time.

    ``url`` is the endpoint adapter's non-streamed request URL and ``probe_body`` its own rendering of a
    one-token request, so the probe speaks the run's dialect (Anthropic Messages, TGI, Ollama …);
    ``headers`` are the ones requests carry (``config.headers_for(endpoint)``; None: ``-H`` only)."""
    headers = config.headers_map if headers is None else headers
    options = config.options(ServerPrepOptions)
    warnings: list[str] = []
    if options.reset_kv_cache:
        warning = reset_cache(config, registry, config.base_url or "", headers)
        if warning:
            log.warning("%s", warning)
            warnings.append(warning)
    if options.wait_for_model_timeout is not None:
        wait_for_model(config, url, probe_body, headers)
    return warnings


def reset_cache(
    config: ProfileConfig, registry: PluginRegistry, base_url: str, headers: dict[str, str] | None = None
) -> str | None:
    """Reset the server's cache; returns a warning line when no reset worked (once per server), else
    None. With ``--reset-kv-cache-path`` only that path is tried (POST); otherwise every cache_reset
    plugin in name order, the one that worked before first. A 404 or 405 means "not this server"."""
    import httpx

    reset_path = config.options(ServerPrepOptions).reset_kv_cache_path
    if reset_path:
        candidates = [("--reset-kv-cache-path", "POST", reset_path)]
    else:
        candidates = [(name, spec.method, spec.path)
                      for name, spec in sorted(registry.all("cache_reset").items())]
        known = _WORKING.get(base_url)
        if known in candidates:
            candidates.remove(known)
            candidates.insert(0, known)
    if base_url in _UNSUPPORTED:
        return None
    tried = []
    headers = config.headers_map if headers is None else headers
    with httpx.Client(timeout=_REQUEST_TIMEOUT_S, headers=headers) as client:
        for name, method, path in candidates:
            try:
                response = client.request(method, server_route_url(base_url, path))
            except httpx.HTTPError as exc:
                tried.append(f"{method} {path}: {type(exc).__name__}")
                continue
            if response.is_success:
                _WORKING[base_url] = (name, method, path)
                log.info("KV cache reset: %s %s answered %d (%s)", method, path, response.status_code, name)
                return None
            tried.append(f"{method} {path}: {response.status_code}")
    _UNSUPPORTED.add(base_url)
    shown = "; ".join(tried) or "no cache_reset plugin installed"
    return (f"--reset-kv-cache: the server at {redact_url(base_url)} has no cache reset inferload knows "
            f"({shown}); runs go on with whatever its cache holds (--reset-kv-cache-path PATH names one)")


def wait_for_model(
    config: ProfileConfig, url: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> float:
    """Send ``body`` (a one-token request) to ``url`` until it answers 2xx; returns the seconds waited.
    Connection errors and non-2xx answers are retried every 0.5 s; after ``--wait-for-model-timeout``
    seconds a RunFailed (exit 1) names the server and the last answer. A 401 or 403 is a RunFailed at
    once: a server that answers already checks credentials, and waiting will not change its mind; so is a
    server that speaks the other protocol than the URL's scheme (TLS on ``http://``, plain on ``https://``).
    """
    import httpx

    from inferload.engine.preflight import scheme_mismatch

    timeout = float(config.options(ServerPrepOptions).wait_for_model_timeout or 0)
    started = time.monotonic()
    last = "no answer"
    headers = config.headers_map if headers is None else headers
    with httpx.Client(timeout=_REQUEST_TIMEOUT_S, headers=headers) as client:
        while True:
            try:
                response = client.post(url, json=body)
                if response.is_success:
                    waited = time.monotonic() - started
                    log.info("the model answered a one-token request after %.1f s", waited)
                    return waited
                last = f"HTTP {response.status_code}"
                if response.status_code in (401, 403):
                    raise RunFailed(_refused(config, url, response.status_code, response.text))
            except httpx.HTTPError as exc:
                last = type(exc).__name__
                # a server that is up but speaks TLS to an http:// URL (or plain HTTP to https://) fails the
                # same way on every try: say so now rather than after the timeout
                if (mismatch := scheme_mismatch(url, _REQUEST_TIMEOUT_S)) is not None:
                    shown = redact_url(config.url or url)
                    raise RunFailed(f"cannot reach --url {shown}: {mismatch}") from None
            if time.monotonic() - started >= timeout:
                raise RunFailed(f"the server at {redact_url(url)} did not answer a one-token request "
                                f"within --wait-for-model-timeout {timeout:g} s (last: {last}); "
                                "is the model loaded?")
            time.sleep(_POLL_S)


def _refused(config: ProfileConfig, url: str, status: int, text: str) -> str:
    """The line for a one-token probe whose credentials the server refused, its answer quoted (redacted)."""
    from inferload.hints import REFUSED_CREDENTIALS_FIX, quoted_answer
    from inferload.redact import redact_text

    answer = quoted_answer(redact_text(text, config.secret_values()))
    return (f"the server at {redact_url(url)} refused the credentials of the one-token request "
            f"(HTTP {status}: {answer or 'no body'}); {REFUSED_CREDENTIALS_FIX}")
