"""ShareGPT files end to end: `inferload profile --input-file` on our own tiny fixture in the public layout,
against the real simulator (its truth log shows what each request carried and asked for)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from inferload_plugins.tokenizers.builtin import BuiltinTokenizer
from profile_fixtures import artifact_dir, read_jsonl, simulator, usage_error

__all__ = ["simulator"]  # the fixture, re-exported so pytest finds it here

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "sharegpt_tiny.json"
COUNT = BuiltinTokenizer().count


def conversations() -> list[list[dict[str, str]]]:
    return [entry["conversations"] for entry in json.loads(FIXTURE.read_text())]


def run(run_cli: Any, url: str, root: Path, *args: Any) -> Any:
    return run_cli("profile", "--url", url, "-m", "m", "--streaming", "--artifact-dir", root, "--ui", "none",
                   "--api-linger", "0", *args)


def test_first_turns_ask_for_the_recorded_reply_length_and_the_whole_file_is_sent(
    run_cli: Any, simulator: Any, tmp_path: Path
) -> None:
    # no --dataset: a file of "conversations" is a ShareGPT file; no count: every usable conversation once
    result = run(run_cli, simulator.url, tmp_path / "art", "--input-file", FIXTURE)
    assert result.returncode == 0, result.stderr
    first, opens_with_gpt, with_system, long_reply, _no_reply = conversations()
    expected = sorted([
        (COUNT(first[0]["value"]), COUNT(first[1]["value"])),
        (COUNT(opens_with_gpt[1]["value"]), COUNT(opens_with_gpt[2]["value"])),
        (COUNT(with_system[0]["value"]) + COUNT(with_system[1]["value"]), COUNT(with_system[2]["value"])),
        (COUNT(long_reply[0]["value"]), COUNT(long_reply[1]["value"])),
    ])
    assert sorted((t["prompt_tokens"], t["completion_tokens"]) for t in simulator.truth()) == expected
    records = read_jsonl(artifact_dir(tmp_path / "art") / "profile_export.jsonl")
    names = sorted(r["metadata"]["conversation_id"] for r in records)
    assert names == ["tiny-1", "tiny-2", "tiny-3", "tiny-4"]


def test_all_turns_make_sessions_and_the_length_filters_skip_conversations(
    run_cli: Any, simulator: Any, tmp_path: Path
) -> None:
    result = run(run_cli, simulator.url, tmp_path / "art", "--dataset", "sharegpt", "--input-file", FIXTURE,
                 "--sharegpt-turns", "all", "--sharegpt-max-osl", "20", "--osl", "5")
    assert result.returncode == 0, result.stderr
    records = read_jsonl(artifact_dir(tmp_path / "art") / "profile_export.jsonl")
    turns = sorted((r["metadata"]["conversation_id"], r["metadata"]["turn_index"]) for r in records)
    assert turns == [("tiny-1", 0), ("tiny-1", 1), ("tiny-2", 0), ("tiny-3", 0)]  # tiny-4's reply is too long
    truth = simulator.truth()
    assert {t["completion_tokens"] for t in truth} == {5}  # --osl replaces the recorded lengths
    first = conversations()[0]
    second_turn = max(truth, key=lambda t: t["prompt_tokens"])  # tiny-1's second turn carries the first
    assert second_turn["prompt_tokens"] > COUNT(first[0]["value"]) + COUNT(first[2]["value"])


@pytest.mark.parametrize(("content", "fragment"), [
    ('[{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]},\n 7]',
     ':2: expected a JSON object with "conversations"'),
    ('[\n{"conversations": [{"from": "robot", "value": "hi"}]}]', ":2: message 1 is from 'robot'"),
    ('{"conversations": [{"from": "human", "value": 1}]}\n', ':1: message 1 needs a string "from"'),
    ('[{"conversations": [{"from": "human", "value": "only a question"}]}]', "has no usable conversation"),
])
def test_a_bad_sharegpt_file_is_one_usage_error_before_any_request(
    run_cli: Any, simulator: Any, tmp_path: Path, content: str, fragment: str
) -> None:
    path = tmp_path / "share.json"
    path.write_text(content, encoding="utf-8")
    result = run(run_cli, simulator.url, tmp_path / "art", "--dataset", "sharegpt", "--input-file", path)
    line = usage_error(result)
    assert fragment in line and str(path) in line, line
    assert simulator.truth() == []
