"""`inferload simulate` as a user runs it, and the embedded start the profile engine uses."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import psutil
import pytest

from inferload_plugins.simulator.embedded import start_embedded
from inferload_plugins.simulator.parameters import PARAMETERS
from simulator_wire import simulator_config

INFERLOAD = Path(sys.executable).with_name("inferload")


def clean_env(**overrides: str) -> dict[str, str]:
    """The environment without any INFERLOAD_SIM_* a developer may have exported, plus ``overrides``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERLOAD_SIM_")}
    return {**env, **overrides}


class Simulate:
    """A running `inferload simulate` process and the URL it announced."""

    def __init__(self, *args: str, env: Mapping[str, str] | None = None) -> None:
        self.process = subprocess.Popen([str(INFERLOAD), "simulate", "--port", "0", *args],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        env=dict(env or clean_env()))
        assert self.process.stdout is not None
        self.banner = self.process.stdout.readline()
        match = re.search(r"(http://\S+?)\s", self.banner)
        assert match, (self.banner, self.process.stderr.read() if self.process.stderr else "")
        self.url = match.group(1)

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        _, err = self.process.communicate(timeout=20)
        return self.process.returncode, err


@pytest.fixture
def simulate() -> Iterator[type[Simulate]]:
    started: list[Simulate] = []

    class Tracked(Simulate):
        def __init__(self, *args: str, env: Mapping[str, str] | None = None) -> None:
            super().__init__(*args, env=env)
            started.append(self)

    yield Tracked
    for running in started:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_simulate_serves_until_a_signal_then_exits_zero(simulate: type[Simulate], sig: int) -> None:
    server = simulate("--fast", "--served-model-name", "cli-model")
    assert "cli-model" in server.banner
    models = httpx.get(server.url + "/v1/models").json()
    assert [m["id"] for m in models["data"]] == ["cli-model"]
    answer = httpx.post(server.url + "/v1/chat/completions", json={
        "model": "cli-model", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 3})
    assert answer.json()["usage"]["completion_tokens"] <= 3
    code, err = server.stop(sig)
    assert code == 0, err


def test_environment_configures_and_flags_override_it(simulate: type[Simulate]) -> None:
    env = clean_env(INFERLOAD_SIM_SERVED_MODEL_NAME="from-env", INFERLOAD_SIM_FAST="1")
    from_env = simulate(env=env)
    assert "from-env" in from_env.banner and "fast" in from_env.banner
    flagged = simulate("--served-model-name", "from-flag", "--no-fast", env=env)
    assert "from-flag" in flagged.banner and "performance model" in flagged.banner
    assert from_env.stop()[0] == flagged.stop()[0] == 0


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--max-running-seqs", "0"), "--max-running-seqs / INFERLOAD_SIM_MAX_RUNNING_SEQS"),
        (("--fault-rate", "explode=0.5"), "unknown fault kind 'explode'"),
        (("--fault-rate", "http500=0.8,drop_mid=0.5"), "must not exceed 1"),
        (("--decode-step-s", "soon"), "--decode-step-s"),
    ],
)
def test_bad_values_are_usage_errors_naming_the_flag(args: tuple[str, ...], named: str) -> None:
    result = subprocess.run([str(INFERLOAD), "simulate", *args], capture_output=True, text=True,
                            env=clean_env(), timeout=60)
    assert result.returncode == 2
    assert named in result.stderr and "Traceback" not in result.stderr


def test_a_taken_port_is_a_usage_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([str(INFERLOAD), "simulate", "--port", str(port)], capture_output=True,
                                text=True, env=clean_env(), timeout=60)
    assert result.returncode == 2
    assert f"127.0.0.1:{port}" in result.stderr and "--port 0" in result.stderr


def test_help_lists_every_parameter_with_its_environment_variable() -> None:
    result = subprocess.run([str(INFERLOAD), "simulate", "--help"], capture_output=True, text=True,
                            env=clean_env(COLUMNS="200"), timeout=60)
    assert result.returncode == 0
    for parameter in PARAMETERS:
        assert parameter.flag in result.stdout and parameter.env in result.stdout


def test_embedded_simulator_answers_health_when_returned_and_stops_cleanly() -> None:
    simulator = start_embedded(simulator_config(fast=True))
    try:
        assert simulator.url.startswith("http://127.0.0.1:")
        assert httpx.get(simulator.url + "/health").json() == {"status": "ok"}
    finally:
        assert simulator.stop() == 0


def test_embedded_simulator_dies_with_its_parent() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from inferload_plugins.simulator.embedded import start_embedded\n"
         "sim = start_embedded()\n"
         "print(sim.pid, flush=True)\n"
         "time.sleep(600)\n"],
        stdout=subprocess.PIPE, text=True, env=clean_env(),
    )
    assert parent.stdout is not None
    child = psutil.Process(int(parent.stdout.readline()))
    parent.kill()  # no cleanup code runs in the parent
    parent.wait()
    child.wait(timeout=20)  # it saw its stdin close and shut down (psutil.TimeoutExpired otherwise)
    assert not child.is_running()
