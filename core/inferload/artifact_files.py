"""Files in a run's artifact directory: written atomically, never through a link, owned by one run.

Every artifact is written to a temporary file beside its final name and moved into place with
``os.replace``: a reader (the API's download route, a dashboard) sees the old file or the whole new one,
never half of it, and a symlink planted at the final name is replaced, not followed. A directory on the
way that leads out of the run directory is refused. :func:`clear_run_dir` gives a new run an empty
directory, so files of an earlier run are never mistaken for this one's.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


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
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def write_artifact(root: Path, name: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8) to ``root/name`` atomically; returns the path."""
    with open_artifact(root, name, binary=isinstance(data, bytes)) as handle:
        handle.write(data)
    return Path(root) / name


def clear_run_dir(run_dir: Path) -> list[str]:
    """Empty ``run_dir`` of whatever an earlier run left there (links are removed, never followed) and
    create it if missing; returns the names removed, sorted."""
    removed: list[str] = []
    if run_dir.is_symlink():
        run_dir.unlink()  # the run directory itself must be a real directory, not a link elsewhere
        removed.append(run_dir.name)
    run_dir.mkdir(parents=True, exist_ok=True)
    for entry in sorted(run_dir.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
        removed.append(entry.name)
    return removed
