"""Run guard ``disk-space``: ends a run before the disk it writes to is full, while the end of the run
(final statistics, summary files, exporters) still has room, so a full disk never costs the run
(docs/profile.md, "Long runs and disk space").

What it watches: the file systems a run writes to while it sends, each once (by device):

- the artifact directory (``--artifact-dir``; its nearest existing ancestor before the run directory is
  made): the run's files, and the record store's and the value columns' anonymous temporary spools, which
  live in the run directory (:func:`inferload.engine.aggregator.spool_dir`);
- the system's temporary directory (``TMPDIR``, :func:`tempfile.gettempdir`): the server-metrics store's
  spool, and the record spools of a run whose directory does not exist yet; on a file system of its own
  it keeps the smaller reserve :data:`TEMP_RESERVE_BYTES` (16 MiB), as nothing of the end is written
  there.

How: ``os.statvfs`` of each, before the first request (a disk already short of the reserve: nothing is
sent) and then at most every :data:`CHECK_SECONDS` seconds (in :meth:`DiskSpace.verdict`,
never per record), and the space available to this user (``f_bavail``, bytes). When one has less than the
reserve, the run stops as the other guards stop it: no new requests, the requests in flight finish within
the grace period, every request sent is a record, statistics are computed from what was recorded,
``is_complete`` false, exit code 1, and one line naming the directory, its free space and the fix.

The reserve: ``--disk-reserve-mb`` (``INFERLOAD_DISK_RESERVE_MB``, ``disk-reserve-mb`` in a ``-f`` file;
MiB, a number >= 0, 0: stop only when nothing is left; anything else is a usage error, exit 2), by default
:data:`RESERVE_MIB` (256). The end of a run writes a few hundred kB (``profile_export.json``, ``.csv``, the
console table, ``server_metrics.jsonl``; ``profile_export.jsonl`` is the record store's spool given a name,
no copy) plus the grace period's records; where the artifact directory cannot hold unnamed files
(``O_TMPFILE``: not Linux, some network file systems) the JSONL is copied at the end instead, and the
reserve there grows by the space the run used on that disk so far (of which the JSONL is about 2/3).

A run that sends ~7,000 requests a second writes ~14 MB a second (~2 kB per request, see the docs'
table), so 256 MiB is ~18 s of sending, far longer than a check's interval.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, Field

from inferload import hookimpl
from inferload.engine.guards import GuardStop
from inferload.export import record_lines_wanted
from inferload.plugin_options import Flag
from inferload.types import OptionsSpec, RunGuardSpec

if TYPE_CHECKING:
    from inferload.config import ProfileConfig
    from inferload.records import RequestRecord
    from inferload.registry import PluginRegistry

RESERVE_MIB = 256.0
"""Free space (MiB) the run leaves by default on the artifact directory's file system for its end."""
TEMP_RESERVE_BYTES = 16 * 2**20
"""The reserve on the temporary directory's file system when it is not the artifact directory's: only the
server-metrics spool grows there (a few kB a scrape) and the end reads it, not writes it, so the smaller of
this and the reserve (a small ``/tmp`` must not stop every run)."""
CHECK_SECONDS = 0.5
MAX_RESERVE_MIB = float(2**40)
"""The largest ``--disk-reserve-mb`` taken (1 EiB); a reserve larger than the artifact directory's whole
file system is refused too (:func:`check_reserve`)."""
"""Least time between two looks at the free space (``os.statvfs`` per watched directory)."""


class DiskSpaceOptions(BaseModel):
    """``--disk-reserve-mb``."""

    disk_reserve_mb: Annotated[float, Flag(metavar="MIB")] = Field(
        RESERVE_MIB, ge=0, le=MAX_RESERVE_MIB, allow_inf_nan=False,
        description="stop the run before the artifact directory's disk has less free space than this, "
                    "kept for the run's end (MiB; 0: only when nothing is left)")


@hookimpl
def register_run_guards() -> list[RunGuardSpec]:
    return [RunGuardSpec(name="disk-space", description="Stop a run before the disk it writes to is full, "
                         "leaving room for its end (--disk-reserve-mb, 256 MiB)", create=make_guard)]


@hookimpl
def register_options() -> list[OptionsSpec]:
    return [OptionsSpec(name="disk-space", description="The disk-space guard", model=DiskSpaceOptions,
                        title="Disk space (docs/profile.md, Long runs and disk space)", check=check_reserve)]


def check_reserve(config: ProfileConfig, options: DiskSpaceOptions) -> None:
    """A reserve larger than the artifact directory's whole file system could never be kept: a usage
    error (ValueError), not a run stopped at once as "nearly full"."""
    path = existing(Path(config.artifact_dir))
    try:
        stat = os.statvfs(path)
    except OSError:
        return  # unreadable: the artifact directory's own check says so
    total = stat.f_blocks * stat.f_frsize
    if total and options.disk_reserve_mb * 2**20 > total:  # 0: a pseudo file system (/proc), not a disk
        raise ValueError(f"--disk-reserve-mb {options.disk_reserve_mb:g} is more than the whole disk of "
                         f"{path} ({mib(total)}); give at most a part of it")


def make_guard(config: ProfileConfig, registry: PluginRegistry) -> DiskSpace:
    """One guard per run, watching the artifact directory and the temporary directory."""
    reserve = int(config.options(DiskSpaceOptions).disk_reserve_mb * 2**20)
    lines = record_lines_wanted(registry, config)  # the run writes profile_export.jsonl
    fix = "give --artifact-dir on a disk with more room" + (SUMMARY_LEVEL_FIX if lines else "")
    watched = [(Path(config.artifact_dir), "the artifact directory", fix, reserve),
               (Path(tempfile.gettempdir()), "the temporary directory", "point TMPDIR at a disk with more "
                "room", min(reserve, TEMP_RESERVE_BYTES))]
    return DiskSpace(watched, jsonl=lines)


SUMMARY_LEVEL_FIX = " (or --export-level summary: no line per request, ~60 % less disk)"
"""Said with the artifact directory's fix when the run writes profile_export.jsonl (docs/profile.md,
"Long runs and disk space": ~2.05 kB a request while sending at ``records``, ~0.79 kB at ``summary``)."""


def existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (the run directory may not be made yet)."""
    path = path.absolute()
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def free_bytes(path: Path) -> int:
    """Bytes this user may still write on ``path``'s file system."""
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def can_hold_unnamed(path: Path) -> bool:
    """Whether ``path`` (a directory) takes ``O_TMPFILE`` files, so the JSONL is linked at the end, not
    copied."""
    if not hasattr(os, "O_TMPFILE"):
        return False
    try:
        os.close(os.open(path, os.O_TMPFILE | os.O_RDWR, 0o600))
    except OSError:
        return False
    return True


def mib(size: float) -> str:
    """A byte count in the unit of ``--disk-reserve-mb``: ``812 MiB``, ``8.8 MiB``, ``1,434 MiB``."""
    value = size / 2**20
    return f"{value:.1f} MiB" if value < 100 else f"{value:,.0f} MiB"


class _Watched:
    """One file system: the directory named in the stop line, and its free space at the start."""

    def __init__(self, path: Path, role: str, fix: str, reserve: int, *, jsonl: bool = True) -> None:
        self.path, self.role, self.fix, self.reserve = existing(path), role, fix, reserve
        self.device = os.stat(self.path).st_dev
        self.free_at_start = free_bytes(self.path)
        self.copies_jsonl = jsonl and role == "the artifact directory" and not can_hold_unnamed(self.path)
        """The JSONL will be copied at the end (no unnamed files here): the reserve grows with the run."""


class DiskSpace:
    """Looks at the free space of the watched file systems every :data:`CHECK_SECONDS` (a
    :class:`~inferload.engine.guards.RunGuard`); ``watched`` is ``(directory, role, fix, reserve)`` per
    directory (the reserve in bytes), the first of those on one file system kept; ``jsonl``: the run
    writes profile_export.jsonl (``--export-level records``), which is copied at the end where the artifact
    directory takes no unnamed file."""

    def __init__(self, watched: Sequence[tuple[Path, str, str, int]],
                 check_seconds: float = CHECK_SECONDS, *, jsonl: bool = True) -> None:
        self.check_seconds = check_seconds
        self.watched: list[_Watched] = []
        for path, role, fix, reserve in watched:
            one = _Watched(path, role, fix, reserve, jsonl=jsonl)
            if all(one.device != other.device for other in self.watched):
                self.watched.append(one)
        self._checked = float("-inf")  # the first verdict looks at once (asked before anything is sent)

    def observe(self, records: Sequence[RequestRecord], now: float) -> None:
        """Nothing per batch: the free space is looked at in :meth:`verdict`."""

    def verdict(self, now: float) -> GuardStop | None:
        """The stop once a watched file system has less free space than the run's end needs."""
        clock = time.monotonic()
        if clock - self._checked < self.check_seconds:
            return None
        self._checked = clock
        for one in self.watched:
            try:
                free = free_bytes(one.path)
            except OSError:
                continue  # gone or unreadable: the writes themselves will say so
            need = one.reserve
            if one.copies_jsonl:
                need += max(0, one.free_at_start - free)
            if free < need or not free:  # a reserve of 0: stop when nothing at all is left
                return GuardStop(
                    f"stopped early: the disk is nearly full: {mib(free)} free in {one.role} "
                    f"{one.path}, under the {mib(need)} kept for the end of the run "
                    f"(--disk-reserve-mb); free space there or {one.fix}; every request sent is in the "
                    "artifacts")
        return None
