"""The live HTTP API's part in a run: bound before the artifact directory is touched (a port in use is a
usage error that leaves the previous run's results alone), serving once the workers are ready, and kept up
``--api-linger`` seconds after the artifacts are written, so a client can fetch them (docs/architecture.md,
"Data flow": ``bind_live_api`` … ``linger``).
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inferload.api_server import ApiServer
    from inferload.config import ProfileConfig
    from inferload.engine.stop_signals import StopSignals
    from inferload.registry import PluginRegistry
    from inferload.runstate import RunState

log = logging.getLogger("inferload.profile")


def bind_live_api(
    config: ProfileConfig, registry: PluginRegistry, state: RunState, *, shared: bool = False
) -> ApiServer | None:
    """The API host for ``state`` on ``--api-host``:``--api-port``, its routes built and its socket bound
    but not serving yet (:meth:`ApiServer.start` does that). None without ``--api-port``, or when the API
    is ``shared``: a sweep's one API (started by the profile command's sweep, lingering after the last run)
    already serves ``state``, which the run resets in place. Called before the artifact directory is
    touched: a port in use or a router clash is a usage error that leaves a previous run's results alone."""
    if config.api_port is None or shared:
        return None
    from inferload.api_server import ApiServer

    server = ApiServer(registry, state, host=config.api_host, port=config.api_port)
    server.bind()
    return server


def linger(server: ApiServer | None, seconds: float, signals: StopSignals) -> None:
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
