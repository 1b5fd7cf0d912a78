"""inferload against real inference servers, with default flags: llama-cpp-python's OpenAI server,
``transformers serve``, and the LiteLLM proxy in front of llama-cpp-python (as users benchmark through
gateways).

Each server runs from its own pinned virtualenv made by ``python3 tests/real_server_install.py`` (``.ci/run``
calls it); without one these tests skip with that command, except in CI (``CI=true``), where only a server
that needs a compiler nobody could install may skip. The model is a tiny random Llama the tests build:
a byte-level BPE tokenizer trained here on the shipped corpus, and weights (tests/tiny_llama_weights.py)
steered so that generation never stops before max tokens and the text re-tokenizes into exactly the
generated tokens. So every run can assert exact figures: zero errors, OSL equal to ``--osl`` on every
request (the documented default sends ``max_tokens``, which all three honour), and ISL equal to the
server's ``usage.prompt_tokens`` under the same tokenizer (``--tokenizer tokenizer.json``; for chat, the
prompt rendered with the model's chat template).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import build_env
from profile_fixtures import artifact_dir, read_jsonl
from real_server_fixtures import (
    SERVERS,
    Server,
    litellm_server,
    llama_server,
    models,
    profile_server,
    transformers_server,
)

__all__ = ["litellm_server", "llama_server", "models", "transformers_server"]  # fixtures, for pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

OSL, ISL, REQUESTS = 12, 40, 6
TESTS = Path(__file__).resolve().parent


def chat_prompt(messages: list[dict[str, str]]) -> str:
    """The tiny model's chat template (tiny_llama_weights.CHAT_TEMPLATE) rendered with a generation prompt."""
    return "".join(f"<|{m['role']}|>\n{m['content']}\n" for m in messages) + "<|assistant|>\n"


@pytest.mark.parametrize("streaming", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("endpoint", ["chat", "completions"])
@pytest.mark.parametrize("server_name", list(SERVERS))
def test_default_flags_give_zero_errors_exact_osl_and_isl_matching_server_usage(
    request: pytest.FixtureRequest, run_cli: Callable[..., Any], models: Path, tmp_path: Path,
    server_name: str, endpoint: str, streaming: bool,
) -> None:
    from tokenizers import Tokenizer

    server: Server = request.getfixturevalue(SERVERS[server_name])
    result, run, records = profile_server(run_cli, server, models, tmp_path, endpoint=endpoint,
                                          streaming=streaming, osl=OSL, isl=ISL, requests=REQUESTS)
    errors = [r["error"] for r in records if r["error"]]
    assert errors == [], f"{server_name} {endpoint}: {errors[:2]}\n{result.stderr[-2000:]}"
    assert result.returncode == 0, result.stderr
    assert len(records) == REQUESTS
    summary = json.loads((run / "profile_export.json").read_text())
    assert summary["output_length"]["within_tolerance"], summary["output_length"]
    tokenizer = Tokenizer.from_file(str(models / "tokenizer.json"))
    bodies = [entry["payloads"][0] for entry in json.loads((run / "inputs.json").read_text())["data"]]
    # llama-cpp-python streams no usage; LiteLLM then adds its own estimate (its tokenizer, not the model's)
    gateway_estimate = server_name == "litellm" and streaming
    with_usage = 0
    for record in records:
        metrics = record["metrics"]
        assert metrics["input_sequence_length"]["value"] == ISL
        if gateway_estimate:  # the client's count beside the estimate is the true length
            usage = metrics["usage_completion_tokens"]["value"]
            assert usage - metrics["usage_completion_tokens_diff"]["value"] == OSL
            continue
        assert metrics["output_sequence_length"]["value"] == OSL  # max_tokens honoured, no early EOS
        server_prompt = metrics.get("usage_prompt_tokens", {}).get("value")
        if server_prompt is None:
            continue  # a stream without usage: the client count above is the measurement
        with_usage += 1
        body = bodies[record["metadata"]["request_id"] % len(bodies)]
        text = chat_prompt(body["messages"]) if endpoint == "chat" else body["prompt"]
        assert server_prompt == len(tokenizer.encode(text, add_special_tokens=False).ids)
        if endpoint == "completions":
            assert server_prompt == ISL
    if not streaming:
        assert with_usage == REQUESTS, "a whole (non-streamed) response always carries usage"


def test_a_strict_server_rejects_ignore_eos_so_it_is_sent_only_when_asked(
    transformers_server: Server, run_cli: Callable[..., Any], models: Path, tmp_path: Path
) -> None:
    result = run_cli(
        "profile", "--url", transformers_server.url, "-m", transformers_server.model, "--osl", str(OSL),
        "--isl", str(ISL), "--request-count", "2", "--ignore-eos", "--tokenizer", models / "tokenizer.json",
        "--artifact-dir", tmp_path, "--ui", "none", timeout=300,
    )
    records = read_jsonl(artifact_dir(tmp_path) / "profile_export.jsonl")
    assert [(r["error"]["type"], r["error"]["code"]) for r in records] == [("http_error", 422)] * 2
    assert result.returncode == 1  # every request failed: the run failed, and says why


def test_a_server_ignoring_max_completion_tokens_is_reported_with_the_flag_to_try(
    llama_server: Server, run_cli: Callable[..., Any], models: Path, tmp_path: Path
) -> None:
    # llama-cpp-python ignores max_completion_tokens and generates until its 1024-token context is full
    result = run_cli(
        "profile", "--url", llama_server.url, "-m", llama_server.model, "--osl", str(OSL), "--isl", str(ISL),
        "--request-count", "2", "--no-use-legacy-max-tokens", "--tokenizer", models / "tokenizer.json",
        "--artifact-dir", tmp_path, "--ui", "none", timeout=300,
    )
    assert result.returncode == 0, result.stderr
    run = artifact_dir(tmp_path)
    check = json.loads((run / "profile_export.json").read_text())["output_length"]
    assert check["requested_avg"] == OSL and check["measured_avg"] > 10 * OSL
    assert not check["within_tolerance"]
    assert "ignored 'max_completion_tokens'" in check["warning"]
    assert "--use-legacy-max-tokens" in check["warning"] and "--use-legacy-max-tokens" in result.stdout
    assert "output length missed" in (run / "logs" / "inferload.log").read_text()


def test_the_installer_keys_each_venv_by_its_pins_and_names_the_servers_it_knows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import real_server_install

    env = {**build_env(), "INFERLOAD_TEST_SERVERS": str(tmp_path)}
    unknown = subprocess.run([sys.executable, str(TESTS / "real_server_install.py"), "vllm"], env=env,
                             capture_output=True, text=True, timeout=60, check=False)
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == "unknown server 'vllm': choose from llama, transformers, litellm"
    assert not any(tmp_path.iterdir())  # nothing was installed
    dirs = {name: real_server_install.venv_dir(name) for name in real_server_install.SERVERS}
    assert len(set(dirs.values())) == 3 and all(d.name.startswith(f"{n}-") for n, d in dirs.items())
    monkeypatch.setitem(real_server_install.SERVERS, "llama", ("llama-cpp-python[server]==0.3.37",))
    assert real_server_install.venv_dir("llama") != dirs["llama"]  # a new pin installs afresh
