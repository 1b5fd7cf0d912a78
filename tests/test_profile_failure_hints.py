"""The hint a run gives fits the phase a request failed in, through the real ``inferload profile`` CLI:
a stream cut after a 200 and some chunks names servers that cut streams under concurrency (llama-cpp-python's
``interrupt_requests``) and ``--concurrency``, never ``--url``; a refused connection names ``--url``; a
connection closed before any answer names the scheme. The real llama-cpp-python server with its default
flags reproduces the cut at ``--concurrency 4``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import pick_free_port
from profile_fixtures import artifact_dir
from real_server_fixtures import build_model, models, server_python, start_server
from scripted_server import ScriptedRequest, ScriptedServer

__all__ = ["models"]  # a fixture, for pytest

CUT = "the server ended the stream early"
RUN = ("--request-count", "4", "--concurrency", "2", "--isl", "8", "--osl", "4", "--ui", "none",
       "--api-linger", "0")


def cut_stream(request: ScriptedRequest, number: int) -> bytes:
    """200, a chunked SSE stream of two content chunks, and no end: the connection closes mid-stream."""
    chunks = b"".join(
        f"data: {json.dumps({'choices': [{'index': 0, 'delta': {'content': word}}]})}\n\n".encode()
        for word in ("hello", " there")
    )
    return (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            + f"{len(chunks):x}\r\n".encode() + chunks + b"\r\n")


def closed_unanswered(request: ScriptedRequest, number: int) -> bytes:
    return b""


def run_and_summary(run_cli: Any, url: str, root: Path, *extra: str) -> tuple[Any, dict[str, Any]]:
    result = run_cli("profile", "--url", url, "-m", "m", "--streaming", "--artifact-dir", root, *RUN, *extra)
    summary = json.loads((artifact_dir(root) / "profile_export.json").read_text())
    return result, summary


def test_a_stream_cut_after_200_names_servers_that_cut_streams_not_the_url(
    run_cli: Any, tmp_path: Path
) -> None:
    with ScriptedServer(cut_stream, close_after_response=True) as server:
        result, summary = run_and_summary(run_cli, server.url, tmp_path)
    assert result.returncode == 1, result.stderr
    error = summary["error_summary"][0]
    assert error["error_details"]["type"] == "connection_error" and error["error_details"]["code"] == 200
    assert error["hint"].startswith(CUT) and "--interrupt_requests False" in error["hint"]
    assert "--url" not in error["hint"]
    failed = [line for line in result.stderr.splitlines() if "every one of the" in line]
    assert len(failed) == 1 and CUT in failed[0] and "--url" not in failed[0], result.stderr


def test_a_connection_closed_before_any_answer_names_the_scheme(run_cli: Any, tmp_path: Path) -> None:
    with ScriptedServer(closed_unanswered, close_after_response=True) as server:
        result, summary = run_and_summary(run_cli, server.url, tmp_path)
    assert result.returncode == 1, result.stderr
    error = summary["error_summary"][0]
    assert error["error_details"]["code"] is None
    assert "closed it before any response" in error["hint"] and "scheme" in error["hint"]
    assert CUT not in error["hint"]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_llama_cpp_python_with_its_default_interrupt_requests_cuts_streams_and_the_hint_says_so(
    run_cli: Any, models: Path, tmp_path: Path
) -> None:
    python = server_python("llama")
    gguf = build_model(python, "tiny_llama_gguf.py", models, "tiny.gguf")
    port = pick_free_port()  # uvicorn cannot report a port 0 it was given
    server = start_server("llama-interrupting", [str(python), "-m", "llama_cpp.server", "--model", str(gguf),
                                                 "--model_alias", "tiny", "--host", "127.0.0.1", "--port",
                                                 str(port), "--n_ctx", "1024"], port, "tiny", models)
    try:
        result = run_cli("profile", "--url", server.url, "-m", "tiny", "--tokenizer", models, "--streaming",
                         "--concurrency", "4", "--request-count", "20", "--osl", "200", "--isl", "40",
                         "--ui", "none", "--artifact-dir", tmp_path, timeout=600)
    finally:
        server.stop()
    assert result.returncode in (0, 1), result.stderr
    summary = json.loads((artifact_dir(tmp_path) / "profile_export.json").read_text())
    cut = [e for e in summary["error_summary"] if e["error_details"]["type"] == "connection_error"]
    assert cut, summary["error_summary"]  # at concurrency 4 a new request cancels the stream in flight
    assert all(e["error_details"]["code"] == 200 and e["hint"].startswith(CUT) for e in cut), cut


def test_each_transports_words_for_a_refusal_get_the_url_hint_and_a_cut_after_200_does_not() -> None:
    """The hints themselves, as the error summary builds them, per transport's wording of a refusal."""
    from inferload.hints import hint_for

    for refused in ("cannot connect to 127.0.0.1:9: [Errno 111] Connect call failed ('127.0.0.1', 9)",
                    "ClientConnectorError: Cannot connect to host 127.0.0.1:9 ssl:default",
                    "ConnectError: [Errno -2] Name or service not known"):
        hint = hint_for("connection_error", None, refused)
        assert hint is not None and "--url" in hint and CUT not in hint, refused
    for cut in ("server closed the connection before the response ended",
                "response body cut short: Response payload is not completed"):
        hint = hint_for("connection_error", 200, cut)
        assert hint is not None and hint.startswith(CUT) and "--url" not in hint, cut
