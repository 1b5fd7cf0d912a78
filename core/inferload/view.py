"""What a ``view`` plugin provides, and how a run chooses and feeds it (``--ui NAME``).

A ``register_views`` plugin returns a :class:`inferload.types.ViewSpec` whose factory builds a
:class:`ProgressView` over the run's :class:`~inferload.runstate.RunState`. The run picks one with
:func:`choose_view` before anything starts, and the phase loop feeds it through :class:`ShownView`, which
paces the updates to the spec's ``interval`` and keeps a failing view from costing the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from inferload.errors import UsageError

if TYPE_CHECKING:
    from inferload.registry import PluginRegistry
    from inferload.runstate import RunState
    from inferload.types import ViewSpec

NO_VIEW = "none"
"""``--ui none``: no progress view at all (not a plugin, so it cannot be disabled)."""


@runtime_checkable
class ProgressView(Protocol):
    """A view drawing the run's progress from RunState (it only reads it)."""

    def update(self) -> None:
        """Show the state as it is now (called at most every ``ViewSpec.interval`` seconds)."""
        ...

    def close(self) -> None:
        """The run's phases are over (called once, right after a last :meth:`update`)."""
        ...


def view_choices(registry: PluginRegistry) -> list[str]:
    """Every ``--ui`` value: ``none`` and each installed view, sorted."""
    return [NO_VIEW, *sorted(registry.all("view"))]


def choose_view(registry: PluginRegistry, ui: str | None, *, interactive: bool) -> ViewSpec | None:
    """The view ``--ui`` names (None for ``none``); without ``--ui`` the catalogue's default, or the view it
    names as ``when_piped`` when stderr is not ``interactive`` (a terminal) and that view is installed.

    A UsageError (exit 2) names the choices for an unknown ``--ui``, and the plugin to enable when the
    default view's plugin is disabled."""
    from inferload.hookspecs import CHOSEN_CATEGORIES

    if ui == NO_VIEW:
        return None
    views = registry.all("view")
    if ui is not None:
        if ui not in views:
            raise UsageError(f"--ui {ui!r} is not an installed view; choose one of "
                             f"{', '.join(view_choices(registry))} (see `inferload plugins`)")
        return views[ui]
    spec: ViewSpec = registry.default("view", choose=CHOSEN_CATEGORIES["view"])
    if not interactive and spec.when_piped is not None and spec.when_piped in views:
        return views[spec.when_piped]
    return spec


class ShownView:
    """The chosen view as the phase loop calls it: :meth:`update` as often as you like (it paces itself to
    the spec's interval; ``force`` shows now), :meth:`close` at the end. Without a view both do nothing.
    A view that raises is reported once through ``registry.hooks.report`` (a PluginError in strict mode)
    and is not called again; the run goes on."""

    def __init__(self, spec: ViewSpec | None, state: RunState, registry: PluginRegistry) -> None:
        self._registry = registry
        self._spec = spec
        self._view: ProgressView | None = None
        self._state = state
        self._last = 0.0
        self._shown: tuple[Any, ...] | None = None
        if spec is not None:
            self._view = self._call(spec.factory, state)

    def update(self, force: bool = False) -> None:
        """Show the state when the interval has passed; ``force``: now, unless the counts shown last are
        still the counts (the end of a phase right after a paced update must not repeat its line)."""
        if self._view is None or self._spec is None:
            return
        now = time.monotonic()
        if not force and now - self._last < self._spec.interval:
            return
        key = _progress_key(self._state)
        if force and key == self._shown:
            return
        self._last = now
        self._shown = key
        self._call(self._view.update)

    def close(self) -> None:
        """A last update (only if the counts changed since the last one shown), then the view's close."""
        if self._view is None:
            return
        self.update(force=True)
        if self._view is not None:
            self._call(self._view.close)
        self._view = None

    def _call(self, method: Callable[..., Any], *args: Any) -> Any:
        """``method(*args)``, or None once reported (the factory, update and close share this guard)."""
        try:
            return method(*args)
        except Exception as exc:  # noqa: BLE001 - a broken view must not cost the run
            assert self._spec is not None
            self._view = None
            self._registry.hooks.report(self._registry.provider("view", self._spec.name),
                                        f"view {self._spec.name!r}", exc, consequence="no progress view")
            return None


def _progress_key(state: RunState) -> tuple[Any, ...]:
    """What a progress line counts: the current phase and its requests sent, completed, cancelled and
    failed. Two updates with the same key would show the same progress (only the rates move)."""
    phase = state.current_phase
    if phase is None:
        return ()
    return (phase.phase, phase.requests_sent, phase.requests_completed, phase.requests_cancelled,
            phase.request_errors)
