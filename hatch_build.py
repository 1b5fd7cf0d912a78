"""Build hook: derive the first-party `inferload.plugins` entry points from plugins.yaml.

plugins.yaml is the single source of truth for what ships; generating the entry points from it at build
time means the catalogue and what gets installed can never drift apart.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from hatchling.metadata.plugin.interface import MetadataHookInterface

ENTRY_POINT_GROUP = "inferload.plugins"


def categories_of(entry: dict) -> list[str]:
    """The categories of a catalogue entry: ``category`` is one name or a list of them."""
    category = entry["category"]
    return list(category) if isinstance(category, list) else [category]


def entry_point_value(entry: dict) -> str:
    """``module [extras]``: ``essential`` and one ``default_<category>`` per category of a default plugin
    (extras are word characters only, so the category names keep their underscores)."""
    extras = ["essential"] if entry.get("essential") else []
    if entry.get("default"):
        extras += [f"default_{category}" for category in categories_of(entry)]
    return entry["module"] + (f" [{', '.join(extras)}]" if extras else "")


def read_catalogue(root: Path) -> list[dict]:
    """Return the plugin entries of plugins.yaml, checked for the fields the loader relies on."""
    data = yaml.safe_load((root / "plugins.yaml").read_text(encoding="utf-8"))
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


class CatalogueMetadataHook(MetadataHookInterface):
    """Fill `entry-points` from plugins.yaml (pyproject declares it dynamic)."""

    PLUGIN_NAME = "custom"

    def update(self, metadata: dict) -> None:
        entries = read_catalogue(Path(self.root))
        metadata["entry-points"] = {
            ENTRY_POINT_GROUP: {entry["name"]: entry_point_value(entry) for entry in entries},
        }
