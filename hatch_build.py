"""Build hook: derive the first-party `inferload.plugins` entry points from plugins.yaml.

plugins.yaml is the single source of truth for what ships; generating the entry points from it at build
time means the catalogue and what gets installed can never drift apart. The reading and the entry-point
values come from ``inferload_plugins/catalogue.py`` (loaded by path: the package is not installed while it
builds), which the loader also uses at run time. One fixed ``inferload.catalogues`` entry point lets the
loader read the catalogue in-process, so an edit to plugins.yaml since the last install is never stale.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from hatchling.metadata.plugin.interface import MetadataHookInterface

ENTRY_POINT_GROUP = "inferload.plugins"
CATALOGUE_GROUP = "inferload.catalogues"
CATALOGUE_MODULE = "inferload_plugins.catalogue"


def catalogue_module(root: Path) -> ModuleType:
    """plugins/inferload_plugins/catalogue.py, imported from its file."""
    path = root / "plugins" / "inferload_plugins" / "catalogue.py"
    spec = importlib.util.spec_from_file_location("inferload_build_catalogue", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_catalogue(root: Path) -> list[dict]:
    """Return the plugin entries of plugins.yaml, checked for the fields the loader relies on."""
    return catalogue_module(root).read_catalogue(root)


class CatalogueMetadataHook(MetadataHookInterface):
    """Fill `entry-points` from plugins.yaml (pyproject declares it dynamic)."""

    PLUGIN_NAME = "custom"

    def update(self, metadata: dict) -> None:
        catalogue = catalogue_module(Path(self.root))
        entries = catalogue.read_catalogue(Path(self.root))
        metadata["entry-points"] = {
            ENTRY_POINT_GROUP: {entry["name"]: catalogue.entry_point_value(entry) for entry in entries},
            CATALOGUE_GROUP: {"inferload": f"{CATALOGUE_MODULE}:entry_points"},
        }
