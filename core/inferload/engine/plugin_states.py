"""Run-scoped plugin state: what each ``run_state`` plugin creates for one run (docs/plugins.md,
"Run-scoped state"), made by the engine with the RunState and read back with ``state.plugin_state(name)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inferload.config import ProfileConfig
    from inferload.registry import PluginRegistry


def create_plugin_states(registry: PluginRegistry, config: ProfileConfig) -> dict[str, Any]:
    """Spec name -> ``spec.create(config, registry)`` for every ``run_state`` plugin, in name order. A
    ``create`` that raises is reported (``registry.hooks.report``) and left out; the others and the run
    go on."""
    states: dict[str, Any] = {}
    for name, spec in sorted(registry.all("run_state").items()):
        try:
            states[name] = spec.create(config, registry)
        except Exception as exc:  # noqa: BLE001 - one plugin's state must not cost the run
            registry.hooks.report(registry.provider("run_state", name), f"run state {name!r}", exc,
                                  consequence="whatever reads it sees none")
    return states
