"""What goes on the wire and what the run says about it: the headers every transport sends (a user's
``-H`` replacing a built-in one), the per-request ``X-Request-Id`` UUID kept in the records, standard
OpenAI body fields by default, and the output-length check when the server misses the asked ``--osl``.

Requests are captured by a raw-socket loopback server that answers a fixed chat completion, so the test
sees the exact header block each transport wrote.
"""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inferload.records import PROFILING, RequestRecord
from inferload_plugins.summaries.output_length import check_output_length
from profile_fixtures import FAST_SIM, artifact_dir, read_jsonl, start_simulator

_ANSWER = json.dumps({
    "id": "c1", "object": "chat.completion", "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "two words"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
}).encode()


class CapturingServer:
    """Answers every POST with :data:`_ANSWER` over keep-alive connections; keeps each request's head
    (as a list of (name, value)) and body."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.requests: list[tuple[list[tuple[str, str]], bytes]] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                if head.startswith(b"GET "):  # the server-metrics scraper's GET /metrics: not captured
                    conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                    continue
                lines = head.decode("latin-1").split("\r\n")[1:]
                headers = [(name.strip(), value.strip()) for name, value in
                           (line.split(":", 1) for line in lines)]
                length = int(next(v for n, v in headers if n.lower() == "content-length"))
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                body, buffer = buffer[:length], buffer[length:]
                with self.lock:
                    self.requests.append((headers, body))
                head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                conn.sendall(head % len(_ANSWER) + _ANSWER)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def capture() -> Iterator[CapturingServer]:
    server = CapturingServer()
    yield server
    server.close()


def _values(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [value for key, value in headers if key.lower() == name.lower()]


@pytest.mark.parametrize("transport", ["protocol", "aiohttp", "httpx"])
def test_every_request_carries_a_fresh_uuid_request_id_that_its_record_keeps(
    run_cli: Any, capture: CapturingServer, tmp_path: Path, transport: str
) -> None:
    result = run_cli(
        "profile", "--url", capture.url, "-m", "m", "--request-count", "6", "--concurrency", "2",
        "--osl", "5", "--transport", transport, "--artifact-dir", tmp_path, "--ui", "none",
    )
    assert result.returncode == 0, result.stderr
    sent = [_values(headers, "X-Request-Id") for headers, _ in capture.requests]
    assert all(len(values) == 1 for values in sent)
    ids = [values[0] for values in sent]
    assert len(set(ids)) == 6
    assert all(str(uuid.UUID(value)) == value and uuid.UUID(value).version == 4 for value in ids)
    records = read_jsonl(artifact_dir(tmp_path) / "profile_export.jsonl")
    assert sorted(r["metadata"]["x_request_id"] for r in records) == sorted(ids)
    assert {r["metadata"]["requested_output_tokens"] for r in records} == {5}
    for headers, body in capture.requests:
        for name in ("Content-Type", "Accept", "Accept-Encoding", "User-Agent", "Host", "Content-Length"):
            assert len(_values(headers, name)) == 1, (transport, name, headers)
        assert _values(headers, "Accept-Encoding") == ["identity"]
        assert _values(headers, "User-Agent")[0].startswith("inferload/")
        # only standard OpenAI fields by default: max_tokens, and no ignore_eos
        assert set(json.loads(body)) == {"model", "messages", "stream", "max_tokens"}


@pytest.mark.parametrize("transport", ["protocol", "aiohttp", "httpx"])
def test_a_user_header_replaces_the_builtin_of_the_same_name_on_every_transport(
    run_cli: Any, capture: CapturingServer, tmp_path: Path, transport: str
) -> None:
    result = run_cli(
        "profile", "--url", capture.url, "-m", "m", "--request-count", "3", "--transport", transport,
        "-H", "x-request-id: run-7", "-H", "content-type: application/json; charset=utf-8",
        "-H", "USER-AGENT: my-bench", "--api-key", "sk-abc", "-H", "authorization: Bearer other",
        "--artifact-dir", tmp_path, "--ui", "none",
    )
    assert result.returncode == 0, result.stderr
    assert len(capture.requests) == 3
    for headers, _ in capture.requests:
        assert _values(headers, "X-Request-Id") == ["run-7"]
        assert _values(headers, "Content-Type") == ["application/json; charset=utf-8"]
        assert _values(headers, "User-Agent") == ["my-bench"]
        assert _values(headers, "Authorization") == ["Bearer other"]
    records = read_jsonl(artifact_dir(tmp_path) / "profile_export.jsonl")
    assert {r["metadata"]["x_request_id"] for r in records} == {"run-7"}


def test_ignore_eos_and_max_completion_tokens_are_sent_only_when_asked(
    run_cli: Any, capture: CapturingServer, tmp_path: Path
) -> None:
    result = run_cli(
        "profile", "--url", capture.url, "-m", "m", "--request-count", "1", "--osl", "9",
        "--no-use-legacy-max-tokens", "--ignore-eos", "--artifact-dir", tmp_path, "--ui", "none",
    )
    assert result.returncode == 0, result.stderr
    ((_, body),) = capture.requests
    sent = json.loads(body)
    assert (sent["max_completion_tokens"], sent["ignore_eos"]) == (9, True) and "max_tokens" not in sent


def test_a_framing_header_from_the_user_is_a_usage_error(run_cli: Any, tmp_path: Path) -> None:
    result = run_cli("profile", "--url", "http://127.0.0.1:9", "-m", "m", "-H", "Content-Length: 5",
                     "--artifact-dir", tmp_path)
    assert result.returncode == 2
    assert "Content-Length is set by the client" in result.stderr and "Traceback" not in result.stderr


def test_the_quick_start_simulator_produces_exactly_the_asked_output_length(
    run_cli: Any, tmp_path: Path
) -> None:
    result = run_cli("profile", "--streaming", "--osl", "12", "--request-count", "8", "--concurrency", "4",
                     "--artifact-dir", tmp_path, "--ui", "none")
    assert result.returncode == 0, result.stderr
    run = artifact_dir(tmp_path)
    records = read_jsonl(run / "profile_export.jsonl")
    assert {r["metrics"]["output_sequence_length"]["value"] for r in records} == {12}
    check = json.loads((run / "profile_export.json").read_text())["output_length"]
    assert check["within_tolerance"] and check["warning"] is None
    assert (check["requested_avg"], check["measured_avg"], check["counted_by"]) == (12, 12, "server")
    assert "output length missed" not in result.stdout


def test_an_output_length_miss_is_reported_on_console_in_the_summary_and_in_the_log(
    run_cli: Any, inferload_exe: Path, cli_env: Any, tmp_path: Path
) -> None:
    # a server whose model stops at EOS after 4 tokens, whatever max_tokens says
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, *FAST_SIM, "--natural-stop",
                          "--output-len-mean", "4", "--output-len-sigma", "0")
    try:
        result = run_cli("profile", "--url", sim.url, "-m", "m", "--osl", "40", "--request-count", "5",
                         "--artifact-dir", tmp_path / "art", "--ui", "none")
    finally:
        sim.stop()
    assert result.returncode == 0, result.stderr
    run = artifact_dir(tmp_path / "art")
    check = json.loads((run / "profile_export.json").read_text())["output_length"]
    assert (check["requests"], check["requested_avg"], check["measured_avg"]) == (5, 40, 4)
    assert check["difference_pct"] == -90 and not check["within_tolerance"]
    assert "--ignore-eos" in check["warning"] and "end-of-sequence" in check["warning"]
    assert "output length missed" in result.stdout and "--ignore-eos" in result.stdout
    assert "output length missed" in (run / "logs" / "inferload.log").read_text()


def _record(request_id: int, asked: int | None, usage: int | None, client: int | None) -> RequestRecord:
    return RequestRecord(request_id, PROFILING, "w0", "c", "x", 0, 0, 1, 0, 10, asked,
                         usage_completion_tokens=usage, client_output_tokens=client)


def test_output_longer_than_asked_names_the_length_field_flag_to_try() -> None:
    records = [_record(i, 10, 300, 300) for i in range(4)]
    ignored_modern = check_output_length(records, length_field="max_completion_tokens", ignore_eos=False,
                                         generic_tokenizer="builtin")
    assert ignored_modern is not None and "--use-legacy-max-tokens" in ignored_modern["warning"]
    ignored_legacy = check_output_length(records, length_field="max_tokens", ignore_eos=False,
                                         generic_tokenizer="builtin")
    assert ignored_legacy is not None and "--no-use-legacy-max-tokens" in ignored_legacy["warning"]
    assert "--extra-inputs" in ignored_legacy["warning"]


def test_output_length_check_counts_only_requests_that_asked_and_names_a_client_side_count() -> None:
    records = [_record(0, 20, None, 10), _record(1, None, 99, 99), _record(2, 20, None, 10)]
    check = check_output_length(records, length_field="max_tokens", ignore_eos=True,
                                generic_tokenizer="builtin")
    assert check is not None and (check["requests"], check["counted_by"]) == (2, "client")
    assert "--tokenizer" in check["warning"] and "does not honour ignore_eos" in check["warning"]
    within = [_record(0, 20, 19, None), _record(1, 20, 21, None)]
    assert check_output_length(within, length_field="max_tokens", ignore_eos=False,
                               generic_tokenizer="builtin")["warning"] is None  # type: ignore[index]
    assert check_output_length([_record(0, None, 5, 5)], length_field=None, ignore_eos=False,
                               generic_tokenizer="builtin") is None


def test_a_client_count_by_the_generic_tokenizer_is_called_approximate_even_within_tolerance() -> None:
    # llama-cpp-python sends no usage in streams: 33.4 counted against 32 asked is close, but not exact
    records = [_record(0, 32, None, 33), _record(1, 32, None, 34)]
    check = check_output_length(records, length_field="max_tokens", ignore_eos=False,
                                generic_tokenizer="builtin")
    assert check is not None and check["within_tolerance"] and check["counted_by"] == "client"
    assert check["warning"] == (
        "output length approximate: the server sent no usage, so OSL (33.5 against 32.0 asked, 2 requests) "
        "and ISL are counts of --tokenizer builtin, an approximation of the model's tokenizer; give "
        "--tokenizer the model's tokenizer.json (or Hugging Face name) for exact counts")
    # the model's own tokenizer given: the count is the model's, nothing to say
    assert check_output_length(records, length_field="max_tokens", ignore_eos=False,
                               generic_tokenizer=None)["warning"] is None  # type: ignore[index]
