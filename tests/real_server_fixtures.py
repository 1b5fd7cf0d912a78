"""The real inference servers the tests run (see test_real_servers.py): each from its own pinned venv made
by ``python3 tests/real_server_install.py``, with the tiny model the tests build, on 127.0.0.1. Import the
fixtures (``llama_server``, ``transformers_server``, ``litellm_server``, ``models``) into a test module."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import build_env, pick_free_port
from profile_fixtures import artifact_dir, read_jsonl, stop_process
from real_server_install import INSTALL_COMMAND, NEEDS_COMPILER, is_installed, missing_build_tools, python_of

TESTS = Path(__file__).resolve().parent
CORPUS = TESTS.parent / "plugins" / "inferload_plugins" / "datasets" / "corpus.txt"
_START_TIMEOUT_S = 240.0


@dataclass
class Server:
    """A running server process: its base URL and the model name to send."""

    name: str
    url: str
    model: str
    process: subprocess.Popen[bytes]
    log: Path
    api_key: str | None = None

    def stop(self) -> None:
        stop_process(self.process, grace=20.0)


def server_python(name: str) -> Path:
    """The interpreter of server ``name``'s venv, or a skip (a failure in CI) saying how to install it."""
    if is_installed(name):
        return python_of(name)
    command = f"{INSTALL_COMMAND} {name}"
    if os.environ.get("CI") == "true":
        if name in NEEDS_COMPILER and missing_build_tools():
            pytest.skip(f"{name}: no {', '.join(missing_build_tools())} could be installed on this CI "
                        "machine, so the server cannot be built")
        pytest.fail(f"{name} server is not installed although CI ran `{command}`; see its pip.log")
    pytest.skip(f"real {name} server not installed; install it with `{command}`")


def start_server(name: str, command: list[str], port: int, model: str, workdir: Path,
                 env: dict[str, str] | None = None, api_key: str | None = None) -> Server:
    """Start ``command`` (a server listening on 127.0.0.1:``port``) and wait until /v1/models answers."""
    log = workdir / f"{name}.log"
    handle = log.open("wb")
    process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, cwd=workdir,
                               env={**build_env(), **(env or {})})
    handle.close()
    server = Server(name, f"http://127.0.0.1:{port}", model, process, log, api_key)
    probe = urllib.request.Request(f"{server.url}/v1/models")
    if api_key:
        probe.add_header("Authorization", f"Bearer {api_key}")
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{name} exited with {process.returncode} while starting:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(probe, timeout=2) as response:
                if response.status == 200:
                    return server
        except (urllib.error.URLError, OSError):
            time.sleep(0.25)
    server.stop()
    pytest.fail(f"{name} did not answer /v1/models within {_START_TIMEOUT_S:g} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with the tiny model's ``tokenizer.json`` (trained here, no download)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    directory = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1000, special_tokens=["<s>", "</s>"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train([str(CORPUS)], trainer)
    tokenizer.save(str(directory / "tokenizer.json"))
    return directory


def build_model(python: Path, script: str, models: Path, out: str) -> Path:
    """Run a model writer (tests/tiny_llama_*.py) with the server's interpreter; returns its output."""
    target = models / out
    if not target.exists():
        subprocess.run([str(python), str(TESTS / script), str(models / "tokenizer.json"), str(target)],
                       check=True, cwd=TESTS, capture_output=True, timeout=600)
    return target


@pytest.fixture(scope="module")
def llama_server(models: Path) -> Iterator[Server]:
    python = server_python("llama")
    gguf = build_model(python, "tiny_llama_gguf.py", models, "tiny.gguf")
    port = pick_free_port()  # uvicorn cannot report a port 0 it was given, so pick one
    server = start_server("llama", [str(python), "-m", "llama_cpp.server", "--model", str(gguf),
                                    "--model_alias", "tiny", "--host", "127.0.0.1", "--port", str(port),
                                    "--n_ctx", "1024",
                                    # by default a new request aborts the stream in flight (its body ends
                                    # unterminated: inferload rightly files a connection_error); a benchmark
                                    # at concurrency > 1 wants them queued
                                    "--interrupt_requests", "False"], port, "tiny", models)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def transformers_server(models: Path) -> Iterator[Server]:
    python = server_python("transformers")
    model_dir = build_model(python, "tiny_llama_hf.py", models, "hf")
    port = pick_free_port()
    server = start_server("transformers", [str(python.parent / "transformers"), "serve", str(model_dir),
                                           "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
                          port, str(model_dir), models, env={"HF_HUB_OFFLINE": "1"})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def litellm_server(llama_server: Server, models: Path) -> Iterator[Server]:
    python = server_python("litellm")
    config = models / "litellm.yaml"
    config.write_text(json.dumps({
        "model_list": [{"model_name": "tiny-gw", "litellm_params": {
            "model": "openai/tiny", "api_base": f"{llama_server.url}/v1", "api_key": "none",
            # /v1/responses and /v1/messages are translated to chat completions for the server behind
            "use_chat_completions_api": True}}],
        "litellm_settings": {"telemetry": False},
    }))
    port = pick_free_port()
    master_key = f"sk-{secrets.token_hex(16)}"  # the proxy refuses to start without a strong one
    server = start_server("litellm", [str(python.parent / "litellm"), "--config", str(config),
                                      "--host", "127.0.0.1", "--port", str(port)], port, "tiny-gw", models,
                          env={"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False",
                               "LITELLM_MASTER_KEY": master_key}, api_key=master_key)
    yield server
    server.stop()


SERVERS = {"llama": "llama_server", "transformers": "transformers_server", "litellm": "litellm_server"}


def profile_server(
    run_cli: Callable[..., Any], server: Server, models: Path, out: Path, *, endpoint: str, streaming: bool,
    osl: int, isl: int, requests: int,
) -> tuple[Any, Path, list[dict[str, Any]]]:
    """`inferload profile` against ``server`` with default flags (its API key when it has one, the tiny
    model's tokenizer); returns the finished process, the run directory and its records."""
    result = run_cli(
        "profile", "--url", server.url, "-m", server.model, "--endpoint-type", endpoint,
        *(["--streaming"] if streaming else []), "--osl", str(osl), "--isl", str(isl),
        "--request-count", str(requests), "--concurrency", "2", "--tokenizer", models / "tokenizer.json",
        *(["--api-key", server.api_key] if server.api_key else []),
        "--artifact-dir", out, "--ui", "none", timeout=300,
    )
    run = artifact_dir(out)
    return result, run, read_jsonl(run / "profile_export.jsonl")
