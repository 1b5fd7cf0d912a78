"""Writing the run's temporary spools so that a full disk is a clear error, never a silent corruption.

``os.pwrite`` may write fewer bytes than asked (a disk filling up mid-write) and then fail with ENOSPC on
the next call; the spools (:mod:`inferload.record_store`, :mod:`inferload.record_columns`,
:mod:`inferload.value_column`) are anonymous files (``/proc/<pid>/fd`` shows them as ``#<inode>
(deleted)``), so the ``OSError`` names no file. :func:`write_all` writes every byte or raises a
:class:`SpoolWriteError` naming what could not be written and where, after cutting the file back to
``offset`` so that what was on disk before stays whole (and the bytes of the failed write are freed).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


class SpoolWriteError(OSError):
    """A spool could not be written: ``errno``/``strerror`` from the OS, ``filename`` the spool's
    description, e.g. ``the record store's temporary file (inferload-records-) in /data/artifacts/run``."""


def describe(what: str, directory: Path | str | None) -> str:
    """``what`` in the directory its anonymous file lives in (None: the system's temporary directory)."""
    import tempfile

    return f"{what} in {directory if directory is not None else tempfile.gettempdir()}"


def write_all(fd: int, data: bytes | memoryview, offset: int, what: str) -> None:
    """Write all of ``data`` at ``offset`` of ``fd``, or cut the file back to ``offset`` and raise a
    :class:`SpoolWriteError` whose ``filename`` is ``what``."""
    view = memoryview(data)
    done = 0
    try:
        while done < len(view):
            written = os.pwrite(fd, view[done:], offset + done)
            if written <= 0:
                raise OSError(28, os.strerror(28))
            done += written
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, offset)
        raise SpoolWriteError(exc.errno, exc.strerror, what) from exc


RESERVE_BYTES = 8 * 2**20
"""Bytes :class:`EndReserve` holds on the spools' disk while the run sends (8 MiB)."""


class EndReserve:
    """Space held for the end of the run on the disk the spools use: an anonymous file of
    :data:`RESERVE_BYTES` allocated (``posix_fallocate``) when the run starts and deleted, giving its
    blocks back, just before the end writes the run's files. A disk that fills up while the run sends
    (despite the ``disk-space`` guard: another process filled it, or the guard is off) then still has
    that much for the summary, the CSV, the console table and the log. Where it cannot be had (too little
    space already, a file system or OS without ``posix_fallocate``) there is none, silently."""

    def __init__(self, directory: Path | str | None, size: int = RESERVE_BYTES) -> None:
        import tempfile

        self.file = None
        if size <= 0 or not hasattr(os, "posix_fallocate"):
            return
        try:
            self.file = tempfile.TemporaryFile(prefix="inferload-reserve-", dir=directory)  # noqa: SIM115
            os.posix_fallocate(self.file.fileno(), 0, size)
        except OSError:
            self.release()

    @property
    def held(self) -> bool:
        return self.file is not None

    def release(self) -> None:
        """Give the space back (delete the file); safe to call twice."""
        if self.file is not None:
            with contextlib.suppress(OSError):
                self.file.close()
        self.file = None
