"""Reading user-given text files with bounded memory: a cap per line and a cap per file.

A file named on the command line may be anything: ``/dev/zero``, a FIFO, a 200 MB file without a newline.
Reading it whole (``Path.read_text``) grows memory without bound and sits in one C call that a signal
handler cannot end. These readers take the file a bounded piece at a time, so memory stays within the cap
and a signal (Ctrl+C, SIGTERM) is acted on between pieces; a line or file over the cap is a
:class:`~inferload.errors.UsageError` naming ``FILE:LINE`` and the cap.
"""

from __future__ import annotations

import codecs
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from inferload.errors import UsageError

MAX_LINE_BYTES = 16 * 1024 * 1024
"""Longest line of an ``--input-file`` (16 MiB, without its line ending): several million tokens of
prompt, far beyond any model's context, so only a file that is not line-delimited text reaches it."""

MAX_CONFIG_BYTES = 1024 * 1024
"""Largest ``-f`` config file (1 MiB)."""


def iter_lines(path: str | os.PathLike[str], *, what: str, max_line_bytes: int = MAX_LINE_BYTES,
               ) -> Iterator[tuple[int, str]]:
    """``(line number from 1, text)`` for each line of the UTF-8 file at ``path``, line endings removed.

    Lines end at LF (CRLF too: the CR is dropped); a UTF-8 byte-order mark at the start is skipped. Works
    on FIFOs and character devices. ``what`` names the file in errors (``--input-file``).

    Raises:
        UsageError: the file cannot be opened or read, a line is longer than ``max_line_bytes``, or a line
            is not UTF-8 — each naming ``FILE:LINE``.
    """
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed in the finally below, also when the caller stops
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        lineno = 0
        while True:
            try:
                raw = handle.readline(max_line_bytes + 1)
            except OSError as exc:
                raise UsageError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
            if not raw:
                return
            lineno += 1
            if lineno == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]
            body = raw.removesuffix(b"\n").removesuffix(b"\r")
            if len(body) > max_line_bytes:
                raise UsageError(
                    f"{path}:{lineno}: line is longer than the {_size(max_line_bytes)} limit of {what} "
                    "(one JSON object per line, each ending in a newline)"
                )
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as exc:
                where = f"{path}:{lineno}"
                raise UsageError(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
            yield lineno, text
    finally:
        handle.close()


def iter_jsonl(path: str | os.PathLike[str], *, what: str) -> Iterator[tuple[int, Any]]:
    """``(line number from 1, decoded value)`` for each non-blank line of the JSONL file at ``path`` (read
    as :func:`iter_lines` reads it). Raises UsageError ``FILE:LINE: not valid JSON (...)`` on a bad line:
    the one rule every JSONL dataset applies."""
    for lineno, line in iter_lines(path, what=what):
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}:{lineno}: not valid JSON ({exc.msg} at column {exc.colno})") from None


def first_jsonl_value(path: str | os.PathLike[str]) -> Any:
    """The first non-blank line of the regular file ``path``, decoded; None when there is none, it is not
    JSON, or ``path`` is not a regular file (reading a pipe's first line here would take it from the
    dataset that reads it). For a dataset's ``detect``: the dataset itself reports what is wrong."""
    try:
        if not Path(path).is_file():
            return None
        for _, value in iter_jsonl(path, what="--input-file"):
            return value
    except (OSError, UsageError):
        return None
    return None


def read_capped(path: str | os.PathLike[str], *, what: str, max_bytes: int = MAX_CONFIG_BYTES) -> str:
    """The whole UTF-8 text of ``path``, read in pieces; a UsageError naming the file and the cap when it
    holds more than ``max_bytes``, cannot be read, or is not UTF-8."""
    file = Path(path)
    parts: list[bytes] = []
    size = 0
    try:
        with open(file, "rb") as handle:
            while piece := handle.read(min(65536, max_bytes + 1 - size)):
                parts.append(piece)
                size += len(piece)
                if size > max_bytes:
                    raise UsageError(f"{what} {file} is larger than the {_size(max_bytes)} limit")
    except OSError as exc:
        raise UsageError(f"cannot read {what} {file}: {exc.strerror or exc}") from None
    try:
        return b"".join(parts).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{what} {file} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _size(limit: int) -> str:
    """``16 MiB``, ``1 MiB``, else bytes."""
    mib = 1024 * 1024
    return f"{limit // mib} MiB" if limit % mib == 0 else f"{limit} bytes"
