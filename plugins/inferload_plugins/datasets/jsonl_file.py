"""``--dataset file``: prompts from a JSONL file, one request per line, sent in file order.

Each non-blank line is a JSON object with either ``"text"`` (a prompt string) or ``"messages"`` (OpenAI-style
``[{"role": ..., "content": "..."}]`` turns), never both, and optionally ``"max_tokens"`` (the output length
to ask for;
without it ``--osl``/``--osl-stddev`` apply when set, else the server decides). Every line is used:
``--num-dataset-entries`` shapes synthetic data only. A bad line stops the run before it starts, with the
file and line number, because a benchmark that silently skips prompts measures something else. The file
is UTF-8, with or without a byte-order mark (as Windows editors save it); lines end in LF or CRLF and are at
most :data:`inferload.textfiles.MAX_LINE_BYTES` (16 MiB) long. It is read a line at a time, so a file that
never ends a line (``/dev/zero``) stops at the cap, and a signal stops the reading.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from inferload import hookimpl
from inferload.dataset import Conversation, Tokenizer, sample_length
from inferload.errors import UsageError
from inferload.textfiles import iter_jsonl
from inferload.types import DatasetSpec
from inferload_plugins.datasets.jsonl_prompt import max_tokens_field, prompt_fields

NAME = "file"


@hookimpl
def register_datasets() -> list[DatasetSpec]:
    return [
        DatasetSpec(
            name=NAME,
            description='Prompts from a JSONL file: {"text": ...} or {"messages": [...]}, opt. max_tokens',
            factory=load_jsonl,
            input_file=True,
        )
    ]


def load_jsonl(
    *,
    tokenizer: Tokenizer,
    path: str | Path | None = None,
    osl_mean: int | None = None,
    osl_stddev: float = 0.0,
    seed: int | None = 0,
    **_: Any,
) -> list[Conversation]:
    """One conversation per line of the JSONL file at ``path``; ``input_tokens`` counted by ``tokenizer``."""
    if path is None:
        raise UsageError("the file dataset needs the path of a JSONL file (--input-file PATH)")
    path = Path(path)
    osl_rng = random.Random(f"inferload-osl-{seed}") if seed is not None else random.Random()
    conversations = []
    for lineno, entry in iter_jsonl(path, what="--input-file"):
        where = f"{path}:{lineno}"
        prompt, messages = prompt_fields(entry, where, text_keys=("text", "query"))
        documents = _documents_of(entry, where)
        max_tokens = max_tokens_field(entry, where)
        if max_tokens is None and osl_mean is not None:
            max_tokens = sample_length(osl_rng, osl_mean, osl_stddev)
        conversations.append(
            Conversation(
                conversation_id=f"{path.name}:{lineno}",
                prompt=prompt,
                input_tokens=tokenizer.count(prompt) + sum(map(tokenizer.count, documents or ())),
                max_output_tokens=max_tokens,
                messages=messages,
                documents=documents,
            )
        )
    if not conversations:
        raise UsageError(f"dataset file {path} has no entries; add one JSON object per line")
    return conversations


def _documents_of(entry: dict[str, Any], where: str) -> tuple[str, ...] | None:
    """A rerank line's ``documents`` (a non-empty list of strings, ranked against its ``query``)."""
    if "documents" not in entry:
        return None
    value = entry["documents"]
    if "query" not in entry:
        raise UsageError(f'{where}: "documents" go with a "query" (the text they are ranked against)')
    if not isinstance(value, list) or not value or not all(isinstance(d, str) and d for d in value):
        raise UsageError(f'{where}: "documents" must be a non-empty list of non-empty strings')
    return tuple(value)
