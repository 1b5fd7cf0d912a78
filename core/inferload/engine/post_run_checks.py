"""Checks on a finished run's records, before its summary is written: every sent request accounted for,
a run in which nothing succeeded, timeouts (docs/architecture.md, "Data flow": records → metrics). Each
returns what the summary needs and logs what the user should see.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from typing import TYPE_CHECKING, Any

from inferload.record_columns import RecordColumns
from inferload.records import ERROR_TIMEOUT
from inferload.redact import redact_url

if TYPE_CHECKING:
    from inferload.config import ProfileConfig
    from inferload.records import RequestRecord
    from inferload.runstate import RunState

log = logging.getLogger("inferload.profile")


def unaccounted_records(state: RunState, records: Collection[RequestRecord]) -> str | None:
    """A warning (also logged) when fewer records arrived than requests were sent (a worker was lost)."""
    sent = sum(p.requests_sent for p in state.phases.values())
    unstored = getattr(records, "unstored", 0)  # arrived, but the store could not write them (a full disk)
    if unstored and len(records) + unstored == sent:
        missing = ("missing from profile_export.jsonl" if getattr(records, "has_lines", False)
                   else "not stored")
        message = (f"{unstored} request(s) that finished after the disk was full are counted in the "
                   f"statistics but {missing}")
        log.warning("%s", message)
        return message
    if len(records) == sent:
        return None
    message = f"{sent} requests were sent but {len(records)} records arrived (a worker was lost)"
    log.error("%s", message)
    return message


def all_failed_message(accumulator: Any, config: ProfileConfig, scrub: Callable[[str], str]) -> str:
    """One line for a run in which no request succeeded: the commonest error and the hint that fits it."""
    errors = accumulator.error_summary(scrub)
    commonest = ""
    hint = f"check the server at {redact_url(config.url) if config.url else '-'}"
    if errors:
        details = errors[0]["error_details"]
        code = f" {details['code']}" if details.get("code") is not None else ""
        commonest = f" (most often {details['type']}{code}: {details['message']})"
        hint = errors[0].get("hint") or hint
    return (
        f"every one of the {accumulator.error_count} profiling requests failed{commonest}; {hint} "
        "(error_summary in profile_export.json has every error)"
    )


def log_timeouts(records: Iterable[RequestRecord]) -> None:
    """Say how many requests timed out, quoting the first one's message: from the record columns' error
    counts when ``records`` is a store that has them, else one pass, nothing kept."""
    columns = getattr(records, "columns", None)
    if isinstance(columns, RecordColumns):
        count, first = columns.error_counts[ERROR_TIMEOUT], columns.first_errors.get(ERROR_TIMEOUT)
        records = ()
    else:
        count, first = 0, None
    for record in records:
        if record.error is not None and record.error.type == ERROR_TIMEOUT:
            count += 1
            first = first or record.error.message
    if count:
        log.warning("%d request(s) timed out: %s", count, first)
