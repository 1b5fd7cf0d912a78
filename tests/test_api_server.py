"""The API host: binding, plugin assembly, route conflicts, disabling routers, OpenAPI and offline docs."""

from __future__ import annotations

import logging
import re
import socket
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from api_state_factory import complete, make_state, registry, serving, start_running
from inferload import hookimpl
from inferload.errors import EXIT_USAGE, PluginError, UsageError
from inferload.registry import LoadRules, PluginRegistry, load_plugins
from inferload.runstate import Lifecycle
from inferload.types import RouterSpec
from inferload_plugins.api_hosts import offline_docs
from inferload_plugins.api_hosts.uvicorn_host import ApiServer, bind_socket

ROUTERS = ("api-config", "api-run", "api-metrics", "api-prometheus", "api-progress", "api-workers",
           "api-results", "api-health")
PROBE_PATHS = {
    "GET /api/config": "/api/config",
    "GET /api/run": "/api/run",
    "GET /api/metrics": "/api/metrics",
    "GET /metrics": "/metrics",
    "GET /api/progress": "/api/progress",
    "GET /api/workers": "/api/workers",
    "GET /api/results": "/api/results",
    "GET /api/results/list": "/api/results/list",
    "GET /api/results/files/{filename:path}": "/api/results/files/profile_export.json",
    "GET /healthz": "/healthz",
    "GET /readyz": "/readyz",
}
RESPONSE_MODELS = {
    "/api/config": "BenchmarkConfig",
    "/api/run": "RunInfo",
    "/api/metrics": "MetricsResponse",
    "/api/progress": "ProgressResponse",
    "/api/workers": "WorkersResponse",
    "/api/results": "BenchmarkResultsResponse",
    "/api/results/list": "ResultsListResponse",
}


@pytest.fixture
def state(tmp_path: Path):
    return make_state(tmp_path / "artifacts")


def test_port_zero_binds_a_free_port_and_logs_the_url(state, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="inferload.api")
    with serving(state) as server:
        assert server.port > 0 and server.url == f"http://127.0.0.1:{server.port}"
        assert httpx.get(server.url + "/healthz").text == "ok"
    lines = [r.getMessage() for r in caplog.records if r.name == "inferload.api"]
    assert len(lines) == 1 and server.url in lines[0]


def test_stop_releases_the_port(state) -> None:
    with serving(state) as server:
        port = server.port
    with socket.create_server(("127.0.0.1", port)):
        pass
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)


def test_a_port_in_use_is_a_usage_error_naming_address_and_fix(state) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        server = ApiServer(registry(), state, host="127.0.0.1", port=port)
        with pytest.raises(UsageError) as error:
            server.start()
    assert error.value.exit_code == EXIT_USAGE
    message = str(error.value)
    assert f"127.0.0.1:{port}" in message and "--api-port" in message
    assert not server.running


def test_an_unknown_host_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"no-such-host\.invalid"):
        bind_socket("no-such-host.invalid", 0)


def test_every_declared_route_is_served_and_documented(state) -> None:
    plugins = registry()
    with serving(state, plugins) as server, httpx.Client(base_url=server.url) as client:
        openapi = client.get("/openapi.json")
        assert openapi.status_code == 200
        paths = openapi.json()["paths"]
        for name in ROUTERS:
            for route in plugins.get("api_router", name).routes:
                method, path = route.split(" ", 1)
                documented = re.sub(r"\{(\w+):path\}", r"{\1}", path)
                assert method.lower() in paths[documented], route
        for path, model in RESPONSE_MODELS.items():
            schema = paths[path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
            assert schema["$ref"].endswith("/" + model), path
        prometheus = paths["/metrics"]["get"]["responses"]["200"]["content"]
        assert "text/plain; version=0.0.4; charset=utf-8" in prometheus
        assert "text/plain" in paths["/healthz"]["get"]["responses"]["503"]["content"]


@pytest.mark.parametrize("disabled", ROUTERS)
def test_disabled_router_removes_only_its_routes(state, disabled: str) -> None:
    declared = {name: registry().get("api_router", name).routes for name in ROUTERS}
    start_running(state)
    complete(state, {})
    state.lifecycle = Lifecycle.RUNNING  # every route, readyz included, answers 200 when served
    with serving(state, registry(disabled=frozenset({disabled}))) as server, \
            httpx.Client(base_url=server.url) as client:
        documented = client.get("/openapi.json").json()["paths"]
        for name, routes in declared.items():
            for route in routes:
                path = route.split(" ", 1)[1]
                response = client.get(PROBE_PATHS[route])
                if name == disabled:
                    assert (response.status_code, response.json()) == (404, {"detail": "Not Found"}), route
                    assert re.sub(r"\{(\w+):path\}", r"{\1}", path) not in documented, route
                else:
                    assert response.status_code == 200, route


def test_docs_pages_load_nothing_from_another_host(state) -> None:
    with serving(state) as server, httpx.Client(base_url=server.url) as client:
        for page in ("/docs", "/redoc"):
            response = client.get(page)
            assert response.status_code == 200 and "text/html" in response.headers["content-type"]
            assert "http://" not in response.text and "https://" not in response.text, page
            assert "//" not in re.sub(r"<!--.*?-->", "", response.text, flags=re.S).replace("://", ""), page
            for asset in re.findall(r'(?:src|href)="([^"]+)"', response.text):
                assert asset.startswith("/"), asset
                assert client.get(asset).status_code == 200, asset


def test_without_bundled_viewers_the_docs_are_a_static_offline_reference(state, monkeypatch) -> None:
    monkeypatch.setattr(offline_docs, "bundled_assets_dir", lambda: None)
    with serving(state) as server, httpx.Client(base_url=server.url) as client:
        for page in ("/docs", "/redoc"):
            text = client.get(page).text
            assert "<script" not in text and "<link" not in text and "<img" not in text
            assert all(ref.startswith("/") for ref in re.findall(r"(?:src|href)=['\"]([^'\"]+)", text))
            for path in ("/api/config", "/api/results/files/{filename}", "/metrics", "/healthz"):
                assert f"GET {path}</code>" in text, path
            assert "MetricsResponse" in text and "fastapi-offline" in text


def _router_plugin(name: str, path: str, *, declared: bool = True) -> object:
    def factory(state: object) -> object:
        from fastapi import APIRouter

        router = APIRouter()
        router.add_api_route(path, lambda: {"from": name})
        return router

    class Plugin:
        @hookimpl
        def register_api_routers(self) -> list[RouterSpec]:
            return [RouterSpec(name=name, description=f"{name} test router",
                               routes=(f"GET {path}",) if declared else (), factory=factory)]

    Plugin.__name__ = name
    return Plugin()


def test_two_routers_serving_the_same_route_is_an_error_naming_both(state) -> None:
    plugins = PluginRegistry()
    plugins.add(_router_plugin("first", "/api/same", declared=False), "first-plugin", distribution="dist-a")
    plugins.add(_router_plugin("second", "/api/same", declared=False), "second-plugin", distribution="dist-b")
    with pytest.raises(PluginError) as error:
        ApiServer(plugins, state)
    message = str(error.value)
    assert "GET /api/same" in message
    assert "first-plugin" in message and "second-plugin" in message
    assert "dist-a" in message and "dist-b" in message


def test_a_router_serving_undeclared_routes_is_named_in_a_warning(state, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="inferload.api")
    plugins = PluginRegistry()
    plugins.add(_router_plugin("sloppy", "/api/sloppy", declared=False), "sloppy-plugin")
    with serving(state, plugins) as server:
        assert httpx.get(server.url + "/api/sloppy").json() == {"from": "sloppy"}
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "inferload.api"]
    assert "sloppy-plugin" in warning and "GET /api/sloppy" in warning


def test_a_router_may_not_take_over_the_docs(state) -> None:
    plugins = PluginRegistry()
    plugins.add(_router_plugin("squatter", "/openapi.json"), "squatter-plugin")
    with pytest.raises(PluginError, match=r"/openapi\.json.*squatter-plugin"):
        ApiServer(plugins, state)


def test_a_router_whose_factory_fails_is_skipped_and_the_rest_serve(state, caplog) -> None:
    plugins = load_plugins(LoadRules(strict=False))

    class Broken:
        @hookimpl
        def register_api_routers(self) -> list[RouterSpec]:
            def factory(state: object) -> object:
                raise RuntimeError("cannot build")

            return [RouterSpec(name="broken", description="fails", routes=("GET /api/broken",),
                               factory=factory)]

    plugins.add(Broken(), "broken-plugin")
    with serving(state, plugins) as server:
        assert httpx.get(server.url + "/api/broken").status_code == 404
        assert httpx.get(server.url + "/api/run").status_code == 200
    assert ("plugin 'broken-plugin' (unknown distribution) failed in router 'broken': RuntimeError: cannot "
            "build; its routes are not served, the run goes on") in caplog.text
    strict = load_plugins(LoadRules(strict=True))  # INFERLOAD_STRICT_PLUGINS=1, as CI runs
    strict.add(Broken(), "broken-plugin")
    with pytest.raises(PluginError, match=r"'broken-plugin' .* failed in router 'broken'"):
        ApiServer(strict, state)


def test_a_third_party_router_is_served_beside_the_built_ins(state) -> None:
    plugins = registry()
    plugins.add(_router_plugin("hello", "/api/hello"), "hello-plugin")
    with serving(state, plugins) as server:
        assert httpx.get(server.url + "/api/hello").json() == {"from": "hello"}
        assert "/api/hello" in httpx.get(server.url + "/openapi.json").json()["paths"]


def test_routers_only_read_the_state(state) -> None:
    """Polling every route changes nothing in the RunState (routers never write it)."""
    start_running(state)
    before = repr(SimpleNamespace(**vars(state)))
    with serving(state) as server, httpx.Client(base_url=server.url) as client:
        for path in PROBE_PATHS.values():
            client.get(path)
    assert repr(SimpleNamespace(**vars(state))) == before
