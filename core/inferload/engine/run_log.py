"""The run's log file and the secret filters on every log handler.

``logs/inferload.log`` in the artifact directory receives the ``inferload`` loggers' records; it and the
terminal's handlers scrub the run's secrets from every record that reaches them (any logger, third-party
libraries included). Opened once the dataset is built (a bad ``--input-file`` must not leave a fresh log
over an earlier run's artifacts), closed when the run ends (docs/architecture.md, "Data flow").
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from inferload.artifact_files import artifact_path, clear_run_dir
from inferload.redact import SecretFilter

log = logging.getLogger("inferload.profile")

LOG_FILE = "logs/inferload.log"
"""The log file's name inside the run directory."""

TIMING_LOGGER = "inferload.timing"
"""The logger of the run's own timings (worker set-up, final statistics, sections and exporters): its INFO
lines go to the log file (``bench/bench_long_run.py`` reads them there) and to the console only with -v."""

timing_log = logging.getLogger(TIMING_LOGGER)


class ConsoleFilter(logging.Filter):
    """On a terminal handler without -v: drops the timing logger's records below WARNING, which are for
    the log file; everything else passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or not record.name.startswith(TIMING_LOGGER)


class _RunLogHandler(logging.FileHandler):
    """The log file's handler: a write that fails (a full disk) is said once on stderr, in one line
    naming the file, instead of logging's traceback per record; the file then keeps what it had and gets
    no more lines (the terminal still does)."""

    failed = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.failed:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            self._failed(exc)
        else:
            super().handleError(record)

    def flush(self) -> None:
        if self.failed:
            return
        try:
            super().flush()
        except OSError as exc:
            self._failed(exc)

    def _failed(self, exc: OSError) -> None:
        """Say once, on stderr, that the file could not be written; write no more to it."""
        import sys

        if self.failed:
            return
        self.failed = True
        with contextlib.suppress(Exception):
            sys.stderr.write(f"inferload: WARNING: could not write the log file {self.baseFilename}: "
                             f"{exc.strerror or exc}; it keeps what it had, the rest is on the terminal "
                             "only\n")


class RunLog:
    """The log file of one run in ``run_dir``, with ``secrets`` filtered out of every handler."""

    def __init__(self, run_dir: Path, secrets: Iterable[str]) -> None:
        self.run_dir = run_dir
        self._secrets = list(secrets)
        self._handler: logging.Handler | None = None
        self._filter: logging.Filter | None = None

    def open(self) -> None:
        """Move an earlier run's files out of the run directory (and say where), create the log file there
        exclusively and without following a link, and attach it and the secret filter."""
        kept = clear_run_dir(self.run_dir)
        path = artifact_path(self.run_dir, LOG_FILE)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644))
        handler = _RunLogHandler(path, mode="a", encoding="utf-8")
        handler.setLevel(
            logging.DEBUG if logging.getLogger("inferload").isEnabledFor(logging.DEBUG) else logging.INFO
        )
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self._filter = SecretFilter(self._secrets)
        handler.addFilter(self._filter)
        for terminal in logging.getLogger().handlers:
            terminal.addFilter(self._filter)
        logging.getLogger("inferload").addHandler(handler)
        self._handler = handler
        if kept is not None:
            log.warning("%s held an earlier run's files: moved them to %s (a run owns its directory)",
                        self.run_dir, kept)

    def flush(self) -> None:
        """Write what is buffered, so the file is whole when the artifacts are listed."""
        if self._handler is not None:
            self._handler.flush()

    def close(self) -> None:
        """Detach the file and the filters; safe to call when never opened, and twice."""
        if self._filter is not None:
            for terminal in logging.getLogger().handlers:
                terminal.removeFilter(self._filter)
            self._filter = None
        if self._handler is not None:
            logging.getLogger("inferload").removeHandler(self._handler)
            with contextlib.suppress(OSError):  # a full disk: the last flush fails, said once already
                self._handler.close()
            self._handler = None
