"""Fault injection: which faults exist, how they are named, and which one (if any) hits a request.

A fault is ``KIND`` or ``KIND:PARAM``. It is aimed at one request with the header
``X-Inferload-Fault: KIND[:PARAM]`` (so a test can hit exactly the request it watches), or drawn at random
for every inference request from ``--fault-rate KIND[:PARAM]=RATE,...``. Random draws use their own RNG
seeded by ``--seed``, one draw per inference request in arrival order, so a run replays the same faults.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

HTTP_STATUS_FAULTS: dict[str, int] = {"http500": 500, "http503": 503, "http429": 429}
"""Faults answered at once with an error status in the OpenAI error shape."""

MID_BODY_FAULTS = frozenset({"stall_mid", "drop_mid", "malformed_chunk", "never_end"})
"""Faults that strike half-way through the body (before token chunk ``n // 2`` of a stream)."""

FAULT_KINDS: dict[str, str] = {
    "http500": "500 Internal Server Error",
    "http503": "503 Service Unavailable",
    "http429": "429 Too Many Requests with Retry-After: PARAM seconds (default 1)",
    "stall_first_byte": "wait PARAM seconds (default 5) before the first byte of the response",
    "stall_mid": "wait PARAM seconds (default 5) half-way through the body, then finish normally",
    "drop_mid": "close the connection half-way through the body (no terminating chunk, no [DONE])",
    "malformed_chunk": "half-way through, one SSE event (or the JSON body) is cut off: invalid JSON",
    "never_end": "send half the body, then nothing until the client gives up or the server stops",
}
"""Every fault kind and what the wire shows."""

DEFAULT_PARAMS: dict[str, float] = {"http429": 1.0, "stall_first_byte": 5.0, "stall_mid": 5.0}

FAULT_HEADER = b"x-inferload-fault"


class FaultSyntaxError(ValueError):
    """A fault spec that cannot be parsed; the message names the spec and the valid kinds."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault to inject. ``param`` is seconds for stalls and Retry-After; ``None`` for the rest."""

    kind: str
    param: float | None = None

    @property
    def seconds(self) -> float:
        """The fault's parameter, or its kind's default."""
        return self.param if self.param is not None else DEFAULT_PARAMS.get(self.kind, 0.0)

    def __str__(self) -> str:
        return self.kind if self.param is None else f"{self.kind}:{self.param:g}"


def parse_fault(text: str) -> Fault:
    """Parse ``KIND[:PARAM]``."""
    kind, _, param = text.strip().partition(":")
    kind = kind.strip().lower()
    if kind not in FAULT_KINDS:
        raise FaultSyntaxError(
            f"unknown fault kind {kind!r} in {text!r}; valid kinds: {', '.join(FAULT_KINDS)}")
    if not param.strip():
        return Fault(kind)
    if kind not in DEFAULT_PARAMS:
        raise FaultSyntaxError(f"fault {kind!r} takes no parameter (got {text!r})")
    try:
        value = float(param)
    except ValueError:
        raise FaultSyntaxError(f"fault parameter must be a number of seconds, got {text!r}") from None
    if not value >= 0:
        raise FaultSyntaxError(f"fault parameter must be >= 0 seconds, got {text!r}")
    return Fault(kind, value)


def parse_fault_rates(text: str) -> dict[str, float]:
    """Parse ``KIND[:PARAM]=RATE,...`` into ``{"KIND[:PARAM]": rate}``, checking kinds and rates."""
    rates: dict[str, float] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        spec, sep, rate_text = item.partition("=")
        if not sep:
            raise FaultSyntaxError(f"fault rate {item.strip()!r} lacks '=RATE' (e.g. http500=0.1)")
        try:
            rate = float(rate_text)
        except ValueError:
            raise FaultSyntaxError(f"fault rate of {spec.strip()!r} must be a number, got {rate_text!r}") \
                from None
        rates[str(parse_fault(spec))] = rate
    return check_fault_rates(rates)


def check_fault_rates(rates: Mapping[str, float]) -> dict[str, float]:
    """Validate a ``{"KIND[:PARAM]": rate}`` mapping: known kinds, each rate in [0, 1], sum <= 1."""
    checked = {str(parse_fault(spec)): float(rate) for spec, rate in rates.items()}
    for spec, rate in checked.items():
        if not 0.0 <= rate <= 1.0:
            raise FaultSyntaxError(f"fault rate of {spec!r} must be between 0 and 1, got {rate}")
    if sum(checked.values()) > 1.0 + 1e-9:
        raise FaultSyntaxError(f"fault rates add up to {sum(checked.values()):g}; they must not exceed 1")
    return checked


class FaultPicker:
    """Decides each inference request's fault: the header wins, else a seeded random draw."""

    def __init__(self, rates: Mapping[str, float], seed: int) -> None:
        self._table = [(parse_fault(spec), rate) for spec, rate in rates.items() if rate > 0]
        self._rng = random.Random(seed ^ 0x5EED_FA17)

    def pick(self, header: bytes | None) -> Fault | None:
        """The fault for one request; raises FaultSyntaxError for a malformed header."""
        if header is not None:
            return parse_fault(header.decode("latin-1"))
        if not self._table:
            return None
        draw = self._rng.random()
        for fault, rate in self._table:
            if draw < rate:
                return fault
            draw -= rate
        return None
