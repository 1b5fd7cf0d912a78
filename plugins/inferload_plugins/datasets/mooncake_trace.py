"""``--dataset mooncake_trace --input-file TRACE``: replay a request trace in Mooncake's JSONL format.

One request per line, in time order::

    {"timestamp": 0, "input_length": 1200, "output_length": 64, "hash_ids": [0, 1, 2]}

``timestamp`` is when the request arrived (ms; ``--fixed-schedule`` replays it), ``input_length`` its
prompt tokens, ``output_length`` (optional) the output length to ask for (without it ``--osl`` applies
when set), ``hash_ids`` (optional) the ids of its prompt's blocks of ``--prompt-block-size`` tokens
(default 512): block ``j`` covers tokens ``j*B .. (j+1)*B``, the last block what is left of
``input_length``. Two requests whose ``hash_ids`` start alike share exactly those blocks' tokens: each id's
text is synthesised once, from the shipped corpus, at its exact length under the run's tokenizer, and
every prompt is its blocks in order, then (if ``input_length`` is longer than the blocks) a tail of its
own. That is what makes a server's prefix cache see the trace's reuse.

The whole file is checked before anything is sent; a bad line stops the run with ``FILE:LINE``: not JSON,
a length that is not a whole number >= 1, a timestamp that is missing on some lines only, negative or
earlier than the line before, more blocks than ``input_length`` fills, an id repeated in one request, or
an id used at another block position or with another block length than where it first appeared.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field

from inferload import hookimpl
from inferload.dataset import MAX_SEQUENCE_TOKENS, Conversation, Tokenizer, sample_length
from inferload.errors import UsageError
from inferload.plugin_options import Flag
from inferload.textfiles import first_jsonl_value, iter_jsonl
from inferload.types import DatasetSpec, OptionsSpec
from inferload_plugins.datasets.corpus_windows import block_text, encode_source, exact_prompt

NAME = "mooncake_trace"
DEFAULT_BLOCK_SIZE = 512
"""Tokens per hash block when ``--prompt-block-size`` is not given (Mooncake's and AIPerf's)."""


@hookimpl
def register_datasets() -> list[DatasetSpec]:
    return [
        DatasetSpec(
            name=NAME,
            description="Mooncake trace JSONL (timestamp, input_length, output_length, hash_ids); shared "
                        "hash ids share prefix blocks exactly",
            factory=load_trace,
            input_file=True,
            detect=looks_like_trace,
        )
    ]


class TraceOptions(BaseModel):
    """``--prompt-block-size``: the trace's hash-block size (AIPerf's name)."""

    prompt_block_size: Annotated[int | None, Flag(metavar="TOKENS")] = Field(
        None, ge=1, le=MAX_SEQUENCE_TOKENS,
        description=f"tokens per trace hash block (default {DEFAULT_BLOCK_SIZE}; --dataset mooncake_trace)")


@hookimpl
def register_options() -> list[OptionsSpec]:
    return [OptionsSpec(name=NAME, description="Mooncake trace blocks", model=TraceOptions,
                        title="trace hash blocks (--dataset mooncake_trace; docs/datasets.md)",
                        applies_to=("dataset", (NAME,)))]


def looks_like_trace(path: Path) -> bool:
    """Whether a file's first JSON object is a trace line: it has ``input_length`` and no prompt text."""
    first = first_jsonl_value(path)
    return isinstance(first, dict) and "input_length" in first and not {"text", "messages"} & first.keys()


@dataclass(frozen=True)
class TraceEntry:
    """One checked line of a trace."""

    lineno: int
    timestamp_ms: float | None
    input_length: int
    output_length: int | None
    blocks: tuple[tuple[int, int], ...]
    """``(hash id, block length in tokens)`` in prompt order."""

    @property
    def tail(self) -> int:
        """Tokens after the last block: the request's own, shared with no other."""
        return self.input_length - sum(length for _, length in self.blocks)


def load_trace(
    *,
    tokenizer: Tokenizer,
    path: str | Path | None = None,
    osl_mean: int | None = None,
    osl_stddev: float = 0.0,
    seed: int | None = 0,
    prompt_block_size: int | None = None,
    **_: Any,
) -> list[Conversation]:
    """One conversation per trace line, in file order, with ``timestamp_ms`` from the trace.

    Raises UsageError (``FILE:LINE: what is wrong``) for a bad line, and naming the tokenizer when it
    cannot make a prompt of the exact length the trace gives.
    """
    if path is None:
        raise UsageError("the mooncake_trace dataset needs the trace file (--input-file PATH)")
    path = Path(path)
    block_size = DEFAULT_BLOCK_SIZE if prompt_block_size is None else prompt_block_size
    if block_size < 1:
        raise UsageError(f"--prompt-block-size must be at least 1 token, got {block_size}")
    entries = read_trace(path, block_size)
    if seed is None:
        seed = random.SystemRandom().randrange(2**32)
    return _synthesise(entries, path, tokenizer, seed, osl_mean, osl_stddev)


def read_trace(path: Path, block_size: int) -> list[TraceEntry]:
    """Every line of the trace, checked (see the module docstring); a UsageError names the first bad one."""
    entries: list[TraceEntry] = []
    first_seen: dict[int, tuple[int, int, int]] = {}  # hash id -> (position, length, line)
    timed: bool | None = None
    previous: tuple[float, int] | None = None
    for lineno, raw in iter_jsonl(path, what="--input-file"):
        where = f"{path}:{lineno}"
        if not isinstance(raw, dict):
            raise UsageError(f"{where}: expected a JSON object, got {type(raw).__name__}")
        stamp = _timestamp(raw, where)
        if timed is None:
            timed = stamp is not None
        elif timed != (stamp is not None):
            raise UsageError(f'{where}: "timestamp" is on some lines and not on others; give it on every '
                             "line (ms) or on none")
        if stamp is not None and previous is not None and stamp < previous[0]:
            raise UsageError(f"{where}: timestamp {stamp:g} ms is earlier than {previous[0]:g} ms on line "
                             f"{previous[1]}; a trace lists requests in time order (sort it by timestamp)")
        if stamp is not None:
            previous = (stamp, lineno)
        input_length = _length(raw, "input_length", where, required=True)
        assert input_length is not None
        output_length = _length(raw, "output_length", where, required=False)
        blocks = _blocks(raw, input_length, block_size, where, lineno, first_seen)
        entries.append(TraceEntry(lineno, stamp, input_length, output_length, blocks))
    if not entries:
        raise UsageError(f"trace {path} has no requests; add one JSON object per line")
    return entries


def _timestamp(raw: dict[str, Any], where: str) -> float | None:
    value = raw.get("timestamp")
    if value is None:
        return None
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or value < 0:
        raise UsageError(f'{where}: "timestamp" must be a number of milliseconds >= 0, got {value!r}')
    return float(value)


def _length(raw: dict[str, Any], key: str, where: str, *, required: bool) -> int | None:
    value = raw.get(key)
    if value is None:
        if required:
            raise UsageError(f'{where}: needs "{key}" (a whole number of tokens >= 1)')
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SEQUENCE_TOKENS:
        raise UsageError(f'{where}: "{key}" must be a whole number of tokens, 1 .. {MAX_SEQUENCE_TOKENS:,}, '
                         f"got {value!r}")
    return value


def _blocks(raw: dict[str, Any], input_length: int, block_size: int, where: str, lineno: int,
            first_seen: dict[int, tuple[int, int, int]]) -> tuple[tuple[int, int], ...]:
    """The line's ``(hash id, length)`` blocks, checked against its length and against earlier lines."""
    ids = raw.get("hash_ids", [])
    if not isinstance(ids, list) or any(isinstance(h, bool) or not isinstance(h, int) or h < 0 for h in ids):
        raise UsageError(f'{where}: "hash_ids" must be a list of whole numbers >= 0, got {ids!r}')
    if len(set(ids)) != len(ids):
        repeated = next(h for h in ids if ids.count(h) > 1)
        raise UsageError(f"{where}: hash id {repeated} appears twice in one request; each id is one block")
    most = math.ceil(input_length / block_size)
    if len(ids) > most:
        raise UsageError(
            f"{where}: {len(ids)} hash ids need more than {(len(ids) - 1) * block_size} tokens at "
            f"--prompt-block-size {block_size}, but input_length is {input_length} (room for {most} "
            "block(s)); fix the line or give the trace's block size"
        )
    blocks = []
    for position, hash_id in enumerate(ids):
        length = min(block_size, input_length - position * block_size)
        seen = first_seen.setdefault(hash_id, (position, length, lineno))
        if seen[0] != position:
            raise UsageError(f"{where}: hash id {hash_id} is block {position + 1} here but block "
                             f"{seen[0] + 1} on line {seen[2]}; a hash id names one prefix block at one "
                             "position")
        if seen[1] != length:
            raise UsageError(f"{where}: hash id {hash_id} holds {length} tokens here but {seen[1]} on line "
                             f"{seen[2]}; a block shared by two requests has one length")
        blocks.append((hash_id, length))
    return tuple(blocks)


def _synthesise(entries: list[TraceEntry], path: Path, tokenizer: Tokenizer, seed: int,
                osl_mean: int | None, osl_stddev: float) -> list[Conversation]:
    """Prompt text for every entry: each hash id's block made once, then joined in each entry's order."""
    longest = max(max((length for e in entries for _, length in e.blocks), default=0),
                  max(e.tail for e in entries))
    source = encode_source(tokenizer, longest + 16)
    text_rng = random.Random(f"inferload-trace-blocks-{seed}")
    osl_rng = random.Random(f"inferload-osl-{seed}")
    block_texts: dict[int, str] = {}
    conversations = []
    for entry in entries:
        parts = []
        for hash_id, length in entry.blocks:
            if hash_id not in block_texts:
                block_texts[hash_id] = block_text(tokenizer, source, length, text_rng)
            parts.append(block_texts[hash_id])
        if entry.tail:
            parts.append(exact_prompt(tokenizer, source, entry.tail, text_rng, prefix=f"#{entry.lineno}:"))
        prompt = "".join(parts)
        got = tokenizer.count(prompt)
        if got != entry.input_length:
            raise UsageError(
                f"{path}:{entry.lineno}: tokenizer {tokenizer.name!r} counts {got} tokens in the prompt made "
                f"of this line's blocks, not its input_length {entry.input_length} (it merges text across "
                "block edges); use another --tokenizer"
            )
        max_tokens = entry.output_length
        if max_tokens is None and osl_mean is not None:
            max_tokens = sample_length(osl_rng, osl_mean, osl_stddev)
        conversations.append(
            Conversation(conversation_id=f"{path.name}:{entry.lineno}", prompt=prompt,
                         input_tokens=entry.input_length, max_output_tokens=max_tokens,
                         timestamp_ms=entry.timestamp_ms)
        )
    return conversations
