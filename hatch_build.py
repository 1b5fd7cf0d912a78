"""Build hook: derive the first-party `inferload.plugins` entry points from plugins.yaml.

plugins.yaml is the single source of truth for what ships; generating the entry points from it at build
time means the catalogue and what gets installed can never drift apart.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from hatchling.metadata.plugin.interface import MetadataHookInterface

ENTRY_POINT_GROUP = "inferload.plugins"


def read_catalogue(root: Path) -> list[dict]:
    """Return the plugin entries of plugins.yaml, checked for the fields the loader relies on."""
    data = yaml.safe_load((root / "plugins.yaml").read_text(encoding="utf-8"))
    entries = data.get("plugins") or []
    seen: set[str] = set()
    for entry in entries:
        for field in ("name", "module", "category", "description", "provides"):
            if field not in entry:
                raise ValueError(f"plugins.yaml: plugin {entry.get('name', entry)!r} lacks {field!r}")
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
            ENTRY_POINT_GROUP: {
                entry["name"]: entry["module"] + (" [essential]" if entry.get("essential") else "")
                for entry in entries
            },
        }
