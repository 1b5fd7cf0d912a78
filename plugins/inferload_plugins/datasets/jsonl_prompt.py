"""The prompt of one JSONL line, as every JSONL dataset of this family reads it (``--dataset file``,
``multi_turn``): its ``"text"`` (or another text key) or ``"messages"``, and its ``"max_tokens"``. A bad
field is one UsageError starting with ``FILE:LINE``.
"""

from __future__ import annotations

from typing import Any

from inferload.errors import UsageError


def prompt_fields(
    entry: Any, where: str, text_keys: tuple[str, ...] = ("text",)
) -> tuple[str, tuple[dict[str, str], ...] | None]:
    """The prompt of a JSONL entry (one of ``text_keys`` or ``"messages"``, never two): its text and, for
    messages, the messages. A conversation's prompt (what ISL counts and a completions endpoint sends) is its
    message contents joined by newlines. ``text_keys``: the keys that hold a prompt string (the file dataset
    adds ``"query"``, a rerank line's). Raises UsageError starting with ``where`` (``FILE:LINE``): the one
    rule every JSONL dataset applies to a prompt."""
    if not isinstance(entry, dict):
        raise UsageError(f"{where}: expected a JSON object, got {type(entry).__name__}")
    keys = (text_keys[0], "messages", *text_keys[1:])
    named = [f'"{key}"' for key in keys]
    present = [f'"{key}"' for key in keys if key in entry]
    if len(present) > 1:
        raise UsageError(f"{where}: has {' and '.join(present)}; keep one (a line is one prompt)")
    for key in text_keys:
        if key in entry:
            if not isinstance(entry[key], str) or not entry[key]:
                raise UsageError(f'{where}: "{key}" must be a non-empty string')
            return entry[key], None
    if "messages" in entry:
        raw = entry["messages"]
        if not isinstance(raw, list) or not raw:
            raise UsageError(f'{where}: "messages" must be a non-empty list of {{"role", "content"}} objects')
        messages = []
        for number, message in enumerate(raw, start=1):
            if (not isinstance(message, dict) or not isinstance(message.get("role"), str)
                    or not isinstance(message.get("content"), str)):
                raise UsageError(f'{where}: message {number} needs a string "role" and a string "content"')
            messages.append({"role": message["role"], "content": message["content"]})
        return "\n".join(m["content"] for m in messages), tuple(messages)
    if len(keys) == 2:
        raise UsageError(f"{where}: needs a {named[0]} or a {named[1]} field")
    raise UsageError(f"{where}: needs a {', '.join(named[:-1])} or {named[-1]} field")


def max_tokens_field(entry: dict[str, Any], where: str) -> int | None:
    """An entry's ``"max_tokens"`` (None when absent); UsageError starting with ``where`` unless >= 1."""
    value = entry.get("max_tokens")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f'{where}: "max_tokens" must be a whole number >= 1, got {value!r}')
    return value
