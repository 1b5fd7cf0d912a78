"""The control routes over real HTTP during a real run (`inferload profile` as a user types it, against the
embedded simulator): they exist only with a token, refuse a wrong one and bad changes without changing
anything, pause holds the sending still, a rate change shows in the next segment's achieved rate, and stop
ends the run as SIGINT does with every artifact written."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from live_run import LiveRun, wait_until

TOKEN = "ctl-Secr3t-token-value"


@pytest.fixture
def live(inferload_exe: Path, cli_env: Any, tmp_path: Path) -> Iterator[Any]:
    """``live(*args, token=TOKEN)`` starts a LiveRun; every run started is killed at the end if still up."""
    runs: list[LiveRun] = []

    def start(*args: str, token: str | None = TOKEN) -> LiveRun:
        token_args = ("--api-token", token) if token else ()
        run = LiveRun(inferload_exe, cli_env(), tmp_path / f"art{len(runs)}", *token_args, *args, token=token)
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.kill()


def test_without_a_token_the_control_routes_do_not_exist(live: Any) -> None:
    run = live("--concurrency", "2", "--benchmark-duration", "30", "--api-linger", "0", token=None)
    try:
        run.wait_serving()
        for method, route in (("POST", "pause"), ("POST", "resume"), ("PATCH", "load"), ("POST", "stop")):
            assert run.control(method, route, token="anything", json={"concurrency": 3}).status_code == 404
        assert not [p for p in run.get("/openapi.json").json()["paths"] if p.startswith("/api/control")]
        assert run.load()["control_enabled"] is False
        assert run.load()["concurrency"] == 2  # nothing changed: the load is as started
    finally:
        run.process.send_signal(2)
        assert run.finish() == 130


def test_a_missing_or_wrong_token_is_401_and_bad_changes_are_422_and_nothing_changes(live: Any) -> None:
    run = live("--concurrency", "2", "--max-concurrency", "6", "--benchmark-duration", "30", "--api-linger",
               "0")
    try:
        run.wait_serving()
        for token in ("", "wrong-token", TOKEN + "x", TOKEN[:-1]):
            answer = run.control("POST", "pause", token=token)
            assert answer.status_code == 401, (token, answer.text)
            assert answer.headers["www-authenticate"] == "Bearer"
            assert run.control("PATCH", "load", token=token, json={"concurrency": 4}).status_code == 401
        bad_bodies = {
            "negative": {"json": {"concurrency": -1}},
            "zero": {"json": {"concurrency": 0}},
            "fractional": {"json": {"concurrency": 2.5}},
            "above --max-concurrency": {"json": {"concurrency": 7}},
            "both fields": {"json": {"concurrency": 3, "request_rate": 5}},
            "neither field": {"json": {}},
            "unknown field": {"json": {"concurrency": 3, "burst": True}},
            "not JSON": {"content": b"concurrency=3"},
            "not an object": {"json": [3]},
            "a string": {"json": {"concurrency": "3"}},
            "the other kind of load": {"json": {"request_rate": 5}},
        }
        for name, body in bad_bodies.items():
            answer = run.control("PATCH", "load", **body)
            assert answer.status_code == 422, (name, answer.text)
            detail = answer.json()["detail"]
            assert isinstance(detail, str) and detail, name  # one message saying what is wrong
        load = run.load()
        assert (load["concurrency"], load["paused"], len(load["segments"])) == (2, False, 1)
        assert "above --max-concurrency 6" in run.control("PATCH", "load", json={"concurrency": 7}).text
        assert run.control("PATCH", "load", json={"concurrency": 6}).status_code == 200  # the cap is ok
        wait_until(lambda: len(run.load()["segments"]) == 2)
        assert run.load()["segments"][1]["concurrency"] == 6
    finally:
        run.process.send_signal(2)
        assert run.finish() == 130


def test_pause_holds_the_sent_count_still_until_resume(live: Any) -> None:
    run = live("--concurrency", "3", "--benchmark-duration", "60", "--api-linger", "0")
    try:
        run.wait_serving()
        wait_until(lambda: run.sent() > 0)
        paused = run.control("POST", "pause")
        assert paused.status_code == 200 and paused.json()["paused"] is True
        wait_until(lambda: run.load()["state"] == "paused")
        # "paused" is said as soon as the pause is taken; the workers stop sending once the engine has sent
        # it to them (its segment starts then), and their counts come back in batches: the exact check
        # that nothing went out after that instant is the paused segment's requests_sent in the export
        wait_until(lambda: [s["paused"] for s in run.load()["segments"]] == [False, True])
        time.sleep(0.5)  # requests in flight when the pause took effect end; their records come back
        held = run.sent()
        time.sleep(1.5)
        assert run.sent() == held  # nothing sent while paused
        assert run.control("POST", "pause").status_code == 200  # pausing a paused run changes nothing
        resumed = run.control("POST", "resume")
        assert resumed.status_code == 200 and resumed.json()["paused"] is False
        wait_until(lambda: run.sent() > held)
        sources = [(s["paused"], s["source"]) for s in run.load()["segments"]]
        assert sources[:3] == [(False, "initial"), (True, "control"), (False, "control")]
        exposition = run.get("/metrics").text
        assert re.search(r'^inferload_load_target\{.*kind="concurrency".*\} 3\.0$', exposition, re.MULTILINE)
        assert re.search(r"^inferload_load_paused\{.*\} 0\.0$", exposition, re.MULTILINE)
    finally:
        run.process.send_signal(2)
        assert run.finish() == 130
    segments = run.export()["load_segments"]
    paused_segment = next(s for s in segments if s["paused"])
    assert paused_segment["requests_sent"] == 0
    assert "load segment 1 from +" in run.stderr and "paused (control)" in run.stderr


def test_a_rate_change_shows_in_the_achieved_rate_of_the_next_segment(live: Any) -> None:
    run = live("--request-rate", "4", "--arrival-pattern", "constant", "--benchmark-duration", "60",
               "--workers", "2", "--api-linger", "0")
    try:
        run.wait_serving()
        wait_until(lambda: run.sent() >= 6)
        answer = run.control("PATCH", "load", json={"request_rate": 40})
        assert answer.status_code == 200 and answer.json()["request_rate"] == 40
        wait_until(lambda: run.sent() >= 70)
        assert run.control("POST", "stop").status_code == 202
        assert run.finish() == 130
    finally:
        run.kill()
    first, second = run.export()["load_segments"][:2]
    assert (first["request_rate"], second["request_rate"]) == (4, 40)
    assert second["source"] == "control" and first["end_ns"] == second["start_ns"]
    assert second["achieved_request_rate"] > 2 * first["achieved_request_rate"]
    assert second["metrics"]["request_throughput"]["avg"] > first["metrics"]["request_throughput"]["avg"]
    assert "load segment 1 from +" in run.stderr and "request_rate 40 req/s (control)" in run.stderr
    # every worker took the change: each one's requests go out faster after it than before it
    change = second["start_ns"]
    for worker in ("worker_0", "worker_1"):
        starts = sorted(r["metadata"]["request_start_ns"] for r in run.records()
                        if r["metadata"]["worker_id"] == worker)
        before = [b - a for a, b in itertools.pairwise(s for s in starts if s < change)]
        after = [b - a for a, b in itertools.pairwise(s for s in starts if s >= change)]
        assert before and after and max(after) < min(before), worker


def test_stop_ends_the_run_like_sigint_with_complete_artifacts(live: Any) -> None:
    run = live("--concurrency", "2", "--benchmark-duration", "120", "--api-linger", "30")
    try:
        run.wait_serving()
        wait_until(lambda: run.sent() >= 10)
        stopped = run.control("POST", "stop")
        assert stopped.status_code == 202
        assert run.control("POST", "stop").status_code == 409  # already stopping
        assert run.control("PATCH", "load", json={"concurrency": 3}).status_code == 409

        def exported() -> bool:
            return any(f["path"] == "profile_export.json"
                       for f in run.get("/api/results/list").json().get("files", []))

        wait_until(exported, timeout=60)
        sent = run.sent()
        late = run.control("POST", "resume")
        assert late.status_code == 409 and "stopping" in late.json()["detail"]
        run.process.send_signal(2)  # ends the linger
        assert run.finish() == 130
    finally:
        run.kill()
    export, records = run.export(), run.records()
    assert export["was_cancelled"] is True and export["is_complete"] is False
    assert len(records) == sent == sum(s["requests_sent"] for s in export["load_segments"])  # all accounted
    assert {"profile_export.csv", "inputs.json"} <= {p.name for p in run.run_dir().iterdir()}
    assert "stop requested over the control API" in run.stderr
    # the drain line names what stopped the run and what still cancels (a second POST stop is refused)
    assert ("interrupted by POST /api/control/stop: no new requests" in run.stderr
            and "(Ctrl+C or SIGTERM cancels them now)" in run.stderr), run.stderr


def test_the_token_is_never_written_or_served(live: Any, tmp_path: Path) -> None:
    run = live("--concurrency", "2", "--request-count", "30", "--api-linger", "30")
    try:
        run.wait_serving()
        routes = ("/api/config", "/api/run", "/api/progress", "/openapi.json")
        served = [run.get(path).text for path in routes]
        assert run.get("/api/config").json()["api_token_set"] is True
        wait_until(lambda: run.load()["state"] == "closed", timeout=60)
        finished = run.control("POST", "pause")  # a run that has sent everything takes no change
        assert finished.status_code == 409 and "stopped sending" in finished.json()["detail"]
        run.process.send_signal(2)
        run.finish()
    finally:
        run.kill()
    files = [p for p in run.run_dir().rglob("*") if p.is_file()]
    assert any(p.name == "inferload.log" for p in files)
    for text in [*served, run.stderr, *(p.read_text(errors="replace") for p in files)]:
        assert TOKEN not in text
    assert "--api-token" in run.export()["run_info"]["cli_command"]  # the flag is kept, its value is not


def test_openapi_documents_the_control_routes_and_their_bearer_scheme(live: Any) -> None:
    run = live("--concurrency", "1", "--benchmark-duration", "30", "--api-linger", "0")
    try:
        run.wait_serving()
        schema = run.get("/openapi.json").json()
    finally:
        run.process.send_signal(2)
        run.finish()
    scheme = schema["components"]["securitySchemes"]["controlToken"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    operations = {("post", "/api/control/pause"), ("post", "/api/control/resume"),
                  ("patch", "/api/control/load"), ("post", "/api/control/stop")}
    for method, path in operations:
        operation = schema["paths"][path][method]
        assert operation["security"] == [{"controlToken": []}], path
        assert {"401", "409"} <= set(operation["responses"]), path
    body = schema["paths"]["/api/control/load"]["patch"]["requestBody"]["content"]["application/json"]
    assert set(body["schema"]["properties"]) == {"request_rate", "concurrency"}
    assert "load" in schema["components"]["schemas"]["ProgressResponse"]["properties"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--api-token", "t0ken-long-enough"), "--api-token needs --api-port"),
        (("--api-port", "0", "--api-token", "short"), "--api-token must be at least 8 characters"),
        (("--api-token-file", "/nonexistent/token"), "cannot read --api-token-file /nonexistent/token"),
        (("--api-port", "0", "--api-token", "has space"), "printable ASCII without spaces"),
        (("--request-rate", "5", "--max-concurrency", "3"), "--max-concurrency bounds a concurrency-driven"),
        (("--concurrency", "8", "--max-concurrency", "4"), "--concurrency 8 is above --max-concurrency 4"),
        (("--concurrency", "2", "--max-concurrency", "4"), "--max-concurrency bounds live changes"),
    ],
)
def test_bad_control_flags_are_one_line_usage_errors(run_cli: Any, tmp_path: Path, args: tuple[str, ...],
                                                     message: str) -> None:
    result = run_cli("profile", "--artifact-dir", tmp_path / "art", "--ui", "none", *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "art").exists()


def test_the_token_can_come_from_a_file_or_the_environment(live: Any, tmp_path: Path, inferload_exe: Path,
                                                           cli_env: Any) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("from-a-file-T0KEN\n")
    from_file = live("--concurrency", "1", "--benchmark-duration", "30", "--api-linger", "0",
                     "--api-token-file", str(token_file), token=None)
    from_env = LiveRun(inferload_exe, cli_env({"INFERLOAD_API_TOKEN": "from-the-env-T0KEN"}),
                       tmp_path / "env", "--concurrency", "1", "--benchmark-duration", "30", "--api-linger",
                       "0")
    try:
        for run, token in ((from_file, "from-a-file-T0KEN"), (from_env, "from-the-env-T0KEN")):
            run.wait_serving()
            assert run.control("POST", "pause", token="other").status_code == 401
            assert run.control("POST", "pause", token=token).status_code == 200
    finally:
        for run in (from_file, from_env):
            run.process.send_signal(2)
            run.finish()
            run.kill()
