"""Code two or more built-in plugin families need, exported for that purpose (and only that).

A built-in shares code with another only through the core's public API or a module of this package;
``tests/test_plugin_contract.py`` checks that no other module crosses from one family's package into
another's. Modules:

- ``confidence``: Student-t and bootstrap intervals, used by the profile command's sweeps
  (``--num-profile-runs``) and by ``inferload compare``'s verdicts.
- ``model_list``: the server's model list (its URL, headers and ids), asked by the profile command's model
  discovery and by the ``model-listed-check`` diagnostics plugin.
- ``sweep_summary``: the sweep summary of a directory, also of a sweep variation's directory that holds
  only ``trialNN/``, read by ``inferload compare`` and ``inferload plot``; the order of a summary's table
  rows (a search's by load), for the sweep's console table and report.html.
- ``fixed_schedule_options``: the ``--fixed-schedule*`` options, declared by the timed arrival pattern's
  plugin and read by the replay flow too.
"""
