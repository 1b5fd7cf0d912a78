"""The load engine of `inferload profile`: schedule, worker processes, transport and endpoint protocols,
and the parent-side runner that keeps :class:`~inferload.runstate.RunState` current.

The command imports :mod:`inferload.engine.preflight` (checks before anything starts) and
:mod:`inferload.engine.runner` (the run); the rest are their parts (docs/architecture.md).
"""
