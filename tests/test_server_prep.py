"""--reset-kv-cache and --wait-for-model-timeout against a real loopback server that boots slowly and
records what it receives, through the CLI as typed."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from tests.profile_fixtures import stop_process

from scripted_server import ScriptedServer, json_response, self_signed_tls


class BootingServer:
    """OpenAI chat (not streamed) on 127.0.0.1:0 that answers 503 ("model is loading") until it is ready —
    from the start when ``ready``, else once the test calls :meth:`release`, so the boot lasts exactly as
    long as the test wants whatever the machine's load — and 200 on the cache reset paths it ``supports``
    (404 on others). ``log`` holds (path, status) of every request in arrival order."""

    def __init__(self, ready: bool, supports: tuple[str, ...]) -> None:
        self.ready = threading.Event()
        if ready:
            self.ready.set()
        self.supports = supports
        self.log: list[tuple[str, int]] = []
        self._logged = threading.Condition()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/v1/chat/completions":
                    ready = server.ready.is_set()
                    status = 200 if ready else 503
                    answer = {"index": 0, "message": {"role": "assistant", "content": "a b"},
                              "finish_reason": "stop"}
                    usage = {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}
                    body = {"id": "x", "object": "chat.completion", "model": "m", "choices": [answer],
                            "usage": usage} if ready \
                        else {"error": {"message": "model is loading", "type": "unavailable"}}
                else:
                    status = 200 if self.path in server.supports else 404
                    body = {} if status == 200 else {"detail": "Not Found"}
                with server._logged:
                    server.log.append((self.path, status))
                    server._logged.notify_all()
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def wait_for_loading_answers(self, count: int, timeout: float) -> bool:
        """Block until the server has answered ``count`` requests with 503 (True), or ``timeout`` seconds
        passed (False: a safety net for a hung CLI, never the condition a test relies on)."""
        with self._logged:
            return self._logged.wait_for(lambda: self.log.count(("/v1/chat/completions", 503)) >= count,
                                         timeout)

    def release(self) -> None:
        """End the boot: every later chat request is answered 200."""
        self.ready.set()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def booting() -> Iterator[Any]:
    servers: list[BootingServer] = []

    def make(ready: bool = True, supports: tuple[str, ...] = ()) -> BootingServer:
        servers.append(BootingServer(ready, supports))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


ARGS = ("-m", "m", "--request-count", "3", "--osl", "2", "--isl", "4", "--ui", "none")


def test_sweep_waits_for_a_booting_model_and_resets_the_cache_before_every_run(
    inferload_exe: Path, cli_env: Any, booting: Any, tmp_path: Path
) -> None:
    server = booting(ready=False, supports=("/reset_prefix_cache",))
    process = subprocess.Popen(
        [str(inferload_exe), "profile", "--url", server.url, *ARGS, "--concurrency", "1,2",
         "--num-profile-runs", "2", "--reset-kv-cache", "--wait-for-model-timeout", "60",
         "--artifact-dir", str(tmp_path)],
        env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # the wait sees the model loading, and keeps asking while it is: the boot ends when the test says
        assert server.wait_for_loading_answers(2, timeout=120), server.log
        assert process.poll() is None, process.communicate()
        server.release()
        _, stderr = process.communicate(timeout=240)
    finally:
        stop_process(process)
    assert process.returncode == 0, stderr
    paths = [path for path, _ in server.log]
    assert paths.count("/reset_prefix_cache") == 4  # 2 variations x 2 trials
    # before the first request of the first run: sglang's path is tried first (name order) and fails, then
    # vLLM's works and is the only one tried from then on
    assert paths[:2] == ["/flush_cache", "/reset_prefix_cache"] and paths.count("/flush_cache") == 1
    # the wait saw the model loading, only before the first run's first measured request …
    loading = [i for i, entry in enumerate(server.log) if entry == ("/v1/chat/completions", 503)]
    assert len(loading) >= 2 and loading == list(range(2, 2 + len(loading)))
    runs = sorted(tmp_path.glob("*/v*/trial*/profile_export.json"))
    assert len(runs) == 4
    for run in runs:  # … and no measured request did
        summary = json.loads(run.read_text())
        errors = summary.get("error_request_count", {}).get("avg", 0)
        assert summary["request_count"]["avg"] == 3 and errors == 0
    # between two resets: the probe (one-token request) and the run's 3 requests, never another run's
    segments = "|".join(paths).split("/reset_prefix_cache")[1:]
    assert [segment.count("/v1/chat/completions") >= 4 for segment in segments] == [True] * 4


def test_reset_finds_sglangs_flush_cache_and_remembers_it(run_cli: Any, booting: Any, tmp_path: Path) -> None:
    server = booting(supports=("/flush_cache",))
    result = run_cli("profile", "--url", server.url, *ARGS, "--concurrency", "1,2", "--reset-kv-cache",
                     "--artifact-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    resets = [(p, s) for p, s in server.log if p != "/v1/chat/completions"]
    # name order tries sglang first; it works, so it is the one used for the next variation too
    assert resets == [("/flush_cache", 200), ("/flush_cache", 200)]


def test_reset_kv_cache_path_overrides_the_plugins(run_cli: Any, booting: Any, tmp_path: Path) -> None:
    server = booting(supports=("/admin/cache/clear",))
    result = run_cli("profile", "--url", server.url, *ARGS, "--reset-kv-cache",
                     "--reset-kv-cache-path", "/admin/cache/clear", "--artifact-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    assert [p for p, _ in server.log if p != "/v1/chat/completions"] == ["/admin/cache/clear"]


def test_unsupported_server_gets_one_warning_and_the_sweep_goes_on(
    run_cli: Any, booting: Any, tmp_path: Path
) -> None:
    server = booting()
    result = run_cli("profile", "--url", server.url, *ARGS, "--concurrency", "1,2,4", "--reset-kv-cache",
                     "--artifact-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("has no cache reset inferload knows") == 1
    assert len(list(tmp_path.glob("*/v*/profile_export.json"))) == 3
    first = json.loads(next(iter(sorted(tmp_path.glob("*/v00*/profile_export.json")))).read_text())
    assert any("no cache reset" in w for w in first["client_health"]["warnings"])


def test_a_model_that_never_loads_fails_the_run_after_the_timeout(
    run_cli: Any, booting: Any, tmp_path: Path
) -> None:
    server = booting(ready=False)  # never released
    result = run_cli("profile", "--url", server.url, *ARGS, "--wait-for-model-timeout", "1",
                     "--artifact-dir", tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert "did not answer a one-token request within --wait-for-model-timeout 1 s (last: HTTP 503)" \
        in lines[-1]
    assert "Traceback" not in result.stderr
    assert all(status == 503 for _, status in server.log)


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_end_the_wait_for_the_model_at_once(
    run_cli: Any, tmp_path: Path, status: int
) -> None:
    key = "sk-wrong-S3CR3T-9"
    with ScriptedServer(lambda request, number: json_response(
            status, {"error": {"message": f"invalid key {key}"}})) as server:
        result = run_cli("profile", "--url", server.url, *ARGS, "--api-key", key,
                         "--wait-for-model-timeout", "600", "--artifact-dir", tmp_path)
        probes = len(server.requests)
    assert result.returncode == 1, result.stderr
    assert probes == 1  # no retry: the wait ended at the first refusal
    line = result.stderr.strip().splitlines()[-1]
    assert f"refused the credentials of the one-token request (HTTP {status}: " in line
    assert "--api-key or INFERLOAD_API_KEY" in line
    assert key not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("case", ["http-to-tls", "https-to-plain"])
def test_the_wrong_scheme_ends_the_wait_for_the_model_at_once(
    run_cli: Any, tmp_path: Path, case: str
) -> None:
    tls = self_signed_tls(tmp_path) if case == "http-to-tls" else None
    with ScriptedServer(lambda request, number: json_response(200, {}), tls=tls) as server:
        scheme, rest = server.url.split("://")
        url = f"{'https' if scheme == 'http' else 'http'}://{rest}"
        result = run_cli("profile", "--url", url, *ARGS, "--wait-for-model-timeout", "600",
                         "--artifact-dir", tmp_path / "art")
    assert result.returncode == 1, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert f"cannot reach --url {url}: " in line
    fix = f"the server at {rest} speaks TLS; use https://" if tls else "it probably speaks plain HTTP; use http://"
    assert fix in line and "Traceback" not in result.stderr


@pytest.mark.parametrize("given", [("--reset-kv-cache",), ("--wait-for-model-timeout", "5"),
                                   ("--reset-kv-cache", "--reset-kv-cache-path", "/flush")])
def test_server_prep_flags_are_refused_naming_the_plugin_when_it_is_disabled(
    run_cli: Any, booting: Any, tmp_path: Path, given: tuple[str, ...]
) -> None:
    server = booting(ready=True, supports=("/reset_prefix_cache",))
    result = run_cli("--disable-plugin", "server-prep", "profile", "--url", server.url, *ARGS, *given,
                     "--artifact-dir", tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"{given[0]} belongs to plugin server-prep, which is disabled" in lines[0]
    assert server.log == []  # refused before any request
    assert not list(tmp_path.glob("**/profile_export.json"))


def test_reset_kv_cache_path_without_the_reset_is_one_usage_line(run_cli: Any, tmp_path: Path) -> None:
    result = run_cli("profile", "--url", "http://127.0.0.1:9", *ARGS, "--reset-kv-cache-path", "/flush",
                     "--artifact-dir", tmp_path)
    assert result.returncode == 2
    assert "--reset-kv-cache-path needs --reset-kv-cache" in result.stderr
    assert "Traceback" not in result.stderr
