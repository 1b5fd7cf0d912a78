"""The built-in live API host: one FastAPI app assembled from every loaded ``api_router`` plugin, served by
uvicorn (plugin ``api-host-uvicorn``, the catalogue's default ``api_host``).

The host owns no routes of its own besides the documentation pages: each route family is a plugin whose
``RouterSpec.factory(state)`` returns a FastAPI ``APIRouter`` reading the run's :class:`RunState`. This
module checks that no two routers serve the same method and path, binds the socket *synchronously* (so a
port that cannot be bound is a usage error before the first request is sent), and then serves with
uvicorn on its own event loop in a daemon thread. Workers are separate processes, so serving the API never
shares an event loop with the load generator; the parent only pays for the requests clients make.

Usage (what ``inferload profile --api-port`` does through :func:`inferload.engine.live_api.open_api_host`)::

    server = ApiServer(registry, state, host=config.api_host, port=config.api_port)
    server.start()          # raises UsageError (exit 2) if host:port cannot be bound
    ...                     # run; keep state updated
    server.stop()           # after --api-linger seconds
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from inferload import __version__, hookimpl
from inferload.errors import PluginError, UsageError
from inferload.types import ApiHostSpec

if TYPE_CHECKING:
    from fastapi import FastAPI

    from inferload.registry import PluginRegistry
    from inferload.runstate import RunState

log = logging.getLogger("inferload.api")


@hookimpl
def register_api_hosts() -> list[ApiHostSpec]:
    return [ApiHostSpec(name="uvicorn", description="FastAPI app of every api_router, served by uvicorn "
                        "in a thread; offline /docs and /redoc", factory=_host)]


def _host(*, registry: PluginRegistry, state: RunState, host: str, port: int) -> ApiServer:
    return ApiServer(registry, state, host=host, port=port)

OPENAPI_URL = "/openapi.json"
DOCS_URL = "/docs"
REDOC_URL = "/redoc"
DOCS_ASSETS_URL = "/docs-assets"
RESERVED_ROUTES = {("GET", OPENAPI_URL), ("GET", DOCS_URL), ("GET", REDOC_URL)}
"""Routes the host itself serves; a router plugin claiming one is a conflict like any other."""


def build_app(registry: PluginRegistry, state: RunState) -> FastAPI:
    """The FastAPI app serving every loaded ``api_router`` plugin, plus offline /docs and /redoc.

    Raises :class:`PluginError` naming both plugins when two routers serve the same method and path (the
    registry already checks the routes plugins *declare*; this checks the routes they actually build).
    """
    from fastapi import FastAPI

    from inferload_plugins.api_hosts.offline_docs import add_docs_routes

    app = FastAPI(
        title="inferload live API",
        version=__version__,
        description="Live state of the running benchmark: configuration, identity, metrics, progress, "
        "workers and results. Every route family is an `api_router` plugin; see `inferload plugins`.",
        docs_url=None,
        redoc_url=None,
        openapi_url=OPENAPI_URL,
    )
    claimed: dict[tuple[str, str], str] = {key: "the API host" for key in RESERVED_ROUTES}
    for name, spec in registry.all("api_router").items():
        owner = _describe_owner(registry, name)
        try:
            router = spec.factory(state)
        except Exception as exc:  # noqa: BLE001 - one broken router must not take the others down
            registry.hooks.report(registry.provider("api_router", name), f"router {name!r}", exc,
                                  consequence="its routes are not served")
            continue
        served = _routes_of(router)
        undeclared = sorted({f"{m} {p}" for m, p in served} - {r.strip() for r in spec.routes})
        if undeclared:
            log.warning("API %s serves routes its RouterSpec.routes does not list (so `inferload plugins` "
                        "and the start-up conflict check miss them): %s", owner, ", ".join(undeclared))
        for method, path in served:
            key = (method, path)
            if key in claimed:
                raise PluginError(
                    f"route {method} {path} is served twice: by {claimed[key]} and by {owner}; "
                    "disable one of them (--disable-plugin NAME)"
                )
            claimed[key] = owner
        app.include_router(router)
    add_docs_routes(app, docs_url=DOCS_URL, redoc_url=REDOC_URL, assets_url=DOCS_ASSETS_URL)
    return app


class ApiServer:
    """Serves the live API for one run in a background thread; see the module docstring.

    ``port=0`` binds any free port; :attr:`port` and :attr:`url` tell which one after :meth:`start`.
    """

    def __init__(
        self,
        registry: PluginRegistry,
        state: RunState,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log_level: str = "warning",
    ) -> None:
        self.host = host
        self.requested_port = port
        self.state = state
        self.app = build_app(registry, state)
        self._log_level = log_level
        self._socket: socket.socket | None = None
        self._bound_port: int | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (the requested one until :meth:`start`; the OS's pick when that was 0)."""
        return self._bound_port if self._bound_port is not None else self.requested_port

    @property
    def url(self) -> str:
        """Base URL clients use, e.g. ``http://127.0.0.1:9097``."""
        host = self.host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def bind(self) -> None:
        """Bind the listening socket now (UsageError, exit 2, if the address cannot be had); idempotent.

        ``inferload profile`` binds before it touches the artifact directory, so a port in use is a usage
        error that leaves a previous run's results as they were; connections made before :meth:`start`
        wait in the socket's backlog."""
        if self._socket is None:
            self._socket = bind_socket(self.host, self.requested_port)
            self._bound_port = int(self._socket.getsockname()[1])

    def start(self, timeout: float = 10.0) -> None:
        """Bind (see :meth:`bind`) unless already bound, then serve in a daemon thread; returns once
        serving."""
        if self._thread is not None:
            raise RuntimeError("ApiServer.start() called twice")
        import uvicorn

        self.bind()
        config = uvicorn.Config(
            self.app,
            # None: uvicorn's own dictConfig would close every existing handler, the run's log file too
            # (a mode "w" FileHandler never reopens), and lose every log line after the API started.
            log_config=None,
            log_level=self._log_level,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=3,
            server_header=False,
        )
        self._server = uvicorn.Server(config)
        failure: list[BaseException] = []

        def serve() -> None:
            try:
                self._server.run(sockets=[self._socket])
            except BaseException as exc:  # noqa: BLE001 - reported to start() or logged, never lost
                failure.append(exc)
                log.error("HTTP API server stopped unexpectedly: %s", exc)

        self._thread = threading.Thread(target=serve, name="inferload-api", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if failure or not self._thread.is_alive():
                self._close_socket()
                raise RuntimeError(f"HTTP API server failed to start: {failure[0] if failure else 'exited'}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"HTTP API server did not start within {timeout:g} s")
            time.sleep(0.005)
        bound = "" if self.host in self.url else f", listening on {self.host or 'all addresses'}"
        log.info("HTTP API on %s (documentation at %s/docs%s)", self.url, self.url, bound)

    def stop(self, timeout: float = 5.0) -> None:
        """Finish in-flight requests and stop serving; idempotent."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive() and self._server is not None:
                self._server.force_exit = True
                self._thread.join(2.0)
        self._close_socket()

    def __enter__(self) -> ApiServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _close_socket(self) -> None:
        if self._socket is not None:
            self._socket.close()


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port, or a UsageError naming the address and the fix."""
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise UsageError(
            f"cannot serve the HTTP API on {shown}: unknown host ({getattr(exc, 'strerror', None) or exc}); "
            "pass an address of this machine, e.g. --api-host 127.0.0.1"
        ) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        # Lets a restarted run reuse a port still in TIME_WAIT; a port someone listens on stays refused.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise UsageError(
            f"cannot serve the HTTP API on {shown}: {exc.strerror or exc}; choose another --api-port "
            "(0 picks a free one), stop whatever uses that port, or check --api-host"
        ) from None
    return sock


def _routes_of(router: Any) -> list[tuple[str, str]]:
    """(METHOD, path) for every HTTP route of an APIRouter; mounts count as every method."""
    routes: list[tuple[str, str]] = []
    for route in getattr(router, "routes", []):
        path = getattr(route, "path", None)
        if path is None:
            continue
        methods = getattr(route, "methods", None) or {"*"}
        routes.extend((method.upper(), path) for method in sorted(methods) if method.upper() != "HEAD")
    return routes


def _describe_owner(registry: PluginRegistry, router_name: str) -> str:
    try:
        plugin = registry.provider("api_router", router_name)
        info = registry.plugins[plugin]
    except (AttributeError, KeyError):
        return f"router {router_name!r}"
    where = f"{info.distribution} {info.version}".strip()
    return f"router {router_name!r} of plugin {plugin!r}" + (f" ({where})" if where else "")

