"""Did the server produce the output length the run asked for? The ``output_length`` summary section of
profile_export.json (docs/metrics.md, "output_length") and its console and log warning.

Servers differ in which length field they honour (``max_tokens`` / ``max_completion_tokens``) and whether
they stop early at EOS; a run whose measured output sequence length (OSL) misses the asked one measures a
different workload than the user meant, so it says so, with the likely cause and the flag to try.
Added up with numpy over the record store's columns when it has them, else over the records.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from inferload import hookimpl
from inferload.errors import PluginError, UsageError
from inferload.record_columns import OK, SERVER_USAGE, RecordColumns
from inferload.record_columns import PROFILING as PROFILING_FLAG
from inferload.records import PROFILING, RequestRecord
from inferload.types import SummarySectionSpec

if TYPE_CHECKING:
    from inferload.export import SectionContext

LENGTH_FIELDS = ("max_completion_tokens", "max_tokens")
"""The request body fields that carry the asked output length, as OpenAI-style endpoints send them."""

TOLERANCE = 0.10
"""Mean measured OSL may differ from the mean asked OSL by this fraction before the run warns."""


def check_output_length(
    records: Iterable[RequestRecord],
    *,
    length_field: str | None,
    ignore_eos: bool,
    generic_tokenizer: str | None,
) -> dict[str, Any] | None:
    """Compare measured with asked output length over the successful profiling requests that asked one.

    Returns None when no such request exists, else ``{"requests", "requested_avg", "measured_avg",
    "difference_pct", "counted_by", "within_tolerance", "warning"}``: averages in tokens, the signed
    difference of the means in percent of the asked mean, ``counted_by`` ``"server"`` when every measured
    length is the server's ``usage.completion_tokens`` (else ``"client"``, the --tokenizer count), and
    ``warning`` the plain-language message: a miss beyond :data:`TOLERANCE`, or within it a count made by the
    generic tokenizer because the server sent no usage (approximate: says so and names ``--tokenizer``);
    else None. ``length_field`` (the body
    field that carried the length, one of :data:`LENGTH_FIELDS`) and ``ignore_eos`` say what was sent, and
    ``generic_tokenizer`` names the --tokenizer when it is the catalogue's generic default rather than the
    model's own (None otherwise), to name the likely cause and the flag to try.
    """
    columns = getattr(records, "columns", None)
    if isinstance(columns, RecordColumns):
        asked, measured, count, by_client = _totals_from_columns(columns)
        records = ()
    else:
        asked = measured = count = 0
        by_client = False
    for record in records:
        if record.phase != PROFILING or record.error is not None or record.requested_output_tokens is None:
            continue
        osl = record.output_tokens
        if osl is None:
            continue
        asked += record.requested_output_tokens
        measured += osl
        count += 1
        by_client = by_client or record.usage_completion_tokens is None
    if not count:
        return None
    requested_avg, measured_avg = asked / count, measured / count
    difference = (measured_avg - requested_avg) / requested_avg
    within = abs(difference) <= TOLERANCE
    warning = None
    if not within:
        warning = (
            f"output length missed: asked {requested_avg:.1f} tokens on average (--osl), measured "
            f"{measured_avg:.1f} ({difference * 100:+.0f}%, {count} requests); "
            + _likely_cause(difference > 0, length_field, ignore_eos, by_client, generic_tokenizer)
        )
    elif by_client and generic_tokenizer is not None:
        # within tolerance, yet not a token count of the model's: the user must not read it as exact
        warning = (
            f"output length approximate: the server sent no usage, so OSL ({measured_avg:.1f} against "
            f"{requested_avg:.1f} asked, {count} requests) and ISL are counts of --tokenizer "
            f"{generic_tokenizer}, an approximation of the model's tokenizer; give --tokenizer the model's "
            "tokenizer.json (or Hugging Face name) for exact counts"
        )
    return {
        "requests": count,
        "requested_avg": requested_avg,
        "measured_avg": measured_avg,
        "difference_pct": difference * 100.0,
        "counted_by": "client" if by_client else "server",
        "within_tolerance": within,
        "warning": warning,
    }


def _totals_from_columns(columns: RecordColumns) -> tuple[int, int, int, bool]:
    """(asked, measured, count, by_client) over the successful profiling requests that asked a length and
    have an OSL, with numpy over the record columns: what the pass over the records adds up."""
    import numpy as np

    asked = measured = count = 0
    by_client = False
    for chunk in columns.chunks():
        chosen = (chunk.has(PROFILING_FLAG) & chunk.has(OK) & (chunk.requested_output_tokens >= 0)
                  & (chunk.output_tokens >= 0))
        asked += int(chunk.requested_output_tokens[chosen].sum())
        measured += int(chunk.output_tokens[chosen].sum())
        count += int(np.count_nonzero(chosen))
        by_client = by_client or bool((chosen & ~chunk.has(SERVER_USAGE)).any())
    return asked, measured, count, by_client


def _likely_cause(
    longer: bool, length_field: str | None, ignore_eos: bool, by_client: bool, generic_tokenizer: str | None
) -> str:
    counting = ""
    if by_client and generic_tokenizer is not None:
        counting = (
            f"the server sent no usage, so output was counted with --tokenizer {generic_tokenizer}, not the "
            "model's tokenizer: give --tokenizer the model's tokenizer.json (or HF name) for a true count"
        )
    if longer:
        if length_field == "max_completion_tokens":
            advice = "try --use-legacy-max-tokens (sends max_tokens, which every common server honours)"
        else:
            advice = (
                "on chat, try --no-use-legacy-max-tokens (sends max_completion_tokens), or set the "
                "server's own length field with --extra-inputs (e.g. n_predict:N for llama.cpp)"
            )
        field = repr(length_field) if length_field else "the asked length (no field inferload knows was sent)"
        cause = f"likely cause: the server ignored {field}; {advice}"
        return f"{cause}; or {counting}" if counting else cause
    if ignore_eos:
        cause = (
            "likely cause: the server stopped at end-of-sequence although 'ignore_eos' was sent, so it "
            "does not honour ignore_eos; use prompts that ask for long answers, or its own min-length field "
            "via --extra-inputs"
        )
    else:
        cause = (
            "likely cause: the model stopped at end-of-sequence before the asked length; try --ignore-eos "
            "(vLLM, SGLang, TensorRT-LLM honour it; strict servers reject it)"
        )
    return f"{cause}; or {counting}" if counting else cause


def output_length_section(context: SectionContext) -> dict[str, Any] | None:
    """The asked-versus-measured output length block, None for an endpoint type that produces no tokens
    or a run that asked no length (its ``warning`` is logged and listed by the engine)."""
    if not context.endpoint.produces_tokens:
        return None
    bodies = (entry["payloads"][0] for entry in context.inputs)
    sent = next((field for body in bodies for field in LENGTH_FIELDS if field in body), None)
    default: str | None = None
    with contextlib.suppress(UsageError, PluginError):  # a disabled default: no generic tokenizer
        default = context.registry.default("tokenizer", choose="--tokenizer NAME").name
    config = context.config
    generic = config.tokenizer if config.tokenizer == default else None
    return check_output_length(
        context.records, length_field=sent, ignore_eos=config.ignore_eos, generic_tokenizer=generic
    )


@hookimpl
def register_summary_sections() -> list[SummarySectionSpec]:
    return [SummarySectionSpec(
        name="output_length", compute=output_length_section,
        description="Asked versus measured output length (OSL), with the likely cause of a miss",
    )]
