"""One line per run while it goes on: the first failed request a diagnostics plugin picks, with its
(redacted) message and hint (:func:`inferload.hints.hint_for`). Shared by the ``dialect-hint`` and
``setup-failure-hint`` plugins: each forwards its ``record_batch`` and ``run_finished`` hooks to its own
:class:`FirstFailureLine`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from inferload.hints import hint_for

if TYPE_CHECKING:
    from inferload.records import RequestError
    from inferload.runstate import RunState


class FirstFailureLine:
    """Logs, once per run (benchmark id), ``request N failed (TYPE CODE: MESSAGE); HINT`` for the first
    record whose error ``picks`` accepts and whose hint ``wants`` accepts. With ``until_success`` a
    successful record first ends the watch for that run (a later failure is then no set-up fault)."""

    def __init__(self, log: logging.Logger, picks: Callable[[RequestError], bool],
                 wants: Callable[[str], bool] = bool, *, until_success: bool = False) -> None:
        self._log, self._picks, self._wants, self._until_success = log, picks, wants, until_success
        self._done: set[str] = set()

    def record_batch(self, state: RunState, records: list[Any]) -> None:
        """Look at a batch of records (the ``record_batch`` hook); log the line at most once per run."""
        run = state.run_info.benchmark_id
        if run in self._done:
            return
        for record in records:
            error = record.error
            if error is None:
                if self._until_success:
                    self._done.add(run)
                    return
                continue
            if not self._picks(error):
                continue
            hint = hint_for(error.type, error.code, error.message)
            if hint is None or not self._wants(hint):
                continue
            self._done.add(run)
            from inferload.export import secret_values
            from inferload.redact import redact_text

            message = redact_text(error.message, secret_values(state.config) if state.config else ())
            code = f" {error.code}" if error.code is not None else ""
            self._log.warning("request %d failed (%s%s: %s); %s", record.request_id, error.type, code,
                              message, hint)
            return

    def run_finished(self, state: RunState) -> None:
        """Forget the run (the ``run_finished`` hook)."""
        self._done.discard(state.run_info.benchmark_id)

