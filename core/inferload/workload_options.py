"""The `inferload profile` settings that shape a workload beyond single prompts: multi-turn sessions,
request mixes and client-side cancellation (docs/profile.md, "Sessions, mixes and
cancellation"; docs/datasets.md).

They are one group of :class:`inferload.config.ProfileConfig`'s fields (a base class of it), validated here
so the group can grow without touching the rest of the config. Flag names follow AIPerf's where it has the
option (``--conversation-num``, ``--conversation-turn-mean`` …, ``--isl-osl-pairs``,
``--request-cancellation-rate``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from inferload.dataset import MAX_SEQUENCE_TOKENS
from inferload.headers import check_header

FLOW_OPTIONS: tuple[str, ...] = (
    "conversation_history", "session_concurrency", "session_id_header",
    "request_cancellation_rate", "request_cancellation_delay",
)
"""The fields below that only a request flow plugin reads (:class:`~inferload.types.RequestFlowSpec`'s
``options``): given while no enabled flow takes one, the run stops with a usage error."""


class WorkloadOptions(BaseModel):
    """Sessions, mixes and cancellation; see the module docstring."""

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

    # -- request mixes and client-side cancellation -------------------------------------------------
    isl_osl_pairs: str | None = Field(
        None, description="A mix of request shapes: 'ISL:OSL[:WEIGHT],...' or AIPerf's 'ISL,OSL:PCT;...'"
    )
    request_cancellation_rate: float = Field(
        0.0, ge=0, le=100, description="Percent of requests the client cancels mid-flight (AIPerf's name)"
    )
    request_cancellation_delay: float | None = Field(
        None, ge=0, description="Seconds after sending that a chosen request is cancelled (default 0)"
    )

    @field_validator("isl_osl_pairs")
    @classmethod
    def _pairs(cls, value: str | None) -> str | None:
        if value is not None:
            parse_isl_osl_pairs(value)
        return value

    @field_validator("conversation_history")
    @classmethod
    def _history(cls, value: str) -> str:
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
        if self.request_cancellation_delay is not None and not self.request_cancellation_rate:
            raise ValueError("--request-cancellation-delay needs --request-cancellation-rate PERCENT")
        if self.isl_osl_pairs is not None and getattr(self, "input_file", None) is not None:
            raise ValueError(
                "--isl-osl-pairs shapes synthetic prompts; a file's prompts have their own lengths"
            )
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
        ignore them): the session shape of synthetic sessions and the request mix."""
        return {
            "conversation_num": self.conversation_num,
            "turn_mean": self.conversation_turn_mean,
            "turn_stddev": self.conversation_turn_stddev,
            "turn_delay_mean_ms": self.conversation_turn_delay_mean,
            "turn_delay_stddev_ms": self.conversation_turn_delay_stddev,
            "isl_osl_pairs": None if self.isl_osl_pairs is None else parse_isl_osl_pairs(self.isl_osl_pairs),
        }

    @property
    def cancellation_delay(self) -> float:
        """``--request-cancellation-delay`` in seconds (0 when not given)."""
        return self.request_cancellation_delay or 0.0


def parse_history(value: str) -> int | None:
    """``--conversation-history`` as the number of earlier turns a request carries: None for ``full``
    (all), 0 for ``none``, N for ``window:N``. Raises ValueError naming the accepted forms."""
    text = value.strip().lower()
    if text == "full":
        return None
    if text == "none":
        return 0
    if text.startswith("window:"):
        count = text[len("window:"):]
        if count.isdigit() and int(count) >= 1:
            return int(count)
    raise ValueError(f"{value!r} is not none, full or window:N (N >= 1 earlier turns)")


@dataclass(frozen=True)
class RequestShape:
    """One entry of a request mix: ISL and OSL means and standard deviations (tokens), and its share of the
    requests (0-1, the shares of a mix sum to 1)."""

    isl: int
    isl_stddev: float
    osl: int
    osl_stddev: float
    share: float


_LENGTH = r"\s*(\d+)\s*(?:\|\s*(\d+(?:\.\d*)?)\s*)?"
_AIPERF_ENTRY = re.compile(rf"^{_LENGTH},{_LENGTH}:\s*(\d+(?:\.\d*)?)\s*$")
_PAIR_ENTRY = re.compile(rf"^{_LENGTH}:{_LENGTH}(?::\s*(\d+(?:\.\d*)?)\s*)?$")


def parse_isl_osl_pairs(value: str) -> list[RequestShape]:
    """``--isl-osl-pairs``: a mix of request shapes, in either of two forms.

    * ``ISL:OSL[:WEIGHT],...`` — e.g. ``128:64,1024:256:3``: pairs separated by commas, each with an
      optional relative weight (default 1).
    * AIPerf's ``--sequence-distribution`` form, ``ISL,OSL:PERCENT;...`` — e.g. ``128,64:70;1024,256:30``:
      entries separated by semicolons, percentages summing to 100.

    Either form may give a length as ``MEAN|STDDEV`` (``256|20``). Raises ValueError naming the bad entry."""
    text = value.strip()
    if not text:
        raise ValueError("give at least one ISL:OSL pair, e.g. '128:64,1024:256'")
    aiperf = ";" in text or _AIPERF_ENTRY.match(text) is not None
    entries = [part for part in text.split(";" if aiperf else ",")]
    pattern = _AIPERF_ENTRY if aiperf else _PAIR_ENTRY
    raw: list[tuple[int, float, int, float, float]] = []
    for entry in entries:
        match = pattern.match(entry)
        if match is None:
            form = "ISL,OSL:PERCENT (AIPerf's form, ';' between entries)" if aiperf else "ISL:OSL[:WEIGHT]"
            raise ValueError(f"{entry.strip()!r} is not {form}; lengths may be MEAN|STDDEV")
        isl, isl_sd, osl, osl_sd, weight = match.groups()
        shape = (int(isl), float(isl_sd or 0), int(osl), float(osl_sd or 0),
                 float(1 if weight is None else weight))
        if not (1 <= shape[0] <= MAX_SEQUENCE_TOKENS and 1 <= shape[2] <= MAX_SEQUENCE_TOKENS):
            raise ValueError(f"{entry.strip()!r}: lengths must be 1 .. {MAX_SEQUENCE_TOKENS:,} tokens")
        if shape[4] <= 0:
            raise ValueError(f"{entry.strip()!r}: its weight must be greater than 0")
        raw.append(shape)
    total = sum(shape[4] for shape in raw)
    if aiperf and abs(total - 100.0) > 1e-6:
        raise ValueError(f"the percentages of {text!r} sum to {total:g}, not 100")
    return [RequestShape(*shape[:4], share=shape[4] / total) for shape in raw]
