"""vLLM's prefix cache reset: ``POST /reset_prefix_cache`` (served by vLLM's OpenAI server; recent
versions expose it only with ``VLLM_SERVER_DEV_MODE=1``)."""

from __future__ import annotations

from inferload import hookimpl
from inferload.types import CacheResetSpec


@hookimpl
def register_cache_resets() -> list[CacheResetSpec]:
    return [CacheResetSpec(name="vllm", description="vLLM: POST /reset_prefix_cache",
                           path="/reset_prefix_cache")]
