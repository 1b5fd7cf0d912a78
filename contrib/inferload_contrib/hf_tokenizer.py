"""``--tokenizer PATH_OR_MODEL``: a Hugging Face ``tokenizers`` tokenizer, loaded from local files only.

Use it when ISL and client-side output counts must match the served model's own tokenizer. The value is
either a ``tokenizer.json`` file, a directory holding one, or a model name (``org/name``) whose files are
already in the local Hugging Face cache. Nothing is ever downloaded: a benchmark must not depend on the
network, and a silent download would stall the run before its first request.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inferload import hookimpl
from inferload.errors import UsageError
from inferload.types import TokenizerSpec

NAME = "hf"
TOKENIZER_FILE = "tokenizer.json"


@hookimpl
def register_tokenizers() -> list[TokenizerSpec]:
    return [
        TokenizerSpec(
            name=NAME,
            description="Hugging Face tokenizer: a local tokenizer.json or the local HF cache (no download)",
            factory=HFTokenizer,
            accepts_paths=True,
        )
    ]


def hf_hub_cache() -> Path:
    """The hub cache directory the ``huggingface_hub`` library would use, from the same variables."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    hf_home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface"
    )
    return Path(hf_home).expanduser() / "hub"


def find_tokenizer_file(name_or_path: str) -> Path:
    """The local ``tokenizer.json`` that ``name_or_path`` means; a UsageError saying how to fix it if none."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        if (path / TOKENIZER_FILE).is_file():
            return path / TOKENIZER_FILE
        raise UsageError(
            f"--tokenizer {name_or_path!r}: directory {path} has no {TOKENIZER_FILE}; point at the file "
            "itself or at a model directory that contains one"
        )
    cache = hf_hub_cache()
    cached = _cached_file(cache, name_or_path)
    if cached is not None:
        return cached
    raise UsageError(
        f"--tokenizer {name_or_path!r}: no such file or directory, and no {TOKENIZER_FILE} for a model of "
        f"that name in the local Hugging Face cache ({cache}); inferload never downloads. Pass the path of a "
        f"{TOKENIZER_FILE} (or of its directory), fetch it beforehand with "
        f"`huggingface-cli download {name_or_path} {TOKENIZER_FILE}`, or use --tokenizer builtin"
    )


def _cached_file(cache: Path, repo_id: str) -> Path | None:
    """Look the model up in the hub cache layout (``models--org--name/snapshots/<rev>/``), offline."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    ref = repo / "refs" / "main"
    if ref.is_file():
        candidate = repo / "snapshots" / ref.read_text(encoding="utf-8").strip() / TOKENIZER_FILE
        if candidate.is_file():
            return candidate
    snapshots = sorted((repo / "snapshots").glob(f"*/{TOKENIZER_FILE}"), key=lambda p: p.stat().st_mtime)
    return snapshots[-1] if snapshots else None


class HFTokenizer:
    """A ``tokenizers.Tokenizer`` behind the :class:`inferload.dataset.Tokenizer` protocol.

    Counts exclude special tokens so they measure the text itself, as the builtin tokenizer does.
    """

    def __init__(self, name_or_path: str) -> None:
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise UsageError(
                f"--tokenizer {name_or_path!r} needs the Hugging Face `tokenizers` package: "
                "pip install 'inferload[hf]' (or use --tokenizer builtin)"
            ) from exc
        self.name = name_or_path
        self.path = find_tokenizer_file(name_or_path)
        try:
            self._tok: Any = Tokenizer.from_file(str(self.path))
        except Exception as exc:  # any parse failure: name the user's file
            raise UsageError(f"--tokenizer {name_or_path!r}: cannot load {self.path}: {exc}") from exc

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids: Sequence[int]) -> str:
        return self._tok.decode(list(ids), skip_special_tokens=False)

    def count(self, text: str) -> int:
        return len(self._tok.encode(text, add_special_tokens=False).ids)

    def __getstate__(self) -> dict[str, Any]:
        # Worker processes rebuild from the file: a Rust tokenizer object is cheaper to reload than to pickle.
        return {"name": self.name, "path": str(self.path)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        from tokenizers import Tokenizer

        self.name = state["name"]
        self.path = Path(state["path"])
        self._tok = Tokenizer.from_file(state["path"])

    def __repr__(self) -> str:
        return f"HFTokenizer({self.name!r}, path={str(self.path)!r})"
