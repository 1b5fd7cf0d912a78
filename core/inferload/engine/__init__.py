"""The load engine of `inferload profile`: schedule, worker processes, transport and endpoint protocols,
and the parent-side runner that keeps :class:`~inferload.runstate.RunState` current.

Only :mod:`inferload.engine.runner` is meant to be imported by the command; the rest are its parts.
"""
