"""Request mixes of the synthetic dataset (``--isl-osl-pairs``, AIPerf's ``--sequence-distribution``):
several request shapes in one run, each entry's ISL and OSL drawn from its shape (docs/profile.md, "Sessions,
mixes and cancellation").

The dataset that builds the prompts declares the flag (:data:`MIX_OPTIONS`, registered by
``dataset-synthetic``); every entry it makes carries its own ``input_tokens`` and ``max_output_tokens``, which
is all the payload builder and the metrics read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, Field, field_validator

from inferload.dataset import MAX_SEQUENCE_TOKENS
from inferload.plugin_options import Flag
from inferload.types import OptionsSpec

if TYPE_CHECKING:
    from inferload.config import ProfileConfig

DATASET = "synthetic"
"""The dataset whose prompts the mix shapes (this plugin's own)."""


class RequestMixOptions(BaseModel):
    """``--isl-osl-pairs``: the request shapes of one run (None: every entry from --isl/--osl)."""

    isl_osl_pairs: Annotated[
        str | None, Flag(metavar="MIX", aliases=("--sequence-distribution", "--seq-dist"))
    ] = Field(None, description="request shapes in one run: 'ISL:OSL[:WEIGHT],...' or AIPerf's "
              "'ISL,OSL:PCT;...'")

    @field_validator("isl_osl_pairs")
    @classmethod
    def _pairs(cls, value: str | None) -> str | None:
        if value is not None:
            parse_isl_osl_pairs(value)
        return value


def check_mix(config: ProfileConfig, options: RequestMixOptions) -> None:
    """ValueError when a mix is given for prompts the synthetic dataset does not build (a file's prompts,
    another dataset's)."""
    if options.isl_osl_pairs is None:
        return
    if config.input_file is not None:
        raise ValueError("--isl-osl-pairs shapes synthetic prompts; a file's prompts have their own lengths")
    if config.dataset != DATASET:
        raise ValueError(f"--isl-osl-pairs shapes synthetic prompts (--dataset {DATASET}), not those of "
                         f"--dataset {config.dataset}; drop one of them")


MIX_OPTIONS = OptionsSpec(name="synthetic-mix", description="Request mixes of synthetic prompts",
                          model=RequestMixOptions, check=check_mix,
                          title="request mixes (--dataset synthetic; docs/profile.md)")
"""The mix's :class:`~inferload.types.OptionsSpec`, registered by the synthetic dataset's plugin."""


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
