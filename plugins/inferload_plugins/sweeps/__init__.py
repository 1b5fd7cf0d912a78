"""Sweeps, repeated trials and the SLA search behind `inferload profile` (the ``profile`` command plugin).

``sweep.py`` runs the one-run engine (:func:`inferload.engine.runner.run_profile`) once per variation and
trial; ``load_search.py`` is the ``--search-max-load`` search on top of it. Only the profile command uses
them. Layout and definitions: docs/sweeps.md.
"""
