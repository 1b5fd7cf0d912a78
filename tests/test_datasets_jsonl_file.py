"""The file dataset: one JSONL line per request, and one clear error naming file:line for a bad line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from inferload.dataset import Conversation, Tokenizer, resolve_tokenizer
from inferload.errors import UsageError
from inferload.registry import PluginRegistry, load_plugins


@pytest.fixture(scope="module")
def registry() -> PluginRegistry:
    return load_plugins()


@pytest.fixture(scope="module")
def tokenizer(registry: PluginRegistry) -> Tokenizer:
    return resolve_tokenizer(registry, "builtin")


def load(
    registry: PluginRegistry, tokenizer: Tokenizer, path: Path | None, **options: Any
) -> list[Conversation]:
    settings: dict[str, Any] = {
        "num_entries": 100,
        "isl_mean": 550,
        "isl_stddev": 0.0,
        "osl_mean": None,
        "osl_stddev": 0.0,
        "seed": 0,
    }
    settings.update(options)
    return registry.get("dataset", "file").factory(tokenizer=tokenizer, path=path, **settings)


def write_lines(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_text_and_messages_lines_become_conversations_in_file_order(
    registry: PluginRegistry, tokenizer: Tokenizer, tmp_path: Path
) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Why is the sky blue?"},
    ]
    path = write_lines(
        tmp_path / "prompts.jsonl",
        json.dumps({"text": "Tell me a story about a river.", "max_tokens": 64}),
        "",
        json.dumps({"messages": messages}),
    )
    first, second = load(registry, tokenizer, path)
    assert first.conversation_id == "prompts.jsonl:1"
    assert first.prompt == "Tell me a story about a river."
    assert first.input_tokens == tokenizer.count(first.prompt)
    assert first.max_output_tokens == 64
    assert first.chat_messages() == [{"role": "user", "content": first.prompt}]
    assert second.conversation_id == "prompts.jsonl:3"
    assert second.chat_messages() == messages
    assert second.prompt == "Be brief.\nWhy is the sky blue?"
    assert second.input_tokens == tokenizer.count(second.prompt)
    assert second.max_output_tokens is None


def test_every_line_is_used_whatever_num_entries_says(
    registry: PluginRegistry, tokenizer: Tokenizer, tmp_path: Path
) -> None:
    path = write_lines(tmp_path / "many.jsonl", *(json.dumps({"text": f"prompt {i}"}) for i in range(7)))
    assert len(load(registry, tokenizer, path, num_entries=3)) == 7


def test_osl_applies_only_to_lines_without_max_tokens(
    registry: PluginRegistry, tokenizer: Tokenizer, tmp_path: Path
) -> None:
    path = write_lines(
        tmp_path / "osl.jsonl", json.dumps({"text": "a", "max_tokens": 5}), json.dumps({"text": "b"})
    )
    fixed, sampled = load(registry, tokenizer, path, osl_mean=200)
    assert (fixed.max_output_tokens, sampled.max_output_tokens) == (5, 200)


@pytest.mark.parametrize(
    ("bad_line", "complaint"),
    [
        ('{"text": "unterminated', "not valid JSON"),
        ("[1, 2, 3]", "expected a JSON object"),
        ('{"prompt": "wrong key"}', 'needs a "text", "messages" or "query" field'),
        ('{"text": ""}', '"text" must be a non-empty string'),
        ('{"messages": [{"role": "user"}]}', 'message 1 needs a string "role" and a string "content"'),
        ('{"messages": []}', '"messages" must be a non-empty list'),
        ('{"text": "hi", "max_tokens": 0}', '"max_tokens" must be a whole number >= 1'),
        ('{"text": "hi", "max_tokens": "many"}', '"max_tokens" must be a whole number >= 1'),
    ],
)
def test_a_malformed_line_is_a_usage_error_naming_file_and_line(
    registry: PluginRegistry, tokenizer: Tokenizer, tmp_path: Path, bad_line: str, complaint: str
) -> None:
    path = write_lines(
        tmp_path / "data.jsonl",
        json.dumps({"text": "fine"}),
        "",
        bad_line,
        json.dumps({"text": "never reached"}),
    )
    with pytest.raises(UsageError) as caught:
        load(registry, tokenizer, path)
    message = str(caught.value)
    assert message.startswith(f"{path}:3: ")
    assert complaint in message


def test_a_missing_or_empty_file_is_a_usage_error_naming_it(
    registry: PluginRegistry, tokenizer: Tokenizer, tmp_path: Path
) -> None:
    missing = tmp_path / "absent.jsonl"
    with pytest.raises(UsageError, match="cannot read --input-file") as caught:
        load(registry, tokenizer, missing)
    assert str(missing) in str(caught.value)
    empty = write_lines(tmp_path / "empty.jsonl", "", "  ")
    with pytest.raises(UsageError, match="has no entries"):
        load(registry, tokenizer, empty)
    with pytest.raises(UsageError, match="needs the path of a JSONL file"):
        load(registry, tokenizer, None)


@pytest.mark.parametrize(
    ("bad_line", "complaint"),
    [
        ('{"documents": ["a"]}', 'needs a "text", "messages" or "query" field'),
        ('{"text": "hi", "documents": ["a"]}', '"documents" go with a "query"'),
        ('{"query": "q", "documents": []}', '"documents" must be a non-empty list of non-empty strings'),
        ('{"query": "q", "documents": ["a", 3]}', '"documents" must be a non-empty list of non-empty'),
        ('{"query": "q", "text": "t"}', 'has "text" and "query"; keep one'),
    ],
)
def test_a_malformed_rerank_line_is_a_usage_error_naming_file_and_line(
    registry: PluginRegistry, tokenizer: Tokenizer, tmp_path: Path, bad_line: str, complaint: str
) -> None:
    path = write_lines(tmp_path / "data.jsonl", json.dumps({"query": "q", "documents": ["d"]}), bad_line)
    with pytest.raises(UsageError) as caught:
        load(registry, tokenizer, path)
    assert str(caught.value).startswith(f"{path}:2: ") and complaint in str(caught.value)


def test_a_rerank_line_counts_the_query_and_every_document(
    registry: PluginRegistry, tokenizer: Tokenizer, tmp_path: Path
) -> None:
    line = {"query": "why is the sky blue", "documents": ["light scatters", "air is thin"]}
    (conversation,) = load(registry, tokenizer, write_lines(tmp_path / "d.jsonl", json.dumps(line)))
    assert conversation.prompt == line["query"] and conversation.documents == tuple(line["documents"])
    assert conversation.input_tokens == sum(map(tokenizer.count, [line["query"], *line["documents"]]))
