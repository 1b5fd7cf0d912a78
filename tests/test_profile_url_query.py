"""``--url`` with a query (Azure OpenAI's ``?api-version=``): every transport sends the endpoint path
joined to the URL's path with the query kept at the end, the "already ends in /v1" rule works with a query,
and a secret-named query value never reaches an artifact or the console."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from profile_fixtures import artifact_dir
from scripted_server import ScriptedServer, chat_completion

pytest_plugins = ["simulator_fixtures"]

TRANSPORTS = ("protocol", "aiohttp", "httpx")
QUICK = ("-m", "m", "--isl", "8", "--osl", "2", "--ui", "none", "--request-count", "2")


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("suffix", "endpoint", "target"),
    [
        ("/v1?api-version=2024-06-01", (), "/v1/chat/completions?api-version=2024-06-01"),
        ("/openai/deployments/gpt?api-version=2024-06-01", (),
         "/openai/deployments/gpt/v1/chat/completions?api-version=2024-06-01"),
        ("/base/?a=1&b=2", ("--endpoint", "/chat/completions?c=3"), "/base/chat/completions?a=1&b=2&c=3"),
    ],
    ids=["ends-in-v1", "deployment-path", "endpoint-query"],
)
def test_url_query_stays_at_the_end_of_every_request_target(
    run_cli: Any, tmp_path: Path, transport: str, suffix: str, endpoint: tuple[str, ...], target: str
) -> None:
    with ScriptedServer(lambda request, number: chat_completion()) as server:
        result = run_cli("profile", "--url", server.url + suffix, *endpoint, "--transport", transport,
                         "--artifact-dir", tmp_path / "art", *QUICK)
        targets = [request.target for request in server.requests]
    assert result.returncode == 0, result.stderr
    assert targets == [target, target]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_secret_query_value_is_sent_but_never_shown(run_cli: Any, tmp_path: Path, transport: str) -> None:
    secret = "Q-S3CR3T-api-key-value-77"
    with ScriptedServer(lambda request, number: chat_completion()) as server:
        result = run_cli("profile", "--url", f"{server.url}/v1?api-version=2024&api-key={secret}",
                         "--transport", transport, "--artifact-dir", tmp_path / "art", *QUICK)
        targets = [request.target for request in server.requests]
    assert result.returncode == 0, result.stderr
    assert targets == [f"/v1/chat/completions?api-version=2024&api-key={secret}"] * 2
    assert "/v1/chat/completions?api-version=2024&api-key=<redacted>" in result.stderr
    shown = result.stderr + result.stdout
    for path in artifact_dir(tmp_path / "art").rglob("*"):
        if path.is_file():
            shown += path.read_text(errors="replace")
    assert secret not in shown
    config = json.loads((artifact_dir(tmp_path / "art") / "profile_export.json").read_text())["input_config"]
    assert "api-version=2024" in config["url"]


def test_verbose_run_shows_no_query_secret_or_userinfo_in_any_log_line(
    run_cli: Any, tmp_path: Path, fast_simulator: Any
) -> None:
    """``-v`` with the server-metrics scrape on: httpx's own ``HTTP Request: GET <url>`` records pass the
    console's secret filter like ours, and -v alone does not turn on httpcore's wire debug."""
    secret, password = "QSECRET88-query-key", "PWSECRET77-userinfo"
    url = fast_simulator.url.replace("http://", f"http://tester:{password}@") + f"/v1?api-key={secret}"
    result = run_cli("profile", "--url", url, "--artifact-dir", tmp_path / "art", "-v", *QUICK)
    assert result.returncode == 0, result.stderr
    shown = result.stderr + result.stdout
    for path in artifact_dir(tmp_path / "art").rglob("*"):
        if path.is_file():
            shown += path.read_text(errors="replace")
    assert "inferload.profile: INFO: " in result.stderr  # -v's format: the logger's name on every line
    assert secret not in shown and password not in shown
    assert "httpcore" not in result.stderr and "httpx" not in result.stderr


def test_double_verbose_adds_the_http_libraries_wire_debug_still_redacted(
    run_cli: Any, tmp_path: Path, fast_simulator: Any
) -> None:
    secret = "QSECRET99-query-key"
    url = f"{fast_simulator.url}/v1?api-key={secret}"
    result = run_cli("profile", "--url", url, "--artifact-dir", tmp_path / "art", "-vv", *QUICK)
    assert result.returncode == 0, result.stderr
    assert "httpcore" in result.stderr
    assert "api-key=<redacted>" in result.stderr
    assert secret not in result.stderr + result.stdout


def test_a_config_file_extra_inputs_mapping_reaches_every_request_body(run_cli: Any, tmp_path: Path) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text("extra-inputs:\n  temperature: 0.25\n  top_p: 0.5\n")
    with ScriptedServer(lambda request, number: chat_completion()) as server:
        result = run_cli("profile", "--url", server.url, "-f", config, "--artifact-dir", tmp_path / "art",
                         *QUICK)
        bodies = [json.loads(request.body) for request in server.requests]
    assert result.returncode == 0, result.stderr
    assert [(b["temperature"], b["top_p"]) for b in bodies] == [(0.25, 0.5)] * 2


def test_a_broken_yaml_config_file_error_names_its_line(run_cli: Any, tmp_path: Path) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text("request-count: 2\nosl: [1,\n  isl: 3\n")
    result = run_cli("profile", "-f", config, "--artifact-dir", tmp_path / "art", "--ui", "none")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert f"config file {config}" in lines[0] and "at line 4, column 1" in lines[0]
