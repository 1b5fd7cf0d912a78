"""What a run reports about itself, through the real CLI against a scripted server: ``error_summary`` keeps
plain numbers and folds only ids, redaction stops at the secret value, ``cli_command`` keeps a JSON
``--extra-inputs`` valid, ``input_config.artifact_dir`` is absolute, and a goodput SLO must be above 0."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from profile_fixtures import artifact_dir
from scripted_server import ScriptedRequest, ScriptedServer, chat_completion, json_response

QUICK = ("-m", "m", "--isl", "8", "--osl", "2", "--ui", "none")


def summary_of(root: Path) -> dict[str, Any]:
    return json.loads((artifact_dir(root) / "profile_export.json").read_text())


def test_error_summary_keeps_plain_numbers_and_folds_only_request_ids(run_cli: Any, tmp_path: Path) -> None:
    def answer(request: ScriptedRequest, number: int) -> bytes:
        if number % 2 == 0:
            return json_response(413, {"error": {"message": "request body is larger than 16777216 bytes"}},
                                 reason="Payload Too Large")
        return json_response(500, {"error": {"message": f"request {7000 + number} failed"}}, reason="Error")

    with ScriptedServer(answer) as server:
        result = run_cli("profile", "--url", server.url, "--request-count", "6",
                         "--artifact-dir", tmp_path / "art", *QUICK)
    assert result.returncode == 1, result.stderr  # every request failed
    rows = {(row["error_details"]["code"], row["error_details"]["message"]): row["count"]
            for row in summary_of(tmp_path / "art")["error_summary"]}
    assert rows == {
        (413, "request body is larger than 16777216 bytes"): 3,
        (500, "request <n> failed"): 3,
    }


def test_redaction_of_an_echoed_request_stops_at_the_secret_value(run_cli: Any, tmp_path: Path) -> None:
    # the server echoes the request line and the Authorization header it got after "bad auth:"
    def answer(request: ScriptedRequest, number: int) -> bytes:
        echoed = f"bad auth: {request.request_line} Authorization: {request.headers['authorization']}"
        return json_response(401, {"error": {"message": echoed}}, reason="Unauthorized")

    key = "sk-trial-S3CR3T-0042"
    with ScriptedServer(answer) as server:
        result = run_cli("profile", "--url", server.url, "--api-key", key, "--request-count", "2",
                         "--artifact-dir", tmp_path / "art", *QUICK)
    assert result.returncode == 1, result.stderr
    (row,) = summary_of(tmp_path / "art")["error_summary"]
    assert row["error_details"]["message"] == (
        "bad auth: POST /v1/chat/completions HTTP/1.1 Authorization: Bearer <redacted>"
    )
    run_dir = artifact_dir(tmp_path / "art")
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert key not in path.read_text(errors="replace"), path
    assert key not in result.stderr + result.stdout


def test_cli_command_keeps_a_json_extra_inputs_valid_json_with_secrets_redacted_inside(
    run_cli: Any, tmp_path: Path
) -> None:
    extra = {"auth": {"token": "tok-S3CR3T-77", "refresh": "r3fr3sh-S3CR3T"}, "temperature": 0.5}
    with ScriptedServer(lambda request, number: chat_completion()) as server:
        result = run_cli("profile", "--url", server.url, "--extra-inputs", json.dumps(extra),
                         "--request-count", "1", "--artifact-dir", tmp_path / "art", *QUICK)
        sent = json.loads(server.requests[0].body)
    assert result.returncode == 0, result.stderr
    assert sent["auth"] == extra["auth"]  # the server still gets the real values
    argv = shlex.split(summary_of(tmp_path / "art")["run_info"]["cli_command"])
    shown = json.loads(argv[argv.index("--extra-inputs") + 1])
    assert shown == {"auth": {"token": "<redacted>", "refresh": "<redacted>"}, "temperature": 0.5}


def test_input_config_artifact_dir_is_the_absolute_path_of_a_relative_flag(
    run_cli: Any, tmp_path: Path
) -> None:
    with ScriptedServer(lambda request, number: chat_completion()) as server:
        result = run_cli("profile", "--url", server.url, "--request-count", "1", "--artifact-dir", "art",
                         *QUICK, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert summary_of(tmp_path / "art")["input_config"]["artifact_dir"] == str(tmp_path / "art")


def test_goodput_slo_of_zero_or_less_is_one_line_naming_the_entry(run_cli: Any, tmp_path: Path) -> None:
    for value in ("time_to_first_token:-1", "request_latency:0"):
        result = run_cli("profile", "--goodput", value, "--artifact-dir", tmp_path / "art", *QUICK)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1, result.stderr
        assert f"--goodput {value}" in lines[0] and "greater than 0" in lines[0]
        assert not (tmp_path / "art").exists()
