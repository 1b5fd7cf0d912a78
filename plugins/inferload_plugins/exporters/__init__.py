"""Exporter plugins, one per artifact: console table, profile_export.json/.csv/.jsonl, inputs.json.

Each receives an :class:`inferload.export.ExportContext` and returns the paths it wrote.
"""
