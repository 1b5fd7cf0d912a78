"""The built-in simulated OpenAI-compatible inference server (``inferload simulate``, embedded default).

Not a plugin itself: the ``simulate`` command plugin and the profile engine use it. Importing this package
is cheap; import the module you need:

* :mod:`.embedded` — ``start_embedded(config) -> EmbeddedSimulator`` (``.url``, ``.stop()``)
* :mod:`.config` — ``SimulatorConfig`` (pydantic-settings, env prefix ``INFERLOAD_SIM_``)
* :mod:`.server` — ``run_server(config)``, the blocking server
* :mod:`.truthlog` — the per-request JSONL truth log and ``read_truth_log``

See docs/simulator.md for the performance model, fault kinds and formats.
"""
