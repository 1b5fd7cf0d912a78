"""Secrets never leave the process: a real `inferload profile` run, with a secret in every place a user can
put one, against a server that echoes every header and body back (in streamed answers and in error
bodies), on every transport; no artifact file, API route, log line or console line may hold one."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from echo_server import EchoServer
from profile_fixtures import wait_for

TRANSPORTS = ("protocol", "aiohttp", "httpx")
ROUTES = (
    "/api/config",
    "/api/run",
    "/api/results",
    "/api/results/list",
    "/api/metrics",
    "/api/progress",
    "/api/workers",
    "/api/timeline",
    "/dashboard",
    "/metrics",
    "/healthz",
    "/readyz",
    "/openapi.json",
)


def _flag_secrets(url: str, workdir: Path) -> tuple[list[str], dict[str, str], list[str]]:
    """Secrets in every flag spelling, plus an env API key and config-file values the flags override."""
    config = workdir / "settings.yaml"
    config.write_text("api-key: file-apikey-S3CR3T\nextra-inputs: ['password:file-extra-S3CR3T']\n")
    args = [
        "--url",
        url,
        "-f",
        str(config),
        "--api-key",
        "flag-apikey-space-S3CR3T",
        "--api-key=flag-apikey-eq-S3CR3T",
        "-H",
        "Authorization: Bearer header-auth-S3CR3T",
        "-HX-Api-Key:header-attached-S3CR3T",
        "--header=X-Auth-Token: header-eq-S3CR3T",
        "--header",
        "Cookie: sid=header-cookie-S3CR3T",
        "--extra-inputs",
        'api_token:"extra-kv-S3CR3T"',
        "--extra-inputs",
        '{"auth": {"client_secret": "extra-nested-S3CR3T"}, "temperature": 0.5}',
        "--api-token=flag-apitoken-S3CR3T",
    ]
    secrets = [
        "file-apikey-S3CR3T",
        "file-extra-S3CR3T",
        "flag-apikey-space-S3CR3T",
        "flag-apikey-eq-S3CR3T",
        "header-auth-S3CR3T",
        "header-attached-S3CR3T",
        "header-eq-S3CR3T",
        "header-cookie-S3CR3T",
        "extra-kv-S3CR3T",
        "extra-nested-S3CR3T",
        "env-apikey-S3CR3T",
        "flag-apitoken-S3CR3T",
    ]
    return args, {"INFERLOAD_API_KEY": "env-apikey-S3CR3T"}, secrets


def _url_file_env_secrets(url: str, workdir: Path) -> tuple[list[str], dict[str, str], list[str]]:
    """URL userinfo (sent as Basic auth), a config-file header and env-var extra inputs."""
    config = workdir / "settings.json"
    config.write_text(json.dumps({"header": ["X-Api-Key: file-header-S3CR3T"]}))
    userinfo_url = url.replace("http://", "http://echo-user:url-pass-S3CR3T@")
    basic = base64.b64encode(b"echo-user:url-pass-S3CR3T").decode()
    env = {"INFERLOAD_EXTRA_INPUTS": json.dumps(['secret_key:"env-extra-S3CR3T"']),
           "INFERLOAD_API_TOKEN": "env-apitoken-S3CR3T"}
    secrets = ["url-pass-S3CR3T", basic, "file-header-S3CR3T", "env-extra-S3CR3T", "env-apitoken-S3CR3T"]
    return ["--url", userinfo_url, "-f", str(config)], env, secrets


def _run_and_collect(
    inferload_exe: Path, cli_env: Any, workdir: Path, args: list[str], env: dict[str, str], transport: str
) -> tuple[dict[str, bytes], str, str, int]:
    """Run the profile in ``workdir`` with the default artifact dir and the API on a free port; return
    every route's and every download's body, stdout, stderr and the exit code."""
    process = subprocess.Popen(
        [
            str(inferload_exe),
            "profile",
            *args,
            "-m",
            "echo-model",
            "--streaming",
            "--request-count",
            "12",
            "--concurrency",
            "2",
            "--isl",
            "8",
            "--osl",
            "4",
            "--ui",
            "none",
            "--transport",
            transport,
            "--api-port",
            "0",
            "--api-linger",
            "inf",
        ],
        cwd=workdir,
        env=cli_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stderr_lines: list[str] = []
    reader = threading.Thread(target=lambda: stderr_lines.extend(iter(process.stderr.readline, "")))
    reader.start()
    bodies: dict[str, bytes] = {}
    try:
        wait_for(
            lambda: any("HTTP API on " in line for line in stderr_lines) or process.poll() is not None,
            timeout=60,
        )
        line = next(line for line in stderr_lines if "HTTP API on " in line)
        base = line.split("HTTP API on ", 1)[1].split()[0]
        wait_for(
            lambda: httpx.get(f"{base}/api/results", timeout=5).json()["status"] != "running", timeout=90
        )
        for route in ROUTES:
            bodies[route] = httpx.get(f"{base}{route}", timeout=5).content
        listed = json.loads(bodies["/api/results/list"])["files"]
        for entry in listed:
            response = httpx.get(f"{base}/api/results/files/{entry['path']}", timeout=5)
            assert response.status_code == 200, entry
            bodies[entry["path"]] = response.content
    finally:
        process.send_signal(signal.SIGINT)  # ends the infinite linger
        stdout, _ = process.communicate(timeout=60)
        reader.join(10)
    return bodies, stdout, "".join(stderr_lines), process.returncode


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("placement", [_flag_secrets, _url_file_env_secrets], ids=["flags", "url-file-env"])
def test_no_secret_reaches_any_artifact_route_log_or_console(
    inferload_exe: Path, cli_env: Any, tmp_path: Path, transport: str, placement: Any
) -> None:
    with EchoServer(error_every=4) as server:
        args, env, secrets = placement(server.url, tmp_path)
        bodies, stdout, stderr, code = _run_and_collect(
            inferload_exe, cli_env, tmp_path, args, env, transport
        )
    assert code == 0, stderr
    # the secrets really travelled: the server saw them, and its echoes came back in answers and errors
    sent = [f"{name}: {value}" for request in server.requests for name, value in request.headers]
    sent_bodies = b"".join(request.body for request in server.requests)
    # the 12 requests, plus the server-metrics scraper's GET /metrics and the model-list check's GET
    # /v1/models (both sent with the same secret headers; the echoed list names no model: nothing said)
    assert len([request for request in server.requests if request.method == "POST"]) == 12
    got = {request.path for request in server.requests if request.method == "GET"}
    assert got == {"/metrics", "/v1/models"}
    assert any(secret in line or secret.encode() in sent_bodies for line in sent for secret in secrets)
    # the default relative artifact dir: every export listed and served, and scrubbed on disk
    assert {
        "profile_export.json",
        "profile_export.jsonl",
        "profile_export.csv",
        "inputs.json",
        "logs/inferload.log",
    } <= set(bodies)
    files = {
        str(p.relative_to(tmp_path)): p.read_bytes()
        for p in (tmp_path / "artifacts").rglob("*")
        if p.is_file()
    }
    records = [json.loads(line) for line in bodies["profile_export.jsonl"].splitlines()]
    assert len(records) == 12 and sum(r["error"] is not None for r in records) == 3
    assert all("<redacted>" in r["error"]["message"] for r in records if r["error"])
    if placement is _flag_secrets:  # inputs.json keeps each payload's shape, the secret values replaced
        payload = json.loads(bodies["inputs.json"])["data"][0]["payloads"][0]
        assert payload["api_token"] == "<redacted>" and payload["temperature"] == 0.5
        assert payload["auth"] == {"client_secret": "<redacted>"}
    leaks = [
        (where, secret)
        for secret in secrets
        for where, blob in [
            *bodies.items(),
            *files.items(),
            ("stdout", stdout.encode()),
            ("stderr", stderr.encode()),
        ]
        if secret.encode() in blob
    ]
    assert leaks == []


def test_url_userinfo_is_sent_as_the_same_basic_auth_by_every_transport(
    inferload_exe: Path, cli_env: Any, tmp_path: Path, run_cli: Any
) -> None:
    seen: dict[str, set[str]] = {}
    for transport in TRANSPORTS:
        with EchoServer(error_every=0) as server:
            url = server.url.replace("http://", "http://us%40er:p%3Ass@")
            result = run_cli(
                "profile",
                "--url",
                url,
                "-m",
                "m",
                "--streaming",
                "--request-count",
                "2",
                "--isl",
                "8",
                "--ui",
                "none",
                "--transport",
                transport,
                "--artifact-dir",
                tmp_path / transport,
            )
        assert result.returncode == 0, result.stderr
        seen[transport] = {v for r in server.requests for n, v in r.headers if n.lower() == "authorization"}
        hosts = {v for r in server.requests for n, v in r.headers if n.lower() == "host"}
        assert not any("@" in host for host in hosts), hosts
    expected = "Basic " + base64.b64encode(b"us@er:p:ss").decode()
    assert seen == {transport: {expected} for transport in TRANSPORTS}


def test_an_endpoint_types_api_key_header_is_sent_by_every_transport_and_never_written(
    inferload_exe: Path, cli_env: Any, tmp_path: Path, run_cli: Any
) -> None:
    """--api-key as the endpoint type sends it (Anthropic's ``x-api-key``, beside its ``anthropic-version``)
    goes out on every transport through the one header merge, with URL userinfo still Basic auth and -H
    kept; the echo server puts it back into answers and 500 bodies, and no output holds it."""
    secret = "sk-ant-every-transport-S3CR3T"
    basic = "Basic " + base64.b64encode(b"bob:pw").decode()
    for transport in TRANSPORTS:
        with EchoServer(error_every=2) as server:
            result = run_cli(
                "profile", "--url", server.url.replace("http://", "http://bob:pw@"), "-m", "m",
                "--endpoint-type", "anthropic_messages", "--streaming", "--api-key", secret,
                "-H", "X-Team: blue", "--request-count", "4", "--isl", "8", "--ui", "none",
                "--transport", transport, "--artifact-dir", tmp_path / transport,
            )
        # the echo answers in OpenAI's stream shape, so the run fails; what it sent and wrote is the point
        assert "Traceback" not in result.stderr, result.stderr
        # the benchmark's requests; the rest are the server-metrics scraper's GETs of /metrics and the
        # model-list check's GET /v1/models
        posts = [r for r in server.requests if r.method == "POST"]
        assert len(posts) == 4, (transport, result.stderr)
        others = {r.path for r in server.requests if r.method != "POST"}
        assert others <= {"/metrics", "/v1/models"}, transport
        for request in posts:
            headers: dict[str, list[str]] = {}
            for name, value in request.headers:
                headers.setdefault(name.lower(), []).append(value)
            assert request.path == "/v1/messages"
            assert headers["x-api-key"] == [secret], transport
            assert headers["anthropic-version"] == ["2023-06-01"], transport
            assert headers["authorization"] == [basic], transport  # userinfo, never Bearer
            assert headers["x-team"] == ["blue"], transport
        written = [p for p in (tmp_path / transport).rglob("*") if p.is_file()]
        assert any(p.name == "profile_export.jsonl" for p in written), transport
        leaks = [p.name for p in written if secret.encode() in p.read_bytes()]
        assert leaks == [] and secret not in result.stdout + result.stderr, transport
