"""Shared-prefix synthetic prompts end to end: `inferload profile --shared-system-prompt-length
--num-prefix-prompts --prefix-prompt-length` against a real simulator, compared token by token under the
run's tokenizer."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from inferload.dataset import resolve_tokenizer
from inferload.registry import load_plugins
from profile_fixtures import load_run, profile, simulator

__all__ = ["simulator"]  # the fixture, re-exported so pytest finds it here

SHARED = ("--shared-system-prompt-length", "24", "--num-prefix-prompts", "3", "--prefix-prompt-length", "48",
          "--isl", "10", "--num-dataset-entries", "15", "--request-count", "15", "--concurrency", "4",
          "--random-seed", "11", "--tokenizer", "builtin")


def shared_prefix_run(run_cli: Any, sim_url: str, root: Path, *args: str) -> tuple[list, list, Any]:
    """Run with :data:`SHARED` and ``args``: the request bodies sent, the records, the run's tokenizer."""
    result = profile(run_cli, sim_url, root, *SHARED, *args)
    assert result.returncode == 0, result.stderr
    run, _, records = load_run(root)
    bodies = [entry["payloads"][0] for entry in json.loads((run / "inputs.json").read_text())["data"]]
    return bodies, records, resolve_tokenizer(load_plugins(), "builtin")


def test_chat_requests_carry_one_system_prompt_and_one_of_the_pooled_prefixes(
    run_cli: Any, simulator: Any, tmp_path: Path
) -> None:
    bodies, records, tokenizer = shared_prefix_run(run_cli, simulator.url, tmp_path / "art", "--osl", "3")
    systems = {body["messages"][0]["content"] for body in bodies}
    assert len(systems) == 1 and all(body["messages"][0]["role"] == "system" for body in bodies)
    assert len(tokenizer.encode(next(iter(systems)))) == 24
    users = [tokenizer.encode(body["messages"][1]["content"]) for body in bodies]
    assert all(len(ids) == 48 + 10 for ids in users)
    prefixes = Counter(tuple(ids[:48]) for ids in users)
    assert 2 <= len(prefixes) <= 3  # one of three shared 48-token prefixes (15 seeded picks use 2 or 3)
    assert len({tuple(ids[48:]) for ids in users}) == len(users)  # then a suffix of its own
    assert len(records) == 15
    for record in records:  # ISL is everything sent, and the server counted the same
        assert record["metrics"]["input_sequence_length"]["value"] == 24 + 48 + 10
        assert record["metrics"]["usage_prompt_tokens"]["value"] == 24 + 48 + 10


def test_completions_prompts_start_with_the_system_prompt_then_the_prefix(
    run_cli: Any, simulator: Any, tmp_path: Path
) -> None:
    bodies, records, tokenizer = shared_prefix_run(run_cli, simulator.url, tmp_path / "art",
                                                   "--endpoint-type", "completions")
    prompts = [tokenizer.encode(body["prompt"]) for body in bodies]
    assert all(len(ids) == 24 + 48 + 10 for ids in prompts)
    assert len({tuple(ids[:24]) for ids in prompts}) == 1
    assert 2 <= len({tuple(ids[:72]) for ids in prompts}) <= 3
    assert [r["metrics"]["usage_prompt_tokens"]["value"] for r in records] == [82] * 15


@pytest.mark.parametrize(("args", "message"), [
    (("--prompt-block-size", "64"), "--prompt-block-size does not apply to --dataset synthetic"),
    (("--num-prefix-prompts", "2"), "--num-prefix-prompts and --prefix-prompt-length go together"),
])
def test_prefix_options_that_do_not_fit_the_dataset_are_usage_errors(
    run_cli: Any, simulator: Any, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = profile(run_cli, simulator.url, tmp_path / "art", "-m", "inferload-sim", *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and simulator.truth() == []


def test_a_synthetic_only_option_on_a_file_dataset_is_refused_naming_the_dataset(
    run_cli: Any, simulator: Any, tmp_path: Path
) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"text": "hello"}\n')
    result = profile(run_cli, simulator.url, tmp_path / "art", "-m", "inferload-sim", "--input-file",
                     str(prompts), "--shared-system-prompt-length", "10")
    assert result.returncode == 2, result.stderr
    assert "--shared-system-prompt-length does not apply to --dataset file" in result.stderr
    assert "--dataset synthetic" in result.stderr
