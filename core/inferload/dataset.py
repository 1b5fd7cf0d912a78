"""What a dataset hands the engine: :class:`Conversation`, and the :class:`Tokenizer` that measures it.

Dataset plugins (``register_datasets``) return a ``list[Conversation]``; tokenizer plugins
(``register_tokenizers``) return objects satisfying :class:`Tokenizer`. Both are prepared before the first
request is sent, so nothing here is on the hot path except :meth:`Tokenizer.count`, which the engine may call
once per response to count output tokens when the server reports no ``usage``.

A dataset factory is called with keyword arguments only and must accept (and may ignore) all of these::

    factory(*, tokenizer: Tokenizer, num_entries: int, isl_mean: int, isl_stddev: float,
            osl_mean: int | None, osl_stddev: float, seed: int, path: str | None = None,
            **_) -> list[Conversation]

The trailing ``**_`` lets the engine pass new options (e.g. ``unique_prefix``) without breaking plugins.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from inferload.errors import UsageError

if TYPE_CHECKING:
    from inferload.registry import PluginRegistry


@runtime_checkable
class Tokenizer(Protocol):
    """Turns text into token ids and back. ISL and client-side OSL are counted with it.

    Counts never include special tokens (BOS/EOS) or a chat template: they measure the text inferload
    sends or receives, which is what the tokenizer can know without the server's template.
    """

    name: str
    """What ``--tokenizer`` resolved to (``builtin``, a path or a model name); recorded in run info."""

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``, without special tokens."""
        ...

    def decode(self, ids: Sequence[int]) -> str:
        """The text of ``ids``; ``encode(decode(ids))`` need not equal ``ids`` in general."""
        ...

    def count(self, text: str) -> int:
        """``len(encode(text))``, but as cheap as the tokenizer can make it (it runs per response)."""
        ...


@dataclass(frozen=True, slots=True)
class Turn:
    """One user turn of a multi-turn session (:attr:`Conversation.turns`).

    ``messages`` are what the user says in this turn (OpenAI-style ``{"role", "content"}``, usually one
    ``user`` message); ``input_tokens`` their exact token count under the run's tokenizer. The request of
    turn *k* carries the earlier turns and the replies the server actually streamed to them (as
    ``--conversation-history`` allows), then these messages. ``delay_ms`` is the user's think time: how
    long after the previous reply ended this turn is sent (ignored for the first turn: the session's start).
    """

    messages: tuple[Mapping[str, Any], ...]
    input_tokens: int
    max_output_tokens: int | None = None
    delay_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class Conversation:
    """One prompt to send, fully prepared: the engine renders it into a payload before t=0.

    ``prompt`` is the text a completions endpoint sends. A chat endpoint sends :meth:`chat_messages`:
    ``messages`` verbatim when the dataset gave them, else ``system`` (if any) and ``prompt`` as the user
    turn. ``input_tokens`` is the exact token count of every text the request carries (``system`` plus
    ``prompt``, or every message's content) under the run's tokenizer, without template or special tokens.
    """

    conversation_id: str
    prompt: str
    input_tokens: int
    max_output_tokens: int | None = None
    """Output length to ask for (``max_tokens`` by default); ``None`` lets the server decide."""
    system: str | None = None
    messages: tuple[Mapping[str, Any], ...] | None = None
    """OpenAI-style ``{"role": ..., "content": ...}`` turns, when the source is a conversation."""
    turns: tuple[Turn, ...] | None = None
    """A multi-turn session (session datasets only): the turns sent one after another, each once the reply
    to the previous one has arrived. The fields above then describe the first turn alone (what
    ``inputs.json`` and the readiness probe show); ``system`` is sent before every turn's history."""
    timestamp_ms: float | None = None
    """When the source trace sent this request, in ms on the trace's own axis (``None``: no timing).
    ``--fixed-schedule`` replays these (:class:`inferload.types.ArrivalSpec` with ``timed``)."""

    def text(self) -> str:
        """The whole input as one string, for endpoints that take a single prompt (completions,
        embeddings …): ``system`` (if any), a line break unless it ends with one, then ``prompt``."""
        if not self.system:
            return self.prompt
        return self.system + ("" if self.system.endswith("\n") else "\n") + self.prompt
    documents: tuple[str, ...] | None = None
    """The documents a rerank request ranks against ``prompt`` (the query); ``input_tokens`` then counts
    the query plus every document. None for every other endpoint type."""

    def chat_messages(self) -> list[dict[str, Any]]:
        """The ``messages`` array for a chat request."""
        if self.messages is not None:
            return [dict(message) for message in self.messages]
        turns: list[dict[str, Any]] = []
        if self.system:
            turns.append({"role": "system", "content": self.system})
        turns.append({"role": "user", "content": self.prompt})
        return turns


DEFAULT_OUTPUT_TOKENS = 128
"""The output length a request asks when its API requires one (Anthropic's ``max_tokens``) and the run sets
no ``--osl``: the natural mean length the simulator gives every endpoint type that asks none, so no
dialect's default run is longer than another's."""

MAX_SEQUENCE_TOKENS = 1_000_000
"""Largest ``--isl`` and ``--osl`` (and any sampled length): the longest context windows served today hold
about a million tokens, and every prompt is built in memory before the first request."""
MAX_DATASET_TOKENS = 100_000_000
"""Largest synthetic dataset, ``--num-dataset-entries`` x ``--isl`` tokens (about 400 MB of prompt text)."""


def sample_length(rng: random.Random, mean: float, stddev: float) -> int:
    """A token length from N(mean, stddev), rounded and clipped to 1 .. :data:`MAX_SEQUENCE_TOKENS`;
    exactly ``round(mean)`` (so clipped) if stddev is 0.

    The one rule every dataset uses for ``--isl``/``--isl-stddev`` and ``--osl``/``--osl-stddev``.
    """
    if stddev <= 0:
        return min(MAX_SEQUENCE_TOKENS, max(1, round(mean)))
    return min(MAX_SEQUENCE_TOKENS, max(1, round(rng.gauss(mean, stddev))))


def resolve_tokenizer(registry: PluginRegistry, value: str | None) -> Tokenizer:
    """Build the tokenizer that ``--tokenizer VALUE`` names.

    The rule: no value (or a blank one) is the catalogue's default tokenizer; a registered tokenizer name
    is that plugin; anything else (a ``tokenizer.json`` path, a directory holding one, a model name in a
    local cache) goes to the first registered tokenizer whose spec says ``accepts_paths``. Raises
    UsageError naming the choices when there is none.
    """
    if value is None or not value.strip():
        spec = registry.default("tokenizer", choose="--tokenizer NAME")
        return spec.factory(spec.name)
    value = value.strip()
    tokenizers = registry.all("tokenizer")
    if value in tokenizers:
        return tokenizers[value].factory(value)
    loaders = [spec for spec in tokenizers.values() if spec.accepts_paths]
    if not loaders:
        names = ", ".join(sorted(tokenizers)) or "none"
        raise UsageError(
            f"--tokenizer {value!r} is not a registered tokenizer ({names}) and no installed tokenizer "
            "plugin loads tokenizer files or model names; give one of those names, or install such a "
            "plugin (the Hugging Face one: `pip install 'inferload[hf]'`)"
        )
    return loaders[0].factory(value)
