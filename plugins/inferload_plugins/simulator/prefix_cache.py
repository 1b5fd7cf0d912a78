"""The simulator's prefix cache: an LRU of hashed token blocks, as vLLM's automatic prefix caching keeps them.

A prompt's token ids (every message's content in order, no template) are cut into blocks of
``kv_cache_block_size`` tokens; block *i*'s key hashes block *i - 1*'s key with its own ids, so a key stands
for the whole prefix up to its block. A request is served the longest run of leading blocks already in the
cache (``cached_tokens``, never the whole prompt: the last token is always computed, as in vLLM, so the
first output token has a step to come from), then all its full blocks are inserted or refreshed, and the
least recently used blocks beyond ``kv_cache_blocks`` are evicted.

What it models: a session's later turn finds its earlier turns (and the replies, which the client sends
back) cached; prompts that share a system prompt or any prefix share its blocks. Prefill then only
computes the uncached tokens (docs/simulator.md, "Prefix caching").
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence


class PrefixCache:
    """``capacity`` blocks of ``block_size`` tokens; see the module docstring."""

    def __init__(self, capacity: int, block_size: int) -> None:
        self.capacity = capacity
        self.block_size = block_size
        self._blocks: OrderedDict[int, None] = OrderedDict()

    def admit(self, token_ids: Sequence[int]) -> int:
        """Look ``token_ids`` up, then cache its full blocks; return how many leading tokens were cached."""
        size = self.block_size
        blocks = self._blocks
        keys = []
        key = 0
        for start in range(0, len(token_ids) - size + 1, size):
            key = hash((key, *token_ids[start : start + size]))
            keys.append(key)
        hit = 0
        for key in keys:
            if key not in blocks:
                break
            hit += 1
        cached = min(hit * size, max(0, (len(token_ids) - 1) // size * size))
        for key in keys:
            if key in blocks:
                blocks.move_to_end(key)
            else:
                blocks[key] = None
        while len(blocks) > self.capacity:
            blocks.popitem(last=False)
        return cached

    def __len__(self) -> int:
        return len(self._blocks)
