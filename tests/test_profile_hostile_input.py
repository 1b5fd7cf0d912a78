"""Hostile and careless input through the real CLI: every case ends in one clear line naming the input
(exit 2, no traceback) or is accepted and said so; files stay inside the run's own directory."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from profile_fixtures import Simulator, artifact_dir, read_jsonl, simulator, wait_for

__all__ = ["simulator"]

QUICK = ("--request-count", "2", "--isl", "8", "--osl", "2", "--ui", "none")


def assert_one_line_usage_error(result: Any, *needles: str) -> None:
    """Exit 2, exactly one stderr line, no traceback, and the line names every needle."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


# -- flags ---------------------------------------------------------------------------------------------


def test_abbreviated_long_options_are_refused(run_cli: Any, tmp_path: Path) -> None:
    result = run_cli("profile", "--api-ke", "sk-abbrev-S3CR3T", "-m", "m", "--artifact-dir", tmp_path)
    assert_one_line_usage_error(result, "--api-ke")


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["-u", "http://127.0.0.1:99999"], ["--url", "port"]),
        (["-u", "http://127.0.0.1:8000", "--api-port", "70000"], ["--api-port", "65535"]),
    ],
    ids=["url-port", "api-port"],
)
def test_port_out_of_range_is_one_line(
    run_cli: Any, tmp_path: Path, args: list[str], needles: list[str]
) -> None:
    result = run_cli("profile", *args, "-m", "m", "--artifact-dir", tmp_path, *QUICK)
    assert_one_line_usage_error(result, *needles)


def test_artifact_dir_that_is_a_file_under_a_file_or_in_proc_is_one_line(
    run_cli: Any, tmp_path: Path
) -> None:
    a_file = tmp_path / "results.txt"
    a_file.write_text("not a directory")
    cases = {
        a_file: "is a file",
        a_file / "sub": f"is under the file {a_file}",
        Path("/proc/inferload"): "/proc",
    }
    for directory, reason in cases.items():
        result = run_cli(
            "profile", "-u", "http://127.0.0.1:9", "-m", "m", "--artifact-dir", directory, *QUICK
        )
        assert_one_line_usage_error(result, str(directory), reason)
    assert a_file.read_text() == "not a directory"


@pytest.mark.parametrize(
    ("header", "needle"),
    [
        ("X-Name: caf\u00e9 \u20ac", "U+00E9, which is not ASCII"),
        ("X-Name: \u20ac", "U+20AC, which is not ASCII"),
        ("X-Inject: ok\r\nX-Evil: 1", "line break"),
        ("Bad Name: v", "not a valid HTTP token"),
        ("Content-Length: 5", "Content-Length"),
        ("Host: elsewhere", "Host"),
        ("Transfer-Encoding: chunked", "Transfer-Encoding"),
        ("no colon here", "Name: value"),
    ],
    ids=["latin-1", "non-latin-1", "crlf", "bad-name", "content-length", "host", "transfer-encoding",
         "no-colon"],
)
def test_invalid_header_is_refused_at_parse_time(
    run_cli: Any, tmp_path: Path, header: str, needle: str
) -> None:
    with socket.socket() as listener:  # the target: it must never see a connection
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0)
        port = listener.getsockname()[1]
        result = run_cli(
            "profile",
            "-u",
            f"http://127.0.0.1:{port}",
            "-m",
            "m",
            "-H",
            header,
            "--artifact-dir",
            tmp_path,
            *QUICK,
        )
        with pytest.raises(BlockingIOError):
            listener.accept()
    assert_one_line_usage_error(result, "--header", needle)
    assert not (tmp_path / "m-chat-concurrency1").exists()


def test_newline_in_api_key_is_refused_without_echoing_it(run_cli: Any, tmp_path: Path) -> None:
    result = run_cli(
        "profile",
        "-u",
        "http://127.0.0.1:9",
        "-m",
        "m",
        "--api-key",
        "sk-line\nX-Evil: 1",
        "--artifact-dir",
        tmp_path,
        *QUICK,
    )
    assert_one_line_usage_error(result, "--api-key", "line break")
    assert "sk-line" not in result.stderr


# -- environment -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"INFERLOAD_CONCURRENCY": "many"}, "INFERLOAD_CONCURRENCY"),
        ({"INFERLOAD_HEADER": "X-Team: blue"}, "INFERLOAD_HEADER"),
        ({"INFERLOAD_API_KEY": "sk-env\nX: 1"}, "INFERLOAD_API_KEY"),
        ({"INFERLOAD_API_SERVER_PORT": "99999"}, "INFERLOAD_API_SERVER_PORT"),
    ],
    ids=["int", "list-not-json", "api-key-newline", "api-port-alias"],
)
def test_env_var_errors_name_the_variable_and_no_pydantic_internals(
    run_cli: Any, tmp_path: Path, env: dict[str, str], needle: str
) -> None:
    result = run_cli(
        "profile", "-u", "http://127.0.0.1:9", "-m", "m", "--artifact-dir", tmp_path, *QUICK, env=env
    )
    assert_one_line_usage_error(result, needle)
    assert "SettingsSource" not in result.stderr and "--" not in result.stderr.split("error:", 1)[1]


def test_config_file_error_names_the_file(run_cli: Any, tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("concurrency: 0\n")
    result = run_cli(
        "profile", "-u", "http://127.0.0.1:9", "-m", "m", "-f", config, "--artifact-dir", tmp_path, *QUICK
    )
    assert_one_line_usage_error(result, str(config), "concurrency")


def test_simulate_unwritable_truth_log_names_the_file(run_cli: Any) -> None:
    result = run_cli("simulate", "--port", "0", "--truth-log", "/proc/inferload-truth.jsonl")
    assert_one_line_usage_error(result, "--truth-log /proc/inferload-truth.jsonl")
    assert "port" not in result.stderr


# -- artifact files ----------------------------------------------------------------------------------------


def test_default_relative_artifact_dir_serves_every_file_over_the_api(
    inferload_exe: Path, cli_env: Any, tmp_path: Path
) -> None:
    process = subprocess.Popen(
        [str(inferload_exe), "profile", *QUICK, "--api-port", "0", "--api-linger", "inf"],
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = ""
        while "HTTP API on " not in line:
            line = process.stderr.readline()
            assert line, "the run ended before its API started"
        base = line.split("HTTP API on ", 1)[1].split()[0]
        wait_for(
            lambda: httpx.get(f"{base}/api/results", timeout=5).json()["status"] != "running", timeout=60
        )
        listed = {f["path"] for f in httpx.get(f"{base}/api/results/list", timeout=5).json()["files"]}
        assert {
            "profile_export.json",
            "profile_export.jsonl",
            "profile_export.csv",
            "inputs.json",
            "profile_export_console.txt",
            "logs/inferload.log",
        } <= listed
        exported = httpx.get(f"{base}/api/results/files/profile_export.json", timeout=5)
        assert exported.status_code == 200 and exported.json()["benchmark_id"]
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)
    assert process.returncode == 0
    assert (artifact_dir(tmp_path / "artifacts") / "profile_export.json").is_file()


def test_exporters_replace_a_planted_symlink_instead_of_writing_through_it(
    run_cli: Any, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    run_dir = tmp_path / "art" / "m-chat-concurrency1"
    run_dir.mkdir(parents=True)
    (run_dir / "profile_export.csv").symlink_to(victim)
    (run_dir / "logs").symlink_to(tmp_path, target_is_directory=True)
    result = run_cli("profile", "-m", "m", "--artifact-dir", tmp_path / "art", *QUICK)
    assert result.returncode == 0, result.stderr
    assert victim.read_text() == "precious"
    assert not (tmp_path / "inferload.log").exists()
    for name in ("profile_export.csv", "logs", "logs/inferload.log"):
        assert not (run_dir / name).is_symlink()
    assert (run_dir / "profile_export.csv").read_text().startswith("Metric,")


def test_a_run_moves_what_an_earlier_run_left_beside_its_directory_and_says_where(
    run_cli: Any, simulator: Simulator, tmp_path: Path
) -> None:
    run_dir = tmp_path / "art" / "m-chat-concurrency1"
    run_dir.mkdir(parents=True)
    earlier = {"benchmark_id": "old", "start_time": "2026-11-30T09:15:02"}
    (run_dir / "profile_export.json").write_text(json.dumps(earlier))
    (run_dir / "stale_from_an_old_run.txt").write_text("old")
    result = run_cli("profile", "-u", simulator.url, "-m", "m", "--artifact-dir", tmp_path / "art", *QUICK)
    assert result.returncode == 0, result.stderr
    kept = tmp_path / "art" / "m-chat-concurrency1.20261130T091502"
    said = [line for line in result.stderr.splitlines() if "earlier run" in line]
    assert len(said) == 1 and str(kept) in said[0], result.stderr
    assert (kept / "stale_from_an_old_run.txt").read_text() == "old"  # nothing is lost
    assert json.loads((kept / "profile_export.json").read_text())["benchmark_id"] == "old"
    left = sorted(p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*"))
    assert "stale_from_an_old_run.txt" not in left and "logs/inferload.log" in left
    summary = json.loads((run_dir / "profile_export.json").read_text())
    assert summary["benchmark_id"] != "old"  # the run's own, not the earlier one's


def test_two_runs_into_one_artifact_dir_keep_both_results_on_disk(
    run_cli: Any, simulator: Simulator, tmp_path: Path
) -> None:
    ids = []
    for _ in range(3):
        result = run_cli("profile", "-u", simulator.url, "-m", "m", "--artifact-dir", tmp_path, *QUICK)
        assert result.returncode == 0, result.stderr
        ids.append(json.loads((tmp_path / "m-chat-concurrency1" / "profile_export.json").read_text())
                   ["benchmark_id"])
    runs = sorted(p for p in tmp_path.iterdir() if p.is_dir())
    assert len(runs) == 3 and runs[0].name == "m-chat-concurrency1", runs
    assert all(p.name.startswith("m-chat-concurrency1.") for p in runs[1:])  # the earlier two, by start
    kept = {json.loads((p / "profile_export.json").read_text())["benchmark_id"] for p in runs}
    assert kept == set(ids)
    for run in runs:
        assert (run / "profile_export.jsonl").read_text().count("\n") == 2  # every record of each run


def test_long_and_unicode_model_names_get_distinct_safe_directories(run_cli: Any, tmp_path: Path) -> None:
    names = ["мод€l 名前", "мод$l 名前", "m" * 300]
    for name in names:
        result = run_cli("profile", "-m", name, "--artifact-dir", tmp_path, *QUICK)
        assert result.returncode == 0, result.stderr
    dirs = sorted(p.name for p in tmp_path.iterdir())
    assert len(dirs) == 3 and all(len(d.encode()) <= 255 for d in dirs)
    assert sum(d.startswith("мод_l_名前-") for d in dirs) == 2


def test_model_names_starting_with_a_dash_never_make_a_directory_a_shell_reads_as_an_option(
    run_cli: Any, tmp_path: Path
) -> None:
    for name in ("-", "--x"):
        result = run_cli("profile", f"--model={name}", "--artifact-dir", tmp_path, *QUICK)
        assert result.returncode == 0, result.stderr
    dirs = sorted(p.name for p in tmp_path.iterdir())
    assert len(dirs) == 2 and not [d for d in dirs if d.startswith("-")], dirs
    assert sum(d.startswith("model-") for d in dirs) == 1 and sum(d.startswith("x-") for d in dirs) == 1


# -- input files ---------------------------------------------------------------------------------------------


def test_input_file_with_a_utf8_bom_is_accepted(run_cli: Any, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_bytes(b"\xef\xbb\xbf" + b'{"text": "hello there"}\n{"text": "and again"}\n')
    result = run_cli(
        "profile", "-m", "m", "--input-file", prompts, "--artifact-dir", tmp_path / "art", *QUICK
    )
    assert result.returncode == 0, result.stderr
    inputs = json.loads((artifact_dir(tmp_path / "art") / "inputs.json").read_text())["data"]
    assert [e["payloads"][0]["messages"][0]["content"] for e in inputs] == ["hello there", "and again"]


def test_input_line_with_both_text_and_messages_is_an_error_naming_the_line(
    run_cli: Any, tmp_path: Path
) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"text": "ok"}\n{"text": "a", "messages": [{"role": "user", "content": "b"}]}\n')
    result = run_cli("profile", "-m", "m", "--input-file", prompts, "--artifact-dir", tmp_path, *QUICK)
    assert_one_line_usage_error(result, f"{prompts}:2", '"text" and "messages"')


# -- start-up and URLs ---------------------------------------------------------------------------------------


def _interrupt_once(
    inferload_exe: Path, cli_env: Any, tmp_path: Path, ready: Any
) -> subprocess.CompletedProcess:
    process = subprocess.Popen(
        [str(inferload_exe), "profile", "--artifact-dir", str(tmp_path), *QUICK],
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not ready(process) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def _maps(process: subprocess.Popen) -> str:
    try:
        return Path(f"/proc/{process.pid}/maps").read_text()
    except OSError:
        return ""


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc to see the start-up stage")
@pytest.mark.parametrize(
    "stage",
    # loading the plugin machinery, reading the config (pydantic_core), once the simulator is up
    [
        lambda p: "_opcode" in _maps(p),  # pluggy (via inspect) is being imported
        lambda p: "pydantic_core" in _maps(p),
        lambda p: "started the built-in simulator" in p.stderr.readline(),
    ],
    ids=["while-loading-plugins", "while-reading-the-config", "while-starting-servers"],
)
def test_ctrl_c_during_start_up_prints_one_line_and_no_traceback(
    inferload_exe: Path, cli_env: Any, tmp_path: Path, stage: Any
) -> None:
    result = _interrupt_once(inferload_exe, cli_env, tmp_path, stage)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 130, result.stderr


def test_url_ending_in_v1_is_accepted_and_says_what_it_uses(
    run_cli: Any, simulator: Simulator, tmp_path: Path
) -> None:
    result = run_cli("profile", "-u", f"{simulator.url}/v1", "-m", "m", "--artifact-dir", tmp_path, *QUICK)
    assert result.returncode == 0, result.stderr
    assert f"sending requests to {simulator.url}/v1/chat/completions" in result.stderr
    assert {t["route"] for t in simulator.truth()} == {"/v1/chat/completions"}
    records = read_jsonl(artifact_dir(tmp_path) / "profile_export.jsonl")
    assert len(records) == 2 and all(r["error"] is None for r in records)


@pytest.mark.parametrize(
    ("flag", "suffix", "needle"),
    [
        ("--url", "/a b", "holds a space (write it as %20) at character"),
        ("--url", "/a\r\nX-Injected: 1", "holds a line break at character"),
        ("--url", "/a\tb", "holds the control character U+0009 at character"),
        ("--url", "/base#frag", "holds a '#' fragment, which is never sent to a server"),
        ("--endpoint", "/v1/chat completions", "holds a space (write it as %20) at character 9"),
        ("--endpoint", "/v1/chat\r\n/completions", "holds a line break at character 9"),
        ("--endpoint", "/v1/chat/completions#x", "holds a '#' fragment"),
    ],
    ids=["url-space", "url-crlf", "url-tab", "url-fragment", "endpoint-space", "endpoint-crlf",
         "endpoint-fragment"],
)
def test_url_and_endpoint_with_spaces_line_breaks_or_a_fragment_are_one_line_and_nothing_is_sent(
    run_cli: Any, simulator: Simulator, tmp_path: Path, flag: str, suffix: str, needle: str
) -> None:
    target = ("--url", simulator.url + suffix) if flag == "--url" else (
        "--url", simulator.url, "--endpoint", suffix)
    result = run_cli("profile", *target, "-m", "m", "--artifact-dir", tmp_path / "art", *QUICK)
    assert_one_line_usage_error(result, f"invalid {flag}", needle)
    assert "\r" not in result.stderr  # the line break is shown escaped, never echoed raw
    assert simulator.truth() == []
    assert not (tmp_path / "art").exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--isl", "99999999999"), "invalid --isl 99999999999: Input should be less than or equal to 1000000"
         ""),
        (("--isl", "2000000"), "invalid --isl 2000000: Input should be less than or equal to 1000000"),
        (("--osl", "1000001"), "invalid --osl 1000001: Input should be less than or equal to 1000000"),
        (("--num-dataset-entries", "1000", "--isl", "1000000"),
         "--num-dataset-entries 1000 x --isl 1000000 = 1,000,000,000 prompt tokens"),
    ],
    ids=["isl-huge", "isl-over-bound", "osl-over-bound", "dataset-over-bound"],
)
def test_lengths_beyond_the_documented_bounds_are_one_line_before_anything_is_built(
    run_cli: Any, tmp_path: Path, args: tuple[str, ...], needle: str
) -> None:
    result = run_cli("profile", "-m", "m", *args, "--artifact-dir", tmp_path / "art", "--ui", "none")
    assert_one_line_usage_error(result, needle)
    assert not (tmp_path / "art").exists()


def test_a_large_synthetic_dataset_says_it_is_being_built_before_the_first_request(
    run_cli: Any, simulator: Simulator, tmp_path: Path
) -> None:
    # -v: the workers' set-up line is a timing line, on the console only with -v
    result = run_cli("profile", "-v", "-u", simulator.url, "-m", "m", "--isl", "5000",
                     "--num-dataset-entries", "200", "--request-count", "1", "--osl", "1",
                     "--artifact-dir", tmp_path, "--ui", "none")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    building = next(i for i, line in enumerate(lines)
                    if "building 200 synthetic prompts, 1,000,000 tokens in all" in line)
    # said before the workers start (the first request comes after them)
    ready = next(i for i, line in enumerate(lines) if "worker process(es) ready" in line)
    assert building < ready


@pytest.mark.parametrize("bad", ["port-in-use", "unknown-host"])
def test_an_api_address_that_cannot_be_had_leaves_the_previous_runs_results_alone(
    run_cli: Any, simulator: Simulator, tmp_path: Path, bad: str
) -> None:
    first = run_cli("profile", "-u", simulator.url, "-m", "m", "--artifact-dir", tmp_path, *QUICK)
    assert first.returncode == 0, first.stderr
    run = artifact_dir(tmp_path)
    before = {path.relative_to(run): path.read_bytes() for path in run.rglob("*") if path.is_file()}
    assert Path("profile_export.json") in before
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        address = (("--api-port", str(taken.getsockname()[1])) if bad == "port-in-use"
                   else ("--api-port", "0", "--api-host", "no-such-host.invalid"))
        second = run_cli("profile", "-u", simulator.url, "-m", "m", *address, "--artifact-dir", tmp_path,
                         *QUICK)
    assert_one_line_usage_error(second, "cannot serve the HTTP API on")
    after = {path.relative_to(run): path.read_bytes() for path in run.rglob("*") if path.is_file()}
    assert after == before  # not one file removed, added or changed
    assert len(simulator.truth()) == 2  # and the second run sent nothing


@pytest.mark.parametrize(
    ("flags", "needles"),
    [
        (("--benchmark-duration", "inf"), ("--benchmark-duration", "finite")),
        (("--benchmark-duration", "1e300"), ("--benchmark-duration", "less than or equal")),
        (("--request-rate", "nan"), ("--request-rate", "finite")),
        (("--request-rate", "5", "--request-rate-ramp-duration", "inf"), ("--request-rate-ramp-duration",)),
        (("--request-timeout-seconds", "1e400"), ("--request-timeout-seconds",)),
        (("--benchmark-duration", "2", "--benchmark-grace-period", "nan"), ("--benchmark-grace-period",)),
        (("--api-linger", "1e300"), ("--api-linger",)),
        (("--arrival-pattern", "timestamps", "--request-rate", "5"), ("timestamps", "--fixed-schedule")),
    ],
    ids=["duration-inf", "duration-huge", "rate-nan", "ramp-inf", "timeout-overflow", "grace-nan",
         "linger-huge", "timestamps-without-trace"],
)
def test_non_finite_huge_or_misplaced_numbers_are_one_usage_line_before_anything_starts(
    run_cli: Any, tmp_path: Path, flags: tuple[str, ...], needles: tuple[str, ...]
) -> None:
    earlier = tmp_path / "art"
    earlier.mkdir()
    (earlier / "earlier-run.txt").write_text("kept")
    result = run_cli("profile", *flags, "--artifact-dir", earlier, *QUICK)
    assert_one_line_usage_error(result, *needles)
    assert [p.name for p in earlier.rglob("*")] == ["earlier-run.txt"]


def test_api_linger_inf_is_still_accepted_by_the_parser(run_cli: Any, tmp_path: Path) -> None:
    result = run_cli("profile", "--api-linger", "inf", "--benchmark-duration", "nan",
                     "--artifact-dir", tmp_path / "art", *QUICK)
    assert_one_line_usage_error(result, "--benchmark-duration")
    assert "--api-linger" not in result.stderr


def test_goodput_with_its_plugin_disabled_is_refused_naming_the_plugin(run_cli: Any, tmp_path: Path) -> None:
    result = run_cli("--disable-plugin", "metrics-goodput", "profile", "--goodput", "request_latency:100",
                     "--artifact-dir", tmp_path / "art", *QUICK)
    assert_one_line_usage_error(result, "--goodput", "metrics-goodput")
    from_env = run_cli("--disable-plugin", "metrics-goodput", "profile", "--artifact-dir", tmp_path / "art",
                       *QUICK, env={"INFERLOAD_GOODPUT": "request_latency:100"})
    assert_one_line_usage_error(from_env, "INFERLOAD_GOODPUT", "metrics-goodput")


@pytest.mark.parametrize(
    ("flags", "needles"),
    [
        (("--request-count", "abc"), ("'abc' is not a whole number",)),
        (("--request-rate", "0"), ("invalid --request-rate 0:",)),
        (("--request-rate", "x1"), ("'x1' is not a number",)),
    ],
    ids=["int", "zero-as-typed", "float"],
)
def test_number_errors_read_as_english_and_show_the_value_as_typed(
    run_cli: Any, tmp_path: Path, flags: tuple[str, ...], needles: tuple[str, ...]
) -> None:
    result = run_cli("profile", *flags, "--artifact-dir", tmp_path / "art", "--ui", "none")
    assert_one_line_usage_error(result, *needles)
    assert "a int" not in result.stderr and "0.0" not in result.stderr


@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_a_url_port_out_of_range_names_one_range(run_cli: Any, tmp_path: Path, port: str) -> None:
    result = run_cli("profile", "--url", f"http://127.0.0.1:{port}/v1", "--artifact-dir", tmp_path / "art",
                     *QUICK)
    assert_one_line_usage_error(result, "--url", "1-65535")
    assert "0-65535" not in result.stderr


def test_a_streaming_only_goodput_slo_without_streaming_names_the_flag_it_needs(
    run_cli: Any, tmp_path: Path
) -> None:
    result = run_cli("profile", "--goodput", "time_to_first_token:100", "--artifact-dir", tmp_path / "art",
                     *QUICK)
    assert_one_line_usage_error(result, "time_to_first_token", "needs --streaming")


@pytest.mark.parametrize(
    ("flags", "env", "needles"),
    [
        (("--endpoint-type", "embeddings", "--osl", "50"), {}, ("--osl", "embeddings", "drop --osl")),
        (("--api-key", ""), {}, ("--api-key", "empty")),
        ((), {"INFERLOAD_API_KEY": ""}, ("INFERLOAD_API_KEY", "empty")),
    ],
    ids=["osl-on-embeddings", "empty-api-key", "empty-api-key-env"],
)
def test_settings_that_would_do_nothing_are_refused_not_silently_accepted(
    run_cli: Any, tmp_path: Path, flags: tuple[str, ...], env: dict[str, str], needles: tuple[str, ...]
) -> None:
    result = run_cli("profile", *flags, "--artifact-dir", tmp_path / "art", "--request-count", "2",
                     "--ui", "none", env=env)
    assert_one_line_usage_error(result, *needles)
