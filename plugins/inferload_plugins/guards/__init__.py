"""Run-guard plugins: checks that end a run early, with one line, when its finished records show that going
on would only add failures (``register_run_guards``, :mod:`inferload.engine.guards`). One module per
guard."""
