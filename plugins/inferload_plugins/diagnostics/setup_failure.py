"""Say it while the run goes on when its first requests fail in a way that means the run is set up wrong:
refused credentials (401, 403), nothing at the path or no such model (404), or no connection at all. The
first such failure, before any request of the run has succeeded, is logged once with its (redacted)
message and the hint naming the flag to change; a long run then need not end to tell the user. The run
goes on (unless its first finished requests were all refused with 401/403: the engine then ends it,
``inferload_plugins.guards.credentials``); the error summary counts every such request at the end."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from inferload import hookimpl
from inferload.records import ERROR_CONNECTION, ERROR_HTTP
from inferload_plugins.shared.first_failure import FirstFailureLine

if TYPE_CHECKING:
    from inferload.records import RequestError
    from inferload.runstate import RunState

SETUP_CODES = (401, 403, 404)
"""HTTP statuses that repeat on every request of a wrongly set-up run (credentials, path, model)."""


def is_setup_failure(error: RequestError) -> bool:
    """An error that every request of the run will meet until a flag changes."""
    if error.type == ERROR_HTTP:
        return error.code in SETUP_CODES
    return error.type == ERROR_CONNECTION and error.code is None


_line = FirstFailureLine(logging.getLogger("inferload.setup"), is_setup_failure,
                         until_success=True)


@hookimpl
def record_batch(state: RunState, records: list[Any]) -> None:
    _line.record_batch(state, records)


@hookimpl
def run_finished(state: RunState) -> None:
    _line.run_finished(state)
