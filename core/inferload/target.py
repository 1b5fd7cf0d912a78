"""The server under test when inferload starts it itself (no ``--url``): what a target plugin provides.

A ``register_targets`` plugin returns a :class:`inferload.types.TargetSpec` whose factory builds a
:class:`TargetProvider`; the profile command asks the catalogue's default target for one. The core only
calls these; the built-in simulator is one such plugin.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class RunningTarget(Protocol):
    """A started server: where to send requests, and how to stop it."""

    url: str
    """Base URL, e.g. ``http://127.0.0.1:41234`` (loopback, an ephemeral port)."""

    def stop(self) -> object:
        """Stop the server and wait for it; called once when the run ends, whatever happened."""
        ...


@runtime_checkable
class TargetProvider(Protocol):
    """Knows what it will serve before it starts, so the run can be named and checked first."""

    model: str
    """The model name the server answers to (used when ``--model`` is not given)."""

    def start(self) -> RunningTarget:
        """Start the server and return once it accepts requests."""
        ...
