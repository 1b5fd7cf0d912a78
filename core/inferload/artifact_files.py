"""Files in a run's artifact directory: written atomically, never through a link, owned by one run.

Every artifact is written to a temporary file beside its final name and moved into place with
``os.replace``: a reader (the API's download route, a dashboard) sees the old file or the whole new one,
never half of it, and a symlink planted at the final name is replaced, not followed. A directory on the
way that leads out of the run directory is refused. :func:`clear_run_dir` gives a new run an empty
directory, so files of an earlier run are never mistaken for this one's, and keeps the earlier run whole
beside it. Where a run's directory is
(:func:`artifact_dir_for`) and whether it can be written (:func:`check_artifact_dir`) live here too.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from inferload.errors import UsageError

if TYPE_CHECKING:
    from inferload.config import ProfileConfig


def artifact_path(root: Path, name: str | os.PathLike[str]) -> Path:
    """``root / name`` after checking that it stays inside ``root`` with links resolved; creates the
    parent directories. Raises ValueError for a name that leaves ``root`` (``..``, an absolute path or a
    symlinked directory pointing elsewhere)."""
    root = Path(root)
    path = root / name
    real_root = root.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.parent.resolve().is_relative_to(real_root):
        raise ValueError(f"{name} would be written outside the artifact directory {root}")
    return path


@contextlib.contextmanager
def open_artifact(
    root: Path, name: str | os.PathLike[str], *, binary: bool = False, newline: str | None = None
) -> Iterator[IO[Any]]:
    """Open ``root/name`` for writing, atomically: the content goes to a temporary file in the same
    directory, which replaces ``name`` when the ``with`` block ends without an exception (and is removed
    when it raises). Yields a text handle (UTF-8) or, with ``binary``, a bytes handle."""
    path = artifact_path(root, name)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if binary:
            handle: IO[Any] = os.fdopen(fd, "wb")
        else:
            handle = os.fdopen(fd, "w", encoding="utf-8", newline=newline)
        with handle:
            yield handle
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if exc.filename is None and exc.errno in _DISK_FULL:  # a write to the handle: name the file
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
"""The errors of a write the disk could not take (full, over quota, over the file-size limit)."""


def write_artifact(root: Path, name: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8) to ``root/name`` atomically; returns the path."""
    with open_artifact(root, name, binary=isinstance(data, bytes)) as handle:
        handle.write(data)
    return Path(root) / name


def clear_run_dir(run_dir: Path) -> Path | None:
    """Give a new run an empty ``run_dir``, losing nothing: an earlier run's files there are moved, whole,
    to a sibling directory named for when that run started (:func:`kept_run_name`), which is returned;
    None when there was nothing to keep. A link at ``run_dir`` is removed (never followed; its target
    stays where it is), and the directory is created if missing."""
    if run_dir.is_symlink():
        run_dir.unlink()  # the run directory itself must be a real directory, not a link elsewhere
    kept = None
    if run_dir.is_dir() and any(run_dir.iterdir()):
        kept = run_dir.with_name(kept_run_name(run_dir))
        os.rename(run_dir, kept)  # same parent, same file system: atomic, links inside stay links
    run_dir.mkdir(parents=True, exist_ok=True)
    return kept


def kept_run_name(run_dir: Path) -> str:
    """``<name>.<start>``: the directory name an earlier run in ``run_dir`` is kept under, ``start`` being
    that run's start (``profile_export.json``'s ``start_time``, else its oldest file's modification time)
    as ``YYYYMMDDTHHMMSS``, with ``-2``, ``-3`` … when a sibling of that name exists."""
    import json
    from datetime import datetime

    stamp = None
    with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
        started = json.loads((run_dir / "profile_export.json").read_text(encoding="utf-8"))["start_time"]
        stamp = datetime.fromisoformat(started).strftime("%Y%m%dT%H%M%S")
    if stamp is None:
        times = [entry.lstat().st_mtime for entry in run_dir.rglob("*")] or [run_dir.lstat().st_mtime]
        stamp = datetime.fromtimestamp(min(times)).strftime("%Y%m%dT%H%M%S")
    name, number = f"{run_dir.name}.{stamp}", 1
    while run_dir.with_name(name).exists() or run_dir.with_name(name).is_symlink():
        number += 1
        name = f"{run_dir.name}.{stamp}-{number}"
    return name


_MODEL_DIR_CHARS = 80
"""Characters of the model name kept in the run directory's name (a path component is 255 bytes)."""


def artifact_dir_for(config: ProfileConfig) -> Path:
    """``<artifact-dir>/<model>-<endpoint-type>-<stimulus>``, absolute (resolved once, against the
    working directory at start), with the model name made filesystem-safe by :func:`model_dir_name`."""
    root = Path(os.path.abspath(Path(config.artifact_dir).expanduser()))
    return root / f"{model_dir_name(config.model or 'model')}-{config.endpoint_type}-{config.stimulus}"


def model_dir_name(model: str) -> str:
    """The model name as a directory name: ``/`` becomes ``_`` (AIPerf's habit), letters and digits of
    any script, ``.``, ``-`` and ``_`` are kept. When anything else had to go, or the name is longer than
    80 characters, a short hash of the full name is appended so that different models never share a
    directory (``мод€l 名前`` -> ``мод_l_名前-1f3a9c2e``). It never starts with ``-`` (a shell would read
    the path as an option): ``-`` -> ``model-<hash>``."""
    base = model.replace("/", "_")
    safe = re.sub(r"[^\w.-]+", "_", base).strip("._").lstrip("-") or "model"
    if safe == base and len(safe) <= _MODEL_DIR_CHARS:
        return safe
    digest = hashlib.sha256(model.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{safe[:_MODEL_DIR_CHARS].rstrip('._')}-{digest}"


def check_artifact_dir(run_dir: Path) -> None:
    """A UsageError naming the path unless the run directory can be created and written: not a file,
    not under a file, not in a pseudo filesystem (/proc, /sys, /dev), no component too long."""
    for part in run_dir.parts:
        if len(part.encode("utf-8", "surrogatepass")) > 255:
            raise UsageError(f"--artifact-dir: the path component {part[:40]!r}… is longer than 255 bytes; "
                             "use a shorter --artifact-dir")
    for pseudo in ("/proc", "/sys", "/dev"):
        if run_dir == Path(pseudo) or run_dir.is_relative_to(pseudo):
            raise UsageError(f"--artifact-dir {run_dir.parent} is in {pseudo}, which holds no files; "
                             "choose a directory on disk")
    existing = run_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        what = "is a file" if existing == run_dir.parent else f"is under the file {existing}"
        raise UsageError(f"--artifact-dir {run_dir.parent} {what}; give a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"--artifact-dir {run_dir.parent}: {existing} is not writable by this user")
