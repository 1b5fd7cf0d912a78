"""A server that closes the connection after each complete response without ``Connection: close`` (some
proxies and small servers do): on every transport, every request succeeds. A pooled connection that has
seen the server's EOF is never reused, and a request whose reused connection fails before a byte of the
answer is sent once more on a new connection; a failure on a new connection is never retried."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from profile_fixtures import artifact_dir, read_jsonl
from scripted_server import ScriptedServer, chat_completion

TRANSPORTS = ("protocol", "aiohttp", "httpx")
COUNT = 12


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_server_closing_after_every_response_loses_no_request(
    run_cli: Any, tmp_path: Path, transport: str
) -> None:
    with ScriptedServer(lambda request, number: chat_completion(), close_after_response=True) as server:
        result = run_cli(
            "profile", "--url", server.url, "-m", "m", "--transport", transport, "--concurrency", "2",
            "--request-count", str(COUNT), "--isl", "8", "--osl", "2", "--artifact-dir", tmp_path / "art",
            "--ui", "none",
        )
        connections = {request.connection for request in server.requests}
        arrived = len(server.requests)
    assert result.returncode == 0, result.stderr
    records = read_jsonl(artifact_dir(tmp_path / "art") / "profile_export.jsonl")
    assert len(records) == COUNT and [r["error"] for r in records] == [None] * COUNT
    # each request had a connection of its own (the server allowed no second one), and none was lost
    assert arrived == COUNT and len(connections) == COUNT


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_server_that_drops_every_request_unanswered_is_tried_once_per_request(
    run_cli: Any, tmp_path: Path, transport: str
) -> None:
    # the server reads each request and closes without a byte. Only a try on a pooled connection is
    # retried: the protocol transport opens its connection before t=0, so its first request goes out on a
    # pooled one and is sent twice; every later try is on a new connection (a failed one is never pooled)
    # and is the request's error at once
    with ScriptedServer(lambda request, number: b"", close_after_response=True) as server:
        result = run_cli(
            "profile", "--url", server.url, "-m", "m", "--transport", transport, "--request-count", "3",
            "--isl", "8", "--osl", "2", "--artifact-dir", tmp_path / "art", "--ui", "none",
        )
        arrived = len(server.requests)
    assert result.returncode == 1, result.stderr
    records = read_jsonl(artifact_dir(tmp_path / "art") / "profile_export.jsonl")
    assert [r["error"]["type"] for r in records] == ["connection_error"] * 3
    assert arrived == (4 if transport == "protocol" else 3)
    summary = json.loads((artifact_dir(tmp_path / "art") / "profile_export.json").read_text())
    assert summary["error_summary"][0]["count"] == 3
