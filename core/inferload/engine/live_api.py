"""The live HTTP API's part in a run: the catalogue's ``api_host`` plugin (:func:`open_api_host`), bound
before the artifact directory is touched (a port in use is a usage error that leaves the previous run's
results alone), serving once the workers are ready, and kept up ``--api-linger`` seconds after the
artifacts are written, so a client can fetch them (docs/architecture.md, "Data flow": ``bind_live_api`` …
``linger``). Which server serves the routes is the plugin's business; the core imports no web framework.
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inferload.api_host import ApiHost
    from inferload.config import ProfileConfig
    from inferload.engine.stop_signals import StopSignals
    from inferload.registry import PluginRegistry
    from inferload.runstate import RunState
    from inferload.types import ApiHostSpec

log = logging.getLogger("inferload.profile")


def api_host_spec(registry: PluginRegistry) -> ApiHostSpec:
    """The catalogue's default ``api_host`` plugin's spec; a UsageError (exit 2) naming the plugin to enable
    when it is disabled or failed, or that no installed plugin provides one. Cheap: no server is built."""
    from inferload.hookspecs import CHOSEN_CATEGORIES

    spec: ApiHostSpec = registry.default("api_host", choose=CHOSEN_CATEGORIES["api_host"])
    return spec


def open_api_host(registry: PluginRegistry, state: RunState, *, host: str, port: int) -> ApiHost:
    """The live API for ``state`` on ``host``:``port`` (0: a free port) from the default ``api_host``
    plugin, its routes built, not yet bound (:meth:`ApiHost.bind`) nor serving (:meth:`ApiHost.start`).
    Raises what :func:`api_host_spec` raises, and the host's PluginError for a route served twice."""
    return api_host_spec(registry).factory(registry=registry, state=state, host=host, port=port)


def bind_live_api(
    config: ProfileConfig, registry: PluginRegistry, state: RunState, *, shared: bool = False
) -> ApiHost | None:
    """The API host for ``state`` on ``--api-host``:``--api-port``, its routes built and its socket bound
    but not serving yet (:meth:`ApiHost.start` does that). None without ``--api-port``, or when the API
    is ``shared``: a sweep's one API (started by the profile command's sweep, lingering after the last run)
    already serves ``state``, which the run resets in place. Called before the artifact directory is
    touched: a port in use or a router clash is a usage error that leaves a previous run's results alone."""
    if config.api_port is None or shared:
        return None
    server = open_api_host(registry, state, host=config.api_host, port=config.api_port)
    server.bind()
    return server


def linger(server: ApiHost | None, seconds: float, signals: StopSignals) -> None:
    """Keep ``server`` up ``seconds`` (``inf``: until a stop signal) after the artifacts; a stop signal
    ends the wait early. Returns at once without a server or with ``seconds <= 0``."""
    if server is None or seconds <= 0:
        return
    shown = "until Ctrl+C" if math.isinf(seconds) else f"for {seconds:g} s (Ctrl+C ends it)"
    log.info("results served at %s %s", server.url, shown)
    seen = signals.count
    deadline = time.monotonic() + seconds
    while signals.count == seen and time.monotonic() < deadline:
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
