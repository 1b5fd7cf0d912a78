"""``--dataset sharegpt --input-file PATH``: conversations in the public ShareGPT layout.

The file is a JSON array (as ShareGPT V3 is published) or JSONL, one conversation per entry::

    [{"id": "c1", "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"},
                                    {"from": "human", "value": "Bye"}, {"from": "gpt", "value": "Bye!"}]}]

``from`` is ``human``/``user``, ``gpt``/``chatgpt``/``bing``/``assistant``/``model`` (the recorded replies)
or ``system``. Every conversation becomes a session (so the whole file is sent once by default, and
``--conversation-num`` or ``--request-count`` limit it):

* ``--sharegpt-turns first`` (default): the first human message alone, asking for as many tokens as the
  recorded reply to it holds (unless ``--osl``): the single-turn workload of vLLM's and AIPerf's benchmarks.
* ``--sharegpt-turns all``: every human message is a turn; each later turn carries the replies the server
  actually gave (the recorded replies only size the output).

Conversations without a human message followed by a recorded reply are skipped, and so are those over
``--sharegpt-max-isl`` (a human message, in tokens) or ``--sharegpt-max-osl`` (a recorded reply): the
public file holds such entries, and a count of each is logged. A structurally bad entry (not an object,
no ``conversations`` list, a message without string ``from``/``value``, an unknown ``from``) stops the run
before any request with ``FILE:LINE``. Nothing is downloaded: the file is the user's.
"""

from __future__ import annotations

import json
import logging
import random
from collections import Counter
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from inferload import hookimpl
from inferload.dataset import Conversation, Tokenizer, Turn, sample_length
from inferload.errors import UsageError
from inferload.plugin_options import Flag
from inferload.textfiles import iter_jsonl, iter_lines, read_capped
from inferload.types import DatasetSpec, OptionsSpec

NAME = "sharegpt"
MAX_FILE_BYTES = 4 * 1024**3
"""Largest ShareGPT JSON array read (ShareGPT V3 is about 650 MB; JSONL is read a line at a time)."""
USER, ASSISTANT, SYSTEM = "user", "assistant", "system"
ROLES = {"human": USER, "user": USER, "gpt": ASSISTANT, "chatgpt": ASSISTANT, "bing": ASSISTANT,
         "assistant": ASSISTANT, "model": ASSISTANT, "system": SYSTEM}

log = logging.getLogger("inferload.dataset")


@hookimpl
def register_datasets() -> list[DatasetSpec]:
    return [
        DatasetSpec(
            name=NAME,
            description='ShareGPT conversations ({"conversations": [{"from", "value"}]}), first or all turns',
            factory=load_sharegpt,
            input_file=True,
            sessions=True,
            detect=looks_like_sharegpt,
        )
    ]


class ShareGPTOptions(BaseModel):
    """``--sharegpt-turns`` and the length filters."""

    sharegpt_turns: Literal["first", "all"] = Field(
        "first", description="each conversation's first turn (default), or all its turns as a session")
    sharegpt_max_isl: Annotated[int | None, Flag(metavar="TOKENS")] = Field(
        None, ge=1, description="skip conversations with a longer human message (tokens)")
    sharegpt_max_osl: Annotated[int | None, Flag(metavar="TOKENS")] = Field(
        None, ge=1, description="skip conversations with a longer recorded reply (tokens)")


@hookimpl
def register_options() -> list[OptionsSpec]:
    return [OptionsSpec(name=NAME, description="ShareGPT files", model=ShareGPTOptions,
                        title="ShareGPT files (--dataset sharegpt; docs/datasets.md)",
                        applies_to=("dataset", (NAME,)))]


def looks_like_sharegpt(path: Path) -> bool:
    """Whether ``path`` is a regular file whose first 64 KiB hold a ShareGPT entry's ``"conversations"``."""
    if not path.is_file():
        return False
    try:
        with path.open("rb") as handle:
            head = handle.read(65536)
    except OSError:
        return False
    return head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"[", b"{") and b'"conversations"' in head


def load_sharegpt(
    *,
    tokenizer: Tokenizer,
    path: str | Path | None = None,
    osl_mean: int | None = None,
    osl_stddev: float = 0.0,
    seed: int | None = 0,
    sharegpt_turns: str = "first",
    sharegpt_max_isl: int | None = None,
    sharegpt_max_osl: int | None = None,
    **_: Any,
) -> list[Conversation]:
    """One session per usable conversation of the ShareGPT file at ``path`` (see the module docstring)."""
    if path is None:
        raise UsageError("the sharegpt dataset needs a ShareGPT JSON or JSONL file (--input-file PATH)")
    path = Path(path)
    osl_rng = random.Random(f"inferload-osl-{seed}") if seed is not None else random.Random()
    skipped: Counter[str] = Counter()
    sessions = []
    for where, entry in _entries(path):
        messages = _messages(entry, where)
        turns, why = _turns(messages, tokenizer, every=sharegpt_turns == "all",
                            max_isl=sharegpt_max_isl, max_osl=sharegpt_max_osl)
        if why is not None:
            skipped[why] += 1
            continue
        if osl_mean is not None:  # --osl asks its own length instead of the recorded replies'
            turns = [Turn(t.messages, t.input_tokens, sample_length(osl_rng, osl_mean, osl_stddev))
                     for t in turns]
        system = next((m[1] for m in messages if m[0] == SYSTEM), None)
        first = turns[0]
        system_tokens = tokenizer.count(system) if system else 0
        name = entry.get("id")
        sessions.append(
            Conversation(
                conversation_id=str(name) if isinstance(name, str | int) and name != "" else where,
                prompt=first.messages[0]["content"],
                input_tokens=system_tokens + first.input_tokens,
                max_output_tokens=first.max_output_tokens,
                system=system,
                turns=tuple(turns),
            )
        )
    reasons = ", ".join(f"{count} {why}" for why, count in skipped.most_common())
    if not sessions:
        raise UsageError(f"ShareGPT file {path} has no usable conversation (a human message followed by a "
                         f"recorded reply, within --sharegpt-max-isl/-osl): {reasons or 'it is empty'}")
    if skipped:
        log.info("sharegpt: %d conversation(s) skipped: %s", sum(skipped.values()), reasons)
    return sessions


def _entries(path: Path) -> Iterator[tuple[str, Any]]:
    """``(FILE:LINE, decoded entry)`` of a JSON array or a JSONL file."""
    first = ""
    for _, line in iter_lines(path, what="--input-file"):
        if line.strip():
            first = line.lstrip("\ufeff \t")
            break
    if not first.startswith("["):
        for lineno, entry in iter_jsonl(path, what="--input-file"):
            yield f"{path}:{lineno}", entry
        return
    text = read_capped(path, what="--input-file", max_bytes=MAX_FILE_BYTES).lstrip("\ufeff")
    decoder = json.JSONDecoder()
    at = text.index("[") + 1
    line, counted = 1, 0
    while True:
        at = _skip_space(text, at)
        if at < len(text) and text[at] == "]":
            return
        line += text.count("\n", counted, at)
        counted = at
        try:
            entry, end = decoder.raw_decode(text, at)
        except json.JSONDecodeError as exc:
            raise UsageError(
                f"{path}:{exc.lineno}: not valid JSON ({exc.msg} at column {exc.colno})"
            ) from None
        yield f"{path}:{line}", entry
        at = _skip_space(text, end)
        if at < len(text) and text[at] == ",":
            at += 1
        elif at >= len(text) or text[at] != "]":
            line += text.count("\n", counted, at)
            raise UsageError(f"{path}:{line}: expected ',' or ']' after a conversation")


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\r\n":
        at += 1
    return at


def _messages(entry: Any, where: str) -> list[tuple[str, str]]:
    """``(role, text)`` of an entry's ``conversations``, roles mapped to user/assistant/system."""
    if not isinstance(entry, dict):
        raise UsageError(
            f'{where}: expected a JSON object with "conversations", got {type(entry).__name__}'
        )
    raw = entry.get("conversations")
    if not isinstance(raw, list):
        raise UsageError(f'{where}: "conversations" must be a list of {{"from", "value"}} objects')
    messages = []
    for number, message in enumerate(raw, start=1):
        if (not isinstance(message, dict) or not isinstance(message.get("from"), str)
                or not isinstance(message.get("value"), str)):
            raise UsageError(f'{where}: message {number} needs a string "from" and a string "value"')
        role = ROLES.get(message["from"].lower())
        if role is None:
            raise UsageError(f'{where}: message {number} is from {message["from"]!r}; expected one of '
                             + ", ".join(sorted(ROLES)))
        messages.append((role, message["value"]))
    return messages


def _turns(
    messages: list[tuple[str, str]], tokenizer: Tokenizer, *, every: bool, max_isl: int | None,
    max_osl: int | None,
) -> tuple[list[Turn], str | None]:
    """The turns of one conversation: each human message with the recorded reply that follows it (whose
    token count sizes the output); the first alone unless ``every``. Returns ``([], why)`` to skip it."""
    dialogue = [(role, text) for role, text in messages if role != SYSTEM]
    while dialogue and dialogue[0][0] != USER:
        dialogue.pop(0)  # some entries open with the assistant: the conversation starts at the first human
    turns = []
    for (role, text), (next_role, reply) in pairwise(dialogue):
        if role != USER or next_role != ASSISTANT:
            continue
        if not text.strip() or not reply.strip():
            return [], "with an empty message"
        isl, osl = tokenizer.count(text), tokenizer.count(reply)
        if max_isl is not None and isl > max_isl:
            return [], "over --sharegpt-max-isl"
        if max_osl is not None and osl > max_osl:
            return [], "over --sharegpt-max-osl"
        turns.append(Turn(({"role": USER, "content": text},), isl, max(1, osl)))
        if not every:
            break
    if not turns:
        return [], "without a human message and its reply"
    return turns, None
