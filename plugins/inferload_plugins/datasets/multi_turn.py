"""``--dataset multi_turn``: multi-turn sessions from a JSONL file, one session per line.

Each non-blank line is a JSON object::

    {"session_id": "chat-1", "system": "You are terse.",
     "turns": [{"text": "Hi"}, {"text": "And then?", "delay_ms": 1500, "max_tokens": 64}]}

``turns`` is a non-empty list; each turn has ``"text"`` or ``"messages"`` (never both) as a line of the
plain file dataset does, and optionally ``"delay_ms"`` (think time after the previous reply, default 0)
and ``"max_tokens"`` (else ``--osl``/``--osl-stddev`` when given, else the server decides).
``session_id`` (default ``FILE:LINE``) and ``system`` are optional. The assistant replies are never in the
file: each later turn carries the replies the server streamed (``--conversation-history``).

``--input-file`` alone picks this dataset when the file's first line has ``"turns"``. A bad line stops the
run before any request, naming ``FILE:LINE`` and the turn.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from inferload import hookimpl
from inferload.dataset import Conversation, Tokenizer, Turn, sample_length
from inferload.errors import UsageError
from inferload.textfiles import first_jsonl_value, iter_jsonl
from inferload.types import DatasetSpec
from inferload_plugins.datasets.jsonl_prompt import max_tokens_field, prompt_fields

NAME = "multi_turn"


@hookimpl
def register_datasets() -> list[DatasetSpec]:
    return [
        DatasetSpec(
            name=NAME,
            description='Multi-turn sessions from JSONL: {"session_id", "turns": [{"text"|"messages", ...}]}',
            factory=load_sessions,
            input_file=True,
            sessions=True,
            detect=has_turns,
        )
    ]


def has_turns(path: Path) -> bool:
    """Whether the first non-blank line of the regular file ``path`` is a JSON object with ``"turns"``."""
    entry = first_jsonl_value(path)
    return isinstance(entry, dict) and "turns" in entry


def load_sessions(
    *,
    tokenizer: Tokenizer,
    path: str | Path | None = None,
    osl_mean: int | None = None,
    osl_stddev: float = 0.0,
    seed: int | None = 0,
    **_: Any,
) -> list[Conversation]:
    """One session (a :class:`Conversation` with ``turns``) per line of the JSONL file at ``path``."""
    if path is None:
        raise UsageError("the multi_turn dataset needs a JSONL file of sessions (--input-file PATH)")
    path = Path(path)
    osl_rng = random.Random(f"inferload-osl-{seed}") if seed is not None else random.Random()
    sessions = []
    for lineno, entry in iter_jsonl(path, what="--input-file"):
        where, default_id = f"{path}:{lineno}", f"{path.name}:{lineno}"
        sessions.append(_session(entry, where, default_id, tokenizer, osl_rng, osl_mean, osl_stddev))
    if not sessions:
        raise UsageError(f"session file {path} has no sessions; add one JSON object with \"turns\" per line")
    return sessions


def _session(
    entry: Any,
    where: str,
    default_id: str,
    tokenizer: Tokenizer,
    osl_rng: random.Random,
    osl_mean: int | None,
    osl_stddev: float,
) -> Conversation:
    if not isinstance(entry, dict):
        raise UsageError(f"{where}: expected a JSON object with \"turns\", got {type(entry).__name__}")
    raw_turns = entry.get("turns")
    if not isinstance(raw_turns, list) or not raw_turns:
        raise UsageError(f'{where}: "turns" must be a non-empty list of {{"text"|"messages", ...}} objects')
    session_id = entry.get("session_id", default_id)
    if not isinstance(session_id, str | int) or isinstance(session_id, bool) or session_id == "":
        raise UsageError(f'{where}: "session_id" must be a non-empty string or a number')
    system = entry.get("system")
    if system is not None and (not isinstance(system, str) or not system):
        raise UsageError(f'{where}: "system" must be a non-empty string')
    turns = []
    for number, raw in enumerate(raw_turns, start=1):
        at = f"{where}: turn {number}"
        prompt, messages = prompt_fields(raw, at)
        max_tokens = max_tokens_field(raw, at)
        if max_tokens is None and osl_mean is not None:
            max_tokens = sample_length(osl_rng, osl_mean, osl_stddev)
        delay = raw.get("delay_ms", 0)
        if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay < float("inf"):
            raise UsageError(f'{at}: "delay_ms" must be a number of milliseconds >= 0, got {delay!r}')
        turns.append(
            Turn(
                messages=messages or ({"role": "user", "content": prompt},),
                input_tokens=tokenizer.count(prompt),
                max_output_tokens=max_tokens,
                delay_ms=float(delay),
            )
        )
    first = turns[0]
    system_tokens = tokenizer.count(system) if system else 0
    first_text = "\n".join(str(m["content"]) for m in first.messages)
    return Conversation(
        conversation_id=str(session_id),
        prompt=first_text,
        input_tokens=system_tokens + first.input_tokens,
        max_output_tokens=first.max_output_tokens,
        system=system,
        messages=first.messages if system is None else ({"role": "system", "content": system},
                                                        *first.messages),
        turns=tuple(turns),
    )
