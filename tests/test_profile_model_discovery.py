"""Model discovery: `inferload profile --url URL` without `-m` asks the endpoint's model list, uses the one
model served, and exits 2 with one line listing them when there are several (real CLI, real HTTP)."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from profile_fixtures import load_run, profile, simulator

__all__ = ["simulator"]

SECRET = "sk-discovery-secret-5e6f"


class ModelLists(http.server.ThreadingHTTPServer):
    """Answers GET /v1/models and /api/tags with two models each, and keeps the headers it got."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: ModelLists

    def do_GET(self) -> None:
        self.server.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        if self.path.startswith("/locked/"):  # a key-protected server: 401 without a key, 403 for a wrong one
            self.send_response(403 if self.headers.get("authorization") else 401)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        bodies: dict[str, Any] = {
            "/v1/models": {"object": "list", "data": [{"id": "alpha"}, {"id": "beta"}]},
            "/api/tags": {"models": [{"name": "llama3:8b"}, {"name": "qwen3:0.6b"}]},
        }
        body = json.dumps(bodies.get(self.path, {"nothing": True})).encode()
        self.send_response(200 if self.path in bodies else 404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def model_lists() -> Iterator[ModelLists]:
    server = ModelLists()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("endpoint_type", ["chat", "anthropic_messages", "responses"])
def test_without_model_the_single_served_model_is_used(
    endpoint_type: str, run_cli: Any, simulator: Any, tmp_path: Path
) -> None:
    result = profile(run_cli, simulator.url, tmp_path, "--endpoint-type", endpoint_type,
                     "--request-count", "3", "--osl", "3")
    assert result.returncode == 0, result.stderr
    assert "no --model given: using 'inferload-sim'" in result.stderr
    run, _, records = load_run(tmp_path)
    assert run.name.startswith("inferload-sim-")
    assert len(records) == 3 and all(r["error"] is None for r in records)
    assert {t["model"] for t in simulator.truth()} == {"inferload-sim"}


@pytest.mark.parametrize(
    ("endpoint_type", "path", "listed"),
    [("chat", "/v1/models", "alpha, beta"), ("ollama_chat", "/api/tags", "llama3:8b, qwen3:0.6b")],
)
def test_several_models_exit_2_listing_them(
    endpoint_type: str, path: str, listed: str, run_cli: Any, model_lists: ModelLists, tmp_path: Path
) -> None:
    result = profile(run_cli, model_lists.url, tmp_path, "--endpoint-type", endpoint_type,
                     "--request-count", "3")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert f"several: {listed}; pick one with --model NAME" in lines[0]
    assert [seen for seen, _ in model_lists.seen] == [path]
    assert not (tmp_path / "profile_export.json").exists()


def test_the_model_list_gets_the_endpoint_credentials_and_they_are_never_echoed(
    run_cli: Any, model_lists: ModelLists, tmp_path: Path
) -> None:
    result = profile(run_cli, model_lists.url, tmp_path, "--endpoint-type", "anthropic_messages",
                     "--api-key", SECRET, "--request-count", "3")
    assert result.returncode == 2
    (_, headers), = model_lists.seen
    assert headers["x-api-key"] == SECRET and "authorization" not in headers
    assert headers["anthropic-version"] == "2023-06-01"
    assert SECRET not in result.stderr + result.stdout


def test_a_server_without_a_model_list_is_one_line_naming_the_fix(
    run_cli: Any, model_lists: ModelLists, tmp_path: Path
) -> None:
    url = f"{model_lists.url}/prefix"
    result = profile(run_cli, url, tmp_path, "--request-count", "3")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"inferload: error: no --model given and GET {url}/v1/models answered HTTP 404; give --model NAME"
    ]


@pytest.mark.parametrize("endpoint_type", ["tgi_generate", "tei_embed", "tei_rerank"])
def test_an_endpoint_type_without_a_model_field_needs_no_model_list(
    endpoint_type: str, run_cli: Any, model_lists: ModelLists, tmp_path: Path
) -> None:
    # TGI and TEI bodies carry no model: a server that names none is no reason to stop (here every
    # request then fails with 404, but the run happens and accounts for them)
    result = profile(run_cli, model_lists.url, tmp_path, "--endpoint-type", endpoint_type,
                     "--request-count", "3")
    assert result.returncode == 1, result.stderr
    said = (f"no --model given: --endpoint-type {endpoint_type} sends none, and the server names none "
            f"(GET {model_lists.url}/info answered HTTP 404): results are labelled 'unnamed'")
    assert said in result.stderr
    run, _, records = load_run(tmp_path)
    assert run.name.startswith(f"unnamed-{endpoint_type}-")
    assert len(records) == 3 and {r["error"]["code"] for r in records} == {501}


@pytest.mark.parametrize(
    ("endpoint_type", "said"),
    [("tgi_generate", "sends none; results are labelled 'inferload-sim', the server's"),
     ("tei_embed", "sends none; results are labelled 'inferload-sim', the server's"),
     ("tei_rerank", "sends none; results are labelled 'inferload-sim', the server's"),
     ("ollama_chat", "using 'inferload-sim', the one model the server lists"),
     ("rerank", "using 'inferload-sim', the one model the server lists")],
)
def test_the_simulator_serves_each_dialects_model_list(
    endpoint_type: str, said: str, run_cli: Any, simulator: Any, tmp_path: Path
) -> None:
    result = profile(run_cli, simulator.url, tmp_path, "--endpoint-type", endpoint_type,
                     "--request-count", "3")
    assert result.returncode == 0, result.stderr
    assert said in result.stderr.split("no --model given: ", 1)[1].splitlines()[0]
    run, _, records = load_run(tmp_path)
    assert run.name.startswith(f"inferload-sim-{endpoint_type}-")
    assert len(records) == 3 and all(r["error"] is None for r in records)


def test_the_model_list_url_keeps_the_url_query_and_the_v1_rule(
    run_cli: Any, model_lists: ModelLists, tmp_path: Path
) -> None:
    # built as request URLs are (inferload.urls.request_url): /v1 once, --url's query at the end
    url = f"{model_lists.url}/v1?api-version=2024-06-01"
    result = profile(run_cli, url, tmp_path, "--request-count", "3")
    assert result.returncode == 2
    assert [seen for seen, _ in model_lists.seen] == ["/v1/models?api-version=2024-06-01"]


@pytest.mark.parametrize(("key", "said"), [
    ((), "answered HTTP 401; the server wants credentials: give --api-key KEY (or set INFERLOAD_API_KEY)"),
    (("--api-key", SECRET), "answered HTTP 403; the server refused the credentials: check --api-key (or "
                            "INFERLOAD_API_KEY) or the -H authorization header"),
])
def test_a_key_protected_model_list_names_the_api_key_not_the_model(
    key: tuple[str, ...], said: str, run_cli: Any, model_lists: ModelLists, tmp_path: Path
) -> None:
    # --model would not help: every request would be refused alike
    url = f"{model_lists.url}/locked"
    result = profile(run_cli, url, tmp_path, *key, "--request-count", "3")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"inferload: error: no --model given and GET {url}/v1/models {said}"]
    assert SECRET not in result.stderr


def test_a_model_the_server_does_not_list_is_warned_and_the_run_goes_on(
    run_cli: Any, simulator: Any, tmp_path: Path
) -> None:
    # the simulator, like llama-cpp-python, answers any model name but lists only its own
    result = profile(run_cli, simulator.url, tmp_path / "typo", "-m", "nosuchmodel", "--request-count", "3",
                     "--osl", "3")
    assert result.returncode == 0, result.stderr
    said = (f"--model 'nosuchmodel' is not among the models GET {simulator.url}/v1/models lists "
            "('inferload-sim'); a server that answers any name runs it under that label: check the spelling")
    assert [line for line in result.stderr.splitlines() if "not among the models" in line] == [
        f"inferload: WARNING: {said} (some servers list aliases incompletely)"], result.stderr
    _, summary, records = load_run(tmp_path / "typo")
    assert len(records) == 3 and all(r["error"] is None for r in records)
    assert [w for w in summary["client_health"]["warnings"] if "not among the models" in w] == [
        f"{said} (some servers list aliases incompletely)"]
    listed = profile(run_cli, simulator.url, tmp_path / "right", "-m", "inferload-sim",
                     "--request-count", "3", "--osl", "3")
    assert listed.returncode == 0 and "not among the models" not in listed.stderr, listed.stderr


@pytest.fixture
def not_http() -> Iterator[str]:
    """A server that answers every connection with a line that is not HTTP, then closes it."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(2)
                try:
                    connection.recv(65536)
                    connection.sendall(b"\x1b[31mGARBAGE\r\n\r\n")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    done.set()
    thread.join(5)
    listener.close()


def test_a_model_list_that_is_not_http_is_one_line_or_no_line(
    run_cli: Any, not_http: str, tmp_path: Path
) -> None:
    # without --model: discovery fails in one line naming the kind of answer, never echoing it
    result = profile(run_cli, not_http, tmp_path / "discover", "--request-count", "2")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"inferload: error: no --model given and GET {not_http}/v1/models failed (not an HTTP answer: "
        "BadStatusLine); check --url or give --model NAME"]
    # with --model: the list check says nothing and stops nothing; the run's requests tell
    result = profile(run_cli, not_http, tmp_path / "given", "-m", "m", "--request-count", "2")
    assert "Traceback" not in result.stderr and "not among the models" not in result.stderr, result.stderr
    assert "model-listed-check" not in result.stderr
    _, _, records = load_run(tmp_path / "given")
    assert len(records) == 2 and all(r["error"] is not None for r in records)
