"""inferload: benchmark LLM inference servers.

The core is small on purpose: hook specifications (:mod:`inferload.hookspecs`), the spec types plugins
return (:mod:`inferload.types`), the plugin registry (:mod:`inferload.registry`), the run state and the
CLI shell. Everything a user touches — endpoints, metrics, exporters, API routes, commands — is a plugin.

Writing a plugin::

    # my_plugin.py
    from inferload import hookimpl
    from inferload.types import ExporterSpec

    @hookimpl
    def register_exporters():
        return [ExporterSpec(name="my-export", description="Writes my.txt", export=_export)]

and in your package's pyproject.toml::

    [project.entry-points."inferload.plugins"]
    my-plugin = "my_plugin"

See docs/plugins.md for the full guide.
"""

import pluggy

__version__ = "0.1.0"

PROJECT_NAME = "inferload"
ENTRY_POINT_GROUP = "inferload.plugins"

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Decorator marking a function as the implementation of one of the hooks in :mod:`inferload.hookspecs`."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)

__all__ = ["ENTRY_POINT_GROUP", "PROJECT_NAME", "__version__", "hookimpl", "hookspec"]
