"""A run set up wrong says so in one fitting line, early, through the real ``inferload profile`` CLI.

Nothing of the run sent (the ``--url`` cannot be reached: refused, unknown host, ``https://`` to a plain-HTTP
port, ``http://`` to a TLS port):
one line naming the URL and the fix, exit 1, and no artifact directory touched. Requests sent that all
failed (401, an unknown model, a wrong path): the first failure's line with its hint while the run goes
on, the run's one error line at the end, no table of zeros on the console, exit 1, and every record kept
in the artifacts."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from profile_fixtures import FAST_SIM, artifact_dir, read_jsonl, start_simulator
from scripted_server import ScriptedRequest, ScriptedServer, json_response, self_signed_tls

RUN = ("-m", "m", "--request-count", "12", "--concurrency", "2", "--isl", "8", "--osl", "2",
       "--ui", "simple", "--api-linger", "0")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def assert_one_line_and_nothing_written(result: Any, root: Path, *needles: str) -> str:
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert not root.exists()  # nothing was sent: no directory, no log, no table
    assert result.stdout == ""
    return lines[0]


def test_an_unreachable_url_is_one_line_exit_1_and_no_artifact_directory(
    run_cli: Any, tmp_path: Path
) -> None:
    url = f"http://user:hunter2@127.0.0.1:{closed_port()}"
    result = run_cli("profile", "--url", url, "--artifact-dir", tmp_path / "art", *RUN)
    line = assert_one_line_and_nothing_written(
        result, tmp_path / "art", "cannot reach --url", "connection refused", "start the server",
        "fix the host and port in --url")
    assert "hunter2" not in line


def test_an_unreachable_url_without_model_is_the_same_one_line_before_model_discovery(
    run_cli: Any, tmp_path: Path
) -> None:
    result = run_cli("profile", "--url", f"http://127.0.0.1:{closed_port()}", "--artifact-dir",
                     tmp_path / "art", "--ui", "none")
    assert_one_line_and_nothing_written(result, tmp_path / "art", "cannot reach --url", "connection refused")


def test_an_unknown_host_is_one_line_naming_the_host(run_cli: Any, tmp_path: Path) -> None:
    result = run_cli("profile", "--url", "http://no-such-host.invalid:8000", "--artifact-dir",
                     tmp_path / "art", *RUN)
    assert_one_line_and_nothing_written(result, tmp_path / "art", "'no-such-host.invalid' is not found",
                                        "fix the host in --url")


def test_https_to_a_plain_http_port_is_one_line_saying_use_http(run_cli: Any, tmp_path: Path) -> None:
    with ScriptedServer(lambda request, number: json_response(400, {"error": "plain"})) as server:
        url = server.url.replace("http://", "https://")
        result = run_cli("profile", "--url", url, "--artifact-dir", tmp_path / "art", *RUN)
    assert_one_line_and_nothing_written(result, tmp_path / "art", "does not complete a TLS handshake",
                                        "use http:// in --url")


def test_http_to_a_tls_port_is_one_line_saying_use_https(run_cli: Any, tmp_path: Path) -> None:
    tls = self_signed_tls(tmp_path)
    with ScriptedServer(lambda request, number: json_response(200, {}), tls=tls) as server:
        host_port = server.url.removeprefix("https://")
        url = f"http://user:hunter2@{host_port}"
        result = run_cli("profile", "--url", url, "--artifact-dir", tmp_path / "art", *RUN)
        assert server.requests == []  # nothing of the run was sent
    line = assert_one_line_and_nothing_written(
        result, tmp_path / "art", f"the server at {host_port} speaks TLS; use https:// in --url")
    assert "hunter2" not in line


def test_http_to_a_plain_port_sends_only_the_probe_and_runs(run_cli: Any, tmp_path: Path) -> None:
    with ScriptedServer(lambda request, number: json_response(400, {"error": "plain"})) as server:
        result = run_cli("profile", "--url", server.url, "--artifact-dir", tmp_path / "art", *RUN)
    assert "speaks TLS" not in result.stderr
    assert len(server.requests) == 12  # the run's requests, every one sent: the probe is not among them


def test_an_unreachable_url_leaves_an_earlier_runs_directory_as_it_was(
    run_cli: Any, tmp_path: Path
) -> None:
    run_dir = tmp_path / "m-chat-concurrency2"
    run_dir.mkdir()
    (run_dir / "profile_export.json").write_text('{"benchmark_id": "earlier"}')
    result = run_cli("profile", "--url", f"http://127.0.0.1:{closed_port()}", "--artifact-dir", tmp_path,
                     *RUN)
    assert result.returncode == 1, result.stderr
    assert [p.name for p in tmp_path.iterdir()] == [run_dir.name]
    assert (run_dir / "profile_export.json").read_text() == '{"benchmark_id": "earlier"}'


def refuse_credentials(request: ScriptedRequest, number: int) -> bytes:
    return json_response(401, {"error": {"message": "Invalid API key"}}, reason="Unauthorized")


@pytest.mark.parametrize("case", ["401", "unknown-model", "wrong-path"])
def test_requests_that_all_fail_at_start_say_so_early_in_one_line_and_keep_every_record(
    run_cli: Any, inferload_exe: Path, cli_env: Any, tmp_path: Path, case: str
) -> None:
    # 401: fewer requests than the refusals that end a run early (guard-credentials), so it runs to its end
    total = 6 if case == "401" else 12
    if case == "401":
        with ScriptedServer(refuse_credentials) as server:
            result = run_cli("profile", "--url", server.url, "--api-key", "sk-wrong-key-123",
                             "--artifact-dir", tmp_path / "art", *(a if a != "12" else "6" for a in RUN))
        fix = "check --api-key"
    else:
        sim = start_simulator(inferload_exe, cli_env(), tmp_path, *FAST_SIM, "--strict-model",
                              "--served-model-name", "m")
        try:
            extra = ("--endpoint", "/v2/chat") if case == "wrong-path" else ()
            args = [a if a != "m" or case != "unknown-model" else "no-such-model" for a in RUN]
            result = run_cli("profile", "--url", sim.url, *extra, "--artifact-dir", tmp_path / "art", *args)
        finally:
            sim.stop()
        fix = "--endpoint" if case == "wrong-path" else "pass the name it serves with --model"
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    early = [i for i, line in enumerate(lines) if line.startswith("inferload: WARNING: request ")]
    final = [i for i, line in enumerate(lines)
             if f"every one of the {total} profiling requests failed" in line]
    assert len(early) == 1 and fix in lines[early[0]], lines
    assert len(final) == 1 and fix in lines[final[0]], lines
    progress_end = max(i for i, line in enumerate(lines) if line.startswith("inferload: [profiling]"))
    assert early[0] < progress_end < final[0]  # said while the run went on, then the verdict
    assert "sk-wrong-key-123" not in result.stderr
    assert "LLM Metrics" not in result.stdout + result.stderr  # no table of zeros on the console
    run = artifact_dir(tmp_path / "art")
    assert len(read_jsonl(run / "profile_export.jsonl")) == total  # every request sent is kept
    assert "LLM Metrics" in (run / "profile_export_console.txt").read_text()
    assert json.loads((run / "profile_export.json").read_text())["is_complete"] is False


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_end_a_long_run_early_with_one_line_and_every_record(
    run_cli: Any, tmp_path: Path, status: int
) -> None:
    def refuse(request: ScriptedRequest, number: int) -> bytes:
        return json_response(status, {"error": {"message": "Invalid API key sk-wrong-key-123"}})

    with ScriptedServer(refuse) as server:
        result = run_cli("profile", "--url", server.url, "--api-key", "sk-wrong-key-123", "-m", "m",
                         "--benchmark-duration", "600", "--concurrency", "2", "--isl", "8", "--osl", "2",
                         "--ui", "simple", "--api-linger", "0", "--artifact-dir", tmp_path / "art")
        sent = len(server.requests)
    assert result.returncode == 1, result.stderr
    stops = [line for line in result.stderr.splitlines() if "stopped early" in line]
    assert len(stops) == 1, result.stderr
    assert f"were refused with HTTP {status} (Invalid API key" in stops[0]
    assert "--api-key or INFERLOAD_API_KEY" in stops[0]
    assert "sk-wrong-key-123" not in result.stderr + result.stdout
    assert "every one of the" not in result.stderr  # the stop line is the run's one error line
    run = artifact_dir(tmp_path / "art")
    records = read_jsonl(run / "profile_export.jsonl")
    assert len(records) == sent >= 8  # every request sent is kept
    summary = json.loads((run / "profile_export.json").read_text())
    assert summary["is_complete"] is False and "stopped early" in summary["client_health"]["warnings"][0]


def test_a_slow_refusing_server_ends_the_run_after_the_first_seconds_with_fewer_refusals(
    run_cli: Any, tmp_path: Path
) -> None:
    def refuse_slowly(request: ScriptedRequest, number: int) -> bytes:
        time.sleep(1.0)  # one request at a time: fewer than 8 can finish in the first 5 s
        return json_response(401, {"error": {"message": "Invalid API key"}})

    with ScriptedServer(refuse_slowly) as server:
        result = run_cli("profile", "--url", server.url, "-m", "m", "--benchmark-duration", "600",
                         "--concurrency", "1", "--isl", "8", "--osl", "2", "--ui", "none",
                         "--api-linger", "0", "--artifact-dir", tmp_path / "art")
        sent = len(server.requests)
    assert result.returncode == 1, result.stderr
    (line,) = [line for line in result.stderr.splitlines() if "stopped early" in line]
    assert "requests finished in the first 5 s were refused with HTTP 401" in line
    assert len(read_jsonl(artifact_dir(tmp_path / "art") / "profile_export.jsonl")) == sent < 8


@pytest.mark.parametrize("status", [429, 503])
def test_statuses_that_can_heal_do_not_end_the_run_early(run_cli: Any, tmp_path: Path, status: int) -> None:
    with ScriptedServer(lambda request, number: json_response(status, {"error": "busy"})) as server:
        result = run_cli("profile", "--url", server.url, "--artifact-dir", tmp_path / "art", *RUN)
        assert len(server.requests) == 12
    assert result.returncode == 1 and "stopped early" not in result.stderr, result.stderr
    assert "every one of the 12 profiling requests failed" in result.stderr


def test_with_wait_for_model_timeout_an_unreachable_url_is_left_to_that_wait(
    run_cli: Any, tmp_path: Path
) -> None:
    result = run_cli("profile", "--url", f"http://127.0.0.1:{closed_port()}", "--wait-for-model-timeout", "1",
                     "--artifact-dir", tmp_path / "art", *RUN)
    assert result.returncode == 1, result.stderr
    assert "cannot reach --url" not in result.stderr  # the server may still be starting: the wait decides
    assert "--wait-for-model-timeout 1 s" in result.stderr, result.stderr
