"""Say it while the run goes on when the server speaks another API than ``--endpoint-type``: the first
request that failed for it is logged once per run, its (redacted) message and the hint naming the likely
``--endpoint-type``. The run goes on; the error summary counts every such request at the end."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from inferload import hookimpl
from inferload.hints import hint_for
from inferload.records import ERROR_MALFORMED

if TYPE_CHECKING:
    from inferload.runstate import RunState

log = logging.getLogger("inferload.dialect")

_told: set[str] = set()
"""Runs (benchmark ids) that have had their hint."""


@hookimpl
def record_batch(state: RunState, records: list[Any]) -> None:
    run = state.run_info.benchmark_id
    if run in _told:
        return
    for record in records:
        error = record.error
        if error is None or error.type != ERROR_MALFORMED or "--endpoint-type" not in error.message:
            continue
        hint = hint_for(error.type, error.code, error.message)
        if hint is None or "--endpoint-type" not in hint:
            continue
        _told.add(run)
        from inferload.export import secret_values
        from inferload.redact import redact_text

        message = redact_text(error.message, secret_values(state.config) if state.config else ())
        log.warning("request %d: %s: %s; %s", record.request_id, error.type, message, hint)
        return


@hookimpl
def run_finished(state: RunState) -> None:
    _told.discard(state.run_info.benchmark_id)
