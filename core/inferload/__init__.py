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



__version__ = "0.1.0"

PROJECT_NAME = "inferload"
ENTRY_POINT_GROUP = "inferload.plugins"


def __getattr__(name: str) -> object:
    """``hookimpl`` (the decorator marking a hook implementation) and ``hookspec``, made on first use.

    pluggy is imported only then, so `inferload` reaches the CLI's Ctrl+C handling before any heavy
    import: an interrupt during start-up ends with one line, not a traceback."""
    if name in ("hookimpl", "hookspec"):
        import pluggy

        globals()["hookimpl"] = pluggy.HookimplMarker(PROJECT_NAME)
        globals()["hookspec"] = pluggy.HookspecMarker(PROJECT_NAME)
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["ENTRY_POINT_GROUP", "PROJECT_NAME", "__version__", "hookimpl", "hookspec"]
