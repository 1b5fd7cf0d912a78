"""The catalogue of first-party plugins (plugins.yaml), read in-process: the built-ins' registration list.

The build turns the same file into the ``inferload.plugins`` entry points (``hatch_build.py`` loads this
module by path, so both read it one way). The loader also asks :func:`entry_points` directly, through the
one fixed ``inferload.catalogues`` entry point, so a plugins.yaml edited since the last ``pip install``
still loads exactly what it says — no stale entry point can add, drop or misplace a built-in. When the file
is no newer than the installed metadata, the installed entry points are current and the file is not even
parsed (start-up stays as fast as before).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CATALOGUE_FILE = "plugins.yaml"
OPTIONS = "options"
"""The category of plugin-declared options: every enabled plugin's are loaded, none is a default."""


def catalogue_path() -> Path:
    """plugins.yaml beside this package (a wheel ships it there) or at the source tree's root (editable)."""
    here = Path(__file__).resolve().parent
    packaged = here / CATALOGUE_FILE
    return packaged if packaged.is_file() else here.parent.parent / CATALOGUE_FILE


def read_catalogue(root: Path | None = None) -> list[dict[str, Any]]:
    """The plugin entries of plugins.yaml (in ``root``, else :func:`catalogue_path`), checked for the fields
    the loader relies on; a ValueError names the entry and the field."""
    import yaml

    path = root / CATALOGUE_FILE if root is not None else catalogue_path()
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    entries = data.get("plugins") or []
    seen: set[str] = set()
    for entry in entries:
        for field in ("name", "module", "category", "description", "provides"):
            if field not in entry:
                raise ValueError(f"plugins.yaml: plugin {entry.get('name', entry)!r} lacks {field!r}")
        for flag in ("essential", "default"):
            if not isinstance(entry.get(flag, False), bool):
                raise ValueError(f"plugins.yaml: plugin {entry['name']!r}: {flag} must be true or false")
        if entry["name"] in seen:
            raise ValueError(f"plugins.yaml: plugin name {entry['name']!r} appears twice")
        seen.add(entry["name"])
    return entries


def categories_of(entry: dict[str, Any]) -> list[str]:
    """The categories of a catalogue entry: ``category`` is one name or a list of them."""
    category = entry["category"]
    return list(category) if isinstance(category, list) else [category]


def entry_point_value(entry: dict[str, Any]) -> str:
    """``module [extras]``: ``essential`` and one ``default_<category>`` per category of a default plugin
    (extras are word characters only, so the category names keep their underscores)."""
    extras = ["essential"] if entry.get("essential") else []
    if entry.get("default"):
        extras += [f"default_{category}" for category in categories_of(entry) if category != OPTIONS]
    return entry["module"] + (f" [{', '.join(extras)}]" if extras else "")


def entry_points() -> dict[str, str] | None:
    """Plugin name -> entry-point value of every first-party plugin, as plugins.yaml says now; None when
    the installed entry points were written after plugins.yaml last changed (they say the same)."""
    path = catalogue_path()
    installed = _installed_entry_points_mtime()
    if installed is not None and path.stat().st_mtime <= installed:
        return None
    return {entry["name"]: entry_point_value(entry) for entry in read_catalogue()}


def _installed_entry_points_mtime() -> float | None:
    from importlib import metadata

    try:
        files = metadata.distribution("inferload").files or []
        (record,) = [f for f in files if f.name == "entry_points.txt" and f.parent.suffix == ".dist-info"]
        return Path(str(record.locate())).stat().st_mtime
    except (metadata.PackageNotFoundError, ValueError, OSError):
        return None
