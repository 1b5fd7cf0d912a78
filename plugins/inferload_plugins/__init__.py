"""First-party inferload plugins: one module per concern, each registered through its own entry point.

plugins.yaml at the repository root is the catalogue of everything in this package that ships.
"""
