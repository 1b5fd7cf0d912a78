"""Say it while the run goes on when the server speaks another API than ``--endpoint-type``: the first
request that failed for it is logged once per run, its (redacted) message and the hint naming the likely
``--endpoint-type``. The run goes on; the error summary counts every such request at the end."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from inferload import hookimpl
from inferload.records import ERROR_MALFORMED
from inferload_plugins.shared.first_failure import FirstFailureLine

if TYPE_CHECKING:
    from inferload.records import RequestError
    from inferload.runstate import RunState


def _other_dialect(error: RequestError) -> bool:
    return error.type == ERROR_MALFORMED and "--endpoint-type" in error.message


_line = FirstFailureLine(logging.getLogger("inferload.dialect"), _other_dialect,
                         wants=lambda hint: "--endpoint-type" in hint)


@hookimpl
def record_batch(state: RunState, records: list[Any]) -> None:
    _line.record_batch(state, records)


@hookimpl
def run_finished(state: RunState) -> None:
    _line.run_finished(state)
