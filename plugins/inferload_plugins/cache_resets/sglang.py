"""SGLang's cache flush: ``POST /flush_cache`` (refused by the server while requests are running, which
is never the case between two runs)."""

from __future__ import annotations

from inferload import hookimpl
from inferload.types import CacheResetSpec


@hookimpl
def register_cache_resets() -> list[CacheResetSpec]:
    return [CacheResetSpec(name="sglang", description="SGLang: POST /flush_cache", path="/flush_cache")]
