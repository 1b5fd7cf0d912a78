"""The `inferload profile` settings that shape a workload beyond single prompts: multi-turn sessions,
ShareGPT files, request mixes and client-side cancellation (docs/profile.md, "Sessions, mixes and
cancellation"; docs/datasets.md).

They are one group of :class:`inferload.config.ProfileConfig`'s fields (a base class of it), validated here
so the group can grow without touching the rest of the config. Flag names follow AIPerf's where it has the
option (``--conversation-num``, ``--conversation-turn-mean`` …, ``--isl-osl-pairs``,
``--request-cancellation-rate``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from inferload.headers import check_header


class WorkloadOptions(BaseModel):
    """Sessions, ShareGPT, mixes and cancellation; see the module docstring."""

    # -- multi-turn sessions (session datasets: --dataset multi_turn, sharegpt) --------------------
    conversation_num: int | None = Field(
        None, ge=1, description="Sessions to send (session datasets; AIPerf's name)"
    )
    conversation_turn_mean: float | None = Field(
        None, ge=1, description="Turns per synthetic session, mean (default 3)"
    )
    conversation_turn_stddev: float = Field(0.0, ge=0, description="Turns per synthetic session, stddev")
    conversation_turn_delay_mean: float = Field(
        0.0, ge=0, description="Think time before each later turn of a synthetic session, ms, mean"
    )
    conversation_turn_delay_stddev: float = Field(0.0, ge=0, description="Think time stddev, ms")
    conversation_history: str = Field(
        "full", description="Earlier turns each request carries: full, none or window:N"
    )
    session_concurrency: int | None = Field(None, ge=1, description="Hard cap on sessions open at once")
    session_id_header: str = Field(
        "X-Session-ID", description="Affinity header carrying each session's id ('' sends none)"
    )

    @field_validator("conversation_history")
    @classmethod
    def _history(cls, value: str) -> str:
        from inferload.engine.sessions import parse_history

        parse_history(value)
        return value.strip().lower()

    @field_validator("session_id_header")
    @classmethod
    def _header_name(cls, value: str) -> str:
        value = value.strip()
        if value:
            check_header(f"{value}: session")
        return value

    @model_validator(mode="after")
    def _workload_combinations(self) -> Any:
        if self.conversation_num is not None and getattr(self, "request_count", None) is not None:
            raise ValueError(
                "give either --conversation-num or --request-count (both count sessions), not both"
            )
        return self

    def session_flags(self) -> list[str]:
        """The session flags given a value other than their default (they need a session dataset)."""
        defaults = {name: field.default for name, field in WorkloadOptions.model_fields.items()
                    if name.startswith(("conversation_", "session_"))}
        return [
            "--" + name.replace("_", "-")
            for name, default in defaults.items() if getattr(self, name) != default
        ]

    def dataset_options(self) -> dict[str, Any]:
        """What a dataset factory gets besides the core keywords (datasets accept ``**_``, so others
        ignore them): the session shape of synthetic sessions and the ShareGPT filters."""
        return {
            "conversation_num": self.conversation_num,
            "turn_mean": self.conversation_turn_mean,
            "turn_stddev": self.conversation_turn_stddev,
            "turn_delay_mean_ms": self.conversation_turn_delay_mean,
            "turn_delay_stddev_ms": self.conversation_turn_delay_stddev,
        }
