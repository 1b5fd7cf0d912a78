"""The Responses and Anthropic Messages adapters against real servers: ``transformers serve``'s own
``/v1/responses``, and the LiteLLM proxy's ``/v1/responses`` and ``/v1/messages`` in front of the real
llama.cpp server (llama-cpp-python), with the tiny model of test_real_servers.py. Default flags; every
request must succeed with OSL equal to ``--osl`` and the stream's chunks timed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from real_server_fixtures import (
    Server,
    litellm_server,
    llama_server,
    models,
    profile_server,
    transformers_server,
)

__all__ = ["litellm_server", "llama_server", "models", "transformers_server"]  # fixtures, for pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

OSL, ISL, REQUESTS = 10, 32, 4

GATEWAY_EMPTY = ("litellm_server", "anthropic_messages", False)
"""LiteLLM (as pinned) answers a whole /v1/messages translated to chat completions with ``content: []``
and ``usage.output_tokens`` N: no text, so every request is an empty_response naming that usage."""

CASES = [
    ("transformers_server", "responses", True),
    ("litellm_server", "responses", True),
    ("litellm_server", "responses", False),
    ("litellm_server", "anthropic_messages", True),
    ("litellm_server", "anthropic_messages", False),
]


@pytest.mark.parametrize(("fixture", "endpoint", "streaming"), CASES,
                         ids=[f"{f.split('_')[0]}-{e}-{'streamed' if s else 'whole'}" for f, e, s in CASES])
def test_real_server_answers_every_request_with_exact_osl(
    request: pytest.FixtureRequest, run_cli: Callable[..., Any], models: Path, tmp_path: Path,
    fixture: str, endpoint: str, streaming: bool,
) -> None:
    server: Server = request.getfixturevalue(fixture)
    result, run, records = profile_server(run_cli, server, models, tmp_path, endpoint=endpoint,
                                          streaming=streaming, osl=OSL, isl=ISL, requests=REQUESTS)
    errors = [r["error"] for r in records if r["error"]]
    if (fixture, endpoint, streaming) == GATEWAY_EMPTY:
        assert len(errors) == REQUESTS and result.returncode == 1
        assert {e["message"] for e in errors} == {
            f"the response carried no output text although its usage reports {OSL} output tokens"}
        return
    assert errors == [], f"{server.name} {endpoint}: {errors[:2]}\n{result.stderr[-2000:]}"
    assert result.returncode == 0, result.stderr
    assert len(records) == REQUESTS
    for record in records:
        metrics = record["metrics"]
        assert metrics["input_sequence_length"]["value"] == ISL
        # the client's own count of the streamed/returned text (the tiny model never stops early)
        usage = metrics.get("usage_completion_tokens", {}).get("value")
        client = usage - metrics["usage_completion_tokens_diff"]["value"] if usage is not None else None
        assert OSL in (metrics["output_sequence_length"]["value"], client), metrics
        if streaming:
            assert metrics["time_to_first_token"]["value"] <= metrics["request_latency"]["value"]
            assert len(metrics["inter_chunk_latency"]["value"]) >= 1
    if server.api_key:
        for path in (p for p in run.rglob("*") if p.is_file()):
            assert server.api_key not in path.read_text(errors="replace"), path.name
    body = json.loads((run / "inputs.json").read_text())["data"][0]["payloads"][0]
    assert body["stream"] is streaming
