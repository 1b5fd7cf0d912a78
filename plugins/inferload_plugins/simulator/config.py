"""SimulatorConfig: the validated settings of one simulator process.

Every field is a flag of ``inferload simulate`` and an environment variable ``INFERLOAD_SIM_<FIELD>``;
defaults and help text come from :mod:`.parameters` so they are declared once. Precedence: explicit
keyword arguments (flags) over environment over defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .faults import FaultSyntaxError, check_fault_rates, parse_fault_rates
from .parameters import BY_NAME, ENV_PREFIX


def _field(name: str, **constraints: Any) -> Any:
    parameter = BY_NAME[name]
    default = {} if name == "fault_rate" else parameter.default
    return Field(default, description=parameter.help, **constraints)


class SimulatorConfig(BaseSettings):
    """Settings of the simulated OpenAI-compatible server (see docs/simulator.md for the model)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    host: str = _field("host")
    port: int = _field("port", ge=0, le=65535)
    served_model_name: str = _field("served_model_name", min_length=1)
    strict_model: bool = _field("strict_model")
    seed: int = _field("seed")
    fast: bool = _field("fast")
    prefill_tokens_per_s: float = _field("prefill_tokens_per_s", gt=0)
    decode_step_s: float = _field("decode_step_s", ge=0)
    decode_step_per_seq_s: float = _field("decode_step_per_seq_s", ge=0)
    max_running_seqs: int = _field("max_running_seqs", ge=1)
    max_batched_tokens: int = _field("max_batched_tokens", ge=1)
    tokens_per_chunk: int = _field("tokens_per_chunk", ge=1)
    output_len_mean: int = _field("output_len_mean", ge=1)
    output_len_sigma: float = _field("output_len_sigma", ge=0)
    natural_stop: bool = _field("natural_stop")
    max_model_len: int = _field("max_model_len", ge=2)
    reasoning_tokens: int = _field("reasoning_tokens", ge=0)
    kv_cache_blocks: int = _field("kv_cache_blocks", ge=0)
    kv_cache_block_size: int = _field("kv_cache_block_size", ge=1)
    embedding_dim: int = _field("embedding_dim", ge=1, le=65536)
    truth_log: Path | None = _field("truth_log")
    fault_rate: Annotated[dict[str, float], NoDecode] = _field("fault_rate")

    @field_validator("fault_rate", mode="before")
    @classmethod
    def _parse_fault_rate(cls, value: Any) -> Any:
        """Accept the flag syntax ``KIND[:PARAM]=RATE,...`` as well as a mapping."""
        try:
            if isinstance(value, str):
                return parse_fault_rates(value)
            if isinstance(value, dict):
                return check_fault_rates(value)
        except FaultSyntaxError as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _check_budget(self) -> SimulatorConfig:
        if self.max_batched_tokens < self.max_running_seqs:
            raise ValueError(
                f"max_batched_tokens ({self.max_batched_tokens}) must be at least max_running_seqs "
                f"({self.max_running_seqs}): every running sequence needs a token of each step"
            )
        return self


_UNDECLARED = set(SimulatorConfig.model_fields) ^ set(BY_NAME)
if _UNDECLARED:  # a field without a flag (or the reverse) would silently be unreachable
    raise RuntimeError(f"SimulatorConfig and parameters.PARAMETERS disagree on {sorted(_UNDECLARED)}")


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem, naming the flag and the env var, for a user-facing error."""
    lines = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        parameter = BY_NAME.get(name)
        where = f"{parameter.flag} / {parameter.env}" if parameter else "settings"
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message} (got {error.get('input')!r})" if parameter else message)
    return "; ".join(lines)
