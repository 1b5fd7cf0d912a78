"""The live API's server is a plugin of the ``api_host`` category: the catalogue's default (the FastAPI app on
uvicorn) serves the routes through the core's one call, disabling it makes ``--api-port`` one usage line
naming the plugin, a run without ``--api-port`` does not need it, and a third-party host installed as the
default is driven by the engine in its order: bound before the artifacts, started when the workers are
ready, stopped after the linger.

Runs go through the real ``inferload`` CLI; the third-party host is a real installed distribution that
binds a real socket."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

from api_state_factory import make_state
from inferload.engine.live_api import open_api_host
from inferload.registry import LoadRules, load_plugins
from profile_fixtures import artifact_dir

SMALL_RUN = ("--request-count", "3", "--isl", "8", "--osl", "3", "--ui", "none")
DISABLED_HOST = (
    "inferload: error: the default api host comes from plugin 'api-host-uvicorn', which is disabled: enable "
    "it (drop --disable-plugin api-host-uvicorn) or give no --api-port (a run without its live API)"
)

# A host on the standard library's HTTP server: /healthz from the state, each call journalled with the
# run's lifecycle at that moment.
JOURNAL_HOST = """\
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from inferload import hookimpl
from inferload.types import ApiHostSpec


def note(line):
    with open(os.environ["HOST_JOURNAL"], "a", encoding="utf-8") as journal:
        journal.write(line + "\\n")


@hookimpl
def register_api_hosts():
    return [ApiHostSpec(name="journal", description="stdlib host, journalled", factory=JournalHost)]


class JournalHost:
    def __init__(self, *, registry, state, host, port):
        self.state, self.host, self.port, self.server = state, host, port, None
        note(f"built {sorted(registry.all('api_router'))[0]}")

    @property
    def url(self):
        return f"http://{self.host}:{self.server.server_address[1]}"

    def bind(self):
        state = self.state

        class Health(BaseHTTPRequestHandler):
            def do_GET(self):
                body = state.lifecycle.value.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((self.host, self.port), Health)
        note(f"bind {self.state.lifecycle.value}")

    def start(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        note(f"start {self.state.lifecycle.value}")

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            note(f"stop {self.state.lifecycle.value}")
            self.server = None
"""


def test_the_catalogue_default_host_serves_the_routes_and_the_docs(tmp_path: Path) -> None:
    registry = load_plugins(LoadRules())
    server = open_api_host(registry, make_state(tmp_path / "artifacts"), host="127.0.0.1", port=0)
    server.start()
    try:
        with httpx.Client(base_url=server.url) as client:
            assert client.get("/healthz").status_code == 200
            assert "/api/progress" in client.get("/openapi.json").json()["paths"]
            assert client.get("/docs").status_code == 200
    finally:
        server.stop()


@pytest.mark.parametrize("load", [("--concurrency", "1"), ("--concurrency", "1,2")], ids=["run", "sweep"])
def test_disabling_the_host_with_api_port_is_one_line_naming_the_plugin_and_touches_nothing(
    run_cli: Any, tmp_path: Path, load: tuple[str, ...]
) -> None:
    done = run_cli("--disable-plugin", "api-host-uvicorn", "profile", "--api-port", "0", *load,
                   "--artifact-dir", tmp_path, *SMALL_RUN)
    assert done.returncode == 2
    assert done.stderr.strip() == DISABLED_HOST
    assert not any(tmp_path.iterdir())


def test_a_sweep_whose_api_port_is_taken_leaves_the_previous_sweeps_results_alone(
    run_cli: Any, tmp_path: Path
) -> None:
    previous = tmp_path / "inferload-sim-chat-sweep" / "sweep_summary.json"
    previous.parent.mkdir()
    previous.write_text("{}")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli("profile", "--concurrency", "1,2", "--api-port", port, "--artifact-dir", tmp_path,
                       *SMALL_RUN)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"inferload: error: cannot serve the HTTP API on 127.0.0.1:{port}: "), line
    assert previous.read_text() == "{}"


def test_a_run_without_api_port_needs_no_host(run_cli: Any, tmp_path: Path) -> None:
    done = run_cli("--disable-plugin", "api-host-uvicorn", "profile", "--artifact-dir", tmp_path, *SMALL_RUN)
    assert done.returncode == 0, done.stderr
    export = json.loads((artifact_dir(tmp_path) / "profile_export.json").read_text())
    assert export["request_count"]["avg"] == 3


def test_a_third_party_default_host_is_bound_started_and_stopped_in_the_engines_order(
    run_cli: Any, plugin_site: Any, tmp_path: Path
) -> None:
    plugin_site.add_distribution("inferload-journal-host", {"journal-host": "inferload_journal_host "
                                                            "[default_api_host]"},
                                 {"inferload_journal_host": JOURNAL_HOST})
    journal = tmp_path / "journal"
    done = run_cli("--disable-plugin", "api-host-uvicorn", "profile", "--api-port", "0",
                   "--api-linger", "0.2", "--artifact-dir", tmp_path / "art", *SMALL_RUN,
                   env={**plugin_site.env, "HOST_JOURNAL": str(journal)})
    assert done.returncode == 0, done.stderr
    # built with the registry's routers, bound before the run started, serving from the run's start, stopped
    # once the results are complete (after the linger)
    assert journal.read_text().splitlines() == [
        "built api-config", "bind starting", "start starting", "stop complete",
    ]
    assert "results served at http://127.0.0.1:" in done.stderr
