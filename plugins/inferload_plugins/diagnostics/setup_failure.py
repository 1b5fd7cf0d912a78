"""Say it while the run goes on when its first requests fail in a way that means the run is set up wrong:
refused credentials (401, 403), nothing at the path or no such model (404), or no connection at all. The
first such failure, before any request of the run has succeeded, is logged once with its (redacted)
message and the hint naming the flag to change; a long run then need not end to tell the user. The run
goes on; the error summary counts every such request at the end."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from inferload import hookimpl
from inferload.hints import hint_for
from inferload.records import ERROR_CONNECTION, ERROR_HTTP

if TYPE_CHECKING:
    from inferload.records import RequestError
    from inferload.runstate import RunState

log = logging.getLogger("inferload.setup")

SETUP_CODES = (401, 403, 404)
"""HTTP statuses that repeat on every request of a wrongly set-up run (credentials, path, model)."""

_done: set[str] = set()
"""Runs (benchmark ids) that have had their line, or a success that makes a later failure no setup fault."""


def is_setup_failure(error: RequestError) -> bool:
    """An error that every request of the run will meet until a flag changes."""
    if error.type == ERROR_HTTP:
        return error.code in SETUP_CODES
    return error.type == ERROR_CONNECTION and error.code is None


@hookimpl
def record_batch(state: RunState, records: list[Any]) -> None:
    run = state.run_info.benchmark_id
    if run in _done:
        return
    for record in records:
        error = record.error
        if error is None:
            _done.add(run)  # the server answers: later failures are the server's, not the setup's
            return
        if not is_setup_failure(error):
            continue
        hint = hint_for(error.type, error.code, error.message)
        if hint is None:
            continue
        _done.add(run)
        from inferload.export import secret_values
        from inferload.redact import redact_text

        message = redact_text(error.message, secret_values(state.config) if state.config else ())
        code = f" {error.code}" if error.code is not None else ""
        log.warning("request %d failed (%s%s: %s); %s; the run goes on", record.request_id, error.type, code,
                    message, hint)
        return


@hookimpl
def run_finished(state: RunState) -> None:
    _done.discard(state.run_info.benchmark_id)
