"""The simulator's parameters as plain data: name, type, default and help, in one table.

This table is the single place a parameter is declared. :class:`~.config.SimulatorConfig` (pydantic-settings,
env prefix ``INFERLOAD_SIM_``) takes its defaults and descriptions from it, and ``inferload simulate``
turns every row into a flag. It is stdlib-only on purpose: ``inferload --help`` builds every command's
flags, and importing pydantic there would slow every invocation down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from inferload.dataset import DEFAULT_OUTPUT_TOKENS


@dataclass(frozen=True)
class Parameter:
    """One simulator setting: field ``name``, flag ``--name-with-dashes``, env ``INFERLOAD_SIM_NAME``."""

    name: str
    type: type
    default: Any
    help: str
    metavar: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()


ENV_PREFIX = "INFERLOAD_SIM_"

PARAMETERS: tuple[Parameter, ...] = (
    # -- where and what it serves ----------------------------------------------------------------
    Parameter("host", str, "127.0.0.1", "address to bind", "ADDR"),
    Parameter("port", int, 8000, "TCP port to bind; 0 picks a free one (the URL is printed)", "PORT"),
    Parameter("served_model_name", str, "inferload-sim",
              "model name listed by /v1/models; requests may name any model unless --strict-model", "NAME"),
    Parameter("strict_model", bool, False, "answer 404 model_not_found for any other model name"),
    Parameter("seed", int, 0, "seed for generated text, output lengths and fault draws", "N"),
    # -- performance model -----------------------------------------------------------------------
    Parameter("fast", bool, False,
              "zero latency: answer at once, no scheduling (to find a client's ceiling)"),
    Parameter("prefill_tokens_per_s", float, 20000.0,
              "prompt processing rate; prefill of P tokens adds P / rate to a step", "RATE"),
    Parameter("decode_step_s", float, 0.005,
              "time of one decode step with a single running sequence", "SECONDS"),
    Parameter("decode_step_per_seq_s", float, 0.0002,
              "extra step time per running sequence (continuous batching slows every sequence)", "SECONDS"),
    Parameter("max_running_seqs", int, 64,
              "sequences decoded at once; further requests wait in the queue", "N"),
    Parameter("max_batched_tokens", int, 8192,
              "token budget of one step (decode tokens + chunked prefill tokens)", "N"),
    Parameter("tokens_per_chunk", int, 1,
              "tokens each decode step yields per sequence (>1 models speculative decoding)", "N"),
    Parameter("output_len_mean", int, DEFAULT_OUTPUT_TOKENS,
              "mean natural output length in tokens of a request that sets no max tokens", "TOKENS"),
    Parameter("output_len_sigma", float, 0.6,
              "log-normal shape of the natural output length; 0 makes every output exactly the mean",
              "SIGMA"),
    Parameter("natural_stop", bool, False,
              "stop at the natural length even when a request sets max tokens (as a real model's EOS does); "
              "default: max tokens is the exact output length, ignore_eos or not"),
    Parameter("max_model_len", int, 8192,
              "context length: longer prompts get 400, outputs stop at max_model_len - prompt", "TOKENS"),
    Parameter("reasoning_tokens", int, 0,
              "chat answers start with this many tokens of reasoning_content (counted in usage)", "N"),
    Parameter("kv_cache_blocks", int, 0,
              "prefix cache: an LRU of this many hashed token blocks; cached prompt tokens skip prefill and "
              "are reported as usage.prompt_tokens_details.cached_tokens (0: no prefix caching)", "N"),
    Parameter("kv_cache_block_size", int, 16, "tokens per prefix-cache block (vLLM's default)", "TOKENS"),
    Parameter("embedding_dim", int, 384, "length of /v1/embeddings vectors unless a request sets dimensions",
              "N"),
    # -- observability and faults ----------------------------------------------------------------
    Parameter("truth_log", str, None, "write one JSON line of server timestamps per request to PATH",
              "PATH"),
    Parameter("fault_rate", str, "",
              "inject faults at random: KIND[:PARAM]=RATE,... e.g. http500=0.1,stall_mid:2=0.05", "SPEC"),
)
"""Every simulator parameter, in the order `inferload simulate --help` shows them."""

BY_NAME: dict[str, Parameter] = {p.name: p for p in PARAMETERS}
