"""Every call from the core into a plugin's hook: a typed facade over pluggy, one method per hook.

Callers write ``registry.hooks.record_batch(state=state, records=records)``, never ``pm.hook``. Each call
still goes through pluggy (so ``INFERLOAD_TRACE_HOOKS`` monitoring, tracing and wrappers apply), but one
plugin at a time: a plugin whose implementation raises is reported — plugin, distribution, version, hook,
error — and the other plugins and the run go on. With ``INFERLOAD_STRICT_PLUGINS=1`` the first such error
is a :class:`~inferload.errors.PluginError` instead, so CI fails fast. See docs/architecture.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pluggy

from inferload.errors import PluginError, RunFailed, UsageError
from inferload.redact import redact_text

if TYPE_CHECKING:
    from inferload.records import RequestRecord
    from inferload.runstate import RunState
    from inferload.types import BeforeLoadContext

log = logging.getLogger("inferload.plugins")
trace_log = logging.getLogger("inferload.hooks")

TRACE_ENV = "INFERLOAD_TRACE_HOOKS"
"""Set to 1 to log every hook call into a plugin (which plugins, how long) at INFO level."""


@dataclass
class HookFailure:
    """One plugin's failures in one hook during this process: the first error and how often it happened."""

    plugin: str
    """``name (distribution version)``, as the report shows it."""
    hook: str
    """Where it failed: a hook name, or e.g. ``exporter 'csv'``."""
    error: str
    count: int = 1
    consequence: str = "skipped"

    def line(self) -> str:
        """One line for logs and ``client_health.warnings``."""
        times = "" if self.count == 1 else f" ({self.count} times)"
        what = f"{self.error}; {self.consequence}, the run went on"
        return f"plugin {self.plugin} failed in {self.hook}{times}: {what}"


class PluginHooks:
    """The lifecycle hooks as typed methods; each plugin's implementation is isolated from the others.

    Registration hooks are called by :class:`inferload.registry.PluginRegistry` through :meth:`collect`,
    under the same rule.
    """

    def __init__(self, pm: pluggy.PluginManager, describe: Callable[[str], str], *, strict: bool) -> None:
        self._pm = pm
        self._describe = describe
        self.strict = strict
        self.failures: dict[tuple[str, str], HookFailure] = {}
        self._callers: dict[str, list[tuple[str, pluggy.HookCaller]]] = {}

    # -- lifecycle hooks (docs: inferload.hookspecs) -----------------------------------------------

    def run_started(self, *, state: RunState) -> None:
        """The run is configured and about to send its first request."""
        self._notify("run_started", {"state": state})

    def phase_changed(self, *, state: RunState | None, phase: str) -> None:
        """A phase (``warmup``, ``profiling``) began."""
        self._notify("phase_changed", {"state": state, "phase": phase})

    def record_batch(self, *, state: RunState, records: Sequence[RequestRecord]) -> None:
        """A batch of finished records arrived from a worker (once per batch, never per record)."""
        self._notify("record_batch", {"state": state, "records": records})

    def run_stopping(self, *, state: RunState) -> None:
        """Sending and draining are over; the summary and artifacts come next."""
        self._notify("run_stopping", {"state": state})

    def run_finished(self, *, state: RunState) -> None:
        """The run ended and its artifacts are written."""
        self._notify("run_finished", {"state": state})

    def before_load(self, *, context: BeforeLoadContext) -> list[str]:
        """Every ``before_load`` implementation in turn; returns their warning lines in call order.

        Not isolated: this is the one hook whose failure stops the run (before any request). A RunFailed
        or UsageError passes through with its own line; any other exception becomes a RunFailed naming
        the plugin and the way to disable it, the run's secrets redacted from the error."""
        warnings: list[str] = []
        for plugin_name, caller in self._callers_of("before_load"):
            try:
                results = caller(context=context)
            except (RunFailed, UsageError):
                raise
            except Exception as exc:
                error = redact_text(f"{type(exc).__name__}: {exc}", context.config.secret_values())
                raise RunFailed(
                    f"plugin {self._describe(plugin_name)} failed before the first request: {error}; no "
                    f"request was sent (--disable-plugin {plugin_name} runs without it)"
                ) from exc
            warnings += [line for result in results for line in (result or [])]
        return warnings

    # -- the one rule --------------------------------------------------------------------------------

    def collect(self, hook: str, plugin: object) -> list[Any]:
        """Call registration ``hook`` of ``plugin`` alone (through pluggy) and return what it returned.

        Errors propagate: the registry rolls the plugin back and reports it.
        """
        results = _only(self._pm, hook, plugin)()
        return [spec for returned in results for spec in (returned or [])]

    def invalidate(self) -> None:
        """Forget the per-plugin callers; called whenever a plugin is registered or unregistered."""
        self._callers.clear()

    def failure_lines(self) -> list[str]:
        """Every plugin that failed in a lifecycle hook so far, one line each."""
        return [failure.line() for failure in self.failures.values()]

    def report(
        self, plugin_name: str, where: str, exc: Exception, *, consequence: str = "skipped",
        error: str | None = None,
    ) -> None:
        """The one rule for any call into a plugin that raised (a hook, an exporter, a router factory):
        a PluginError in strict mode; otherwise one warning per plugin and ``where`` naming the plugin,
        its distribution and version, and a count in :meth:`failure_lines`. ``error`` replaces the
        exception's text (e.g. with secrets scrubbed)."""
        self._failed(plugin_name, where, exc, consequence, error)

    def _notify(self, hook: str, kwargs: Mapping[str, Any]) -> None:
        for plugin_name, caller in self._callers_of(hook):
            try:
                caller(**kwargs)
            except Exception as exc:  # noqa: BLE001 - one plugin's error must not cost the run (issue 9 #15)
                self._failed(plugin_name, hook, exc, "skipped")

    def _callers_of(self, hook: str) -> list[tuple[str, pluggy.HookCaller]]:
        callers = self._callers.get(hook)
        if callers is None:
            caller: pluggy.HookCaller = getattr(self._pm.hook, hook)
            # pluggy calls implementations last-registered first (tryfirst/trylast applied): keep that order
            plugins = [impl.plugin for impl in reversed(caller.get_hookimpls()) if not _is_wrapper(impl)]
            callers = [(self._pm.get_name(p) or repr(p), _only(self._pm, hook, p)) for p in plugins]
            self._callers[hook] = callers
        return callers

    def _failed(
        self, plugin_name: str, hook: str, exc: Exception, consequence: str, error: str | None = None
    ) -> None:
        who = self._describe(plugin_name)
        error = error or f"{type(exc).__name__}: {exc}".strip()
        if self.strict:
            raise PluginError(
                f"plugin {who} failed in {hook}: {error} (INFERLOAD_STRICT_PLUGINS is set; fix or disable "
                f"it with --disable-plugin {plugin_name})"
            ) from exc
        key = (plugin_name, hook)
        failure = self.failures.get(key)
        if failure is not None:
            failure.count += 1
            log.debug("plugin %s failed in %s again: %s", who, hook, error)
            return
        self.failures[key] = HookFailure(who, hook, error, consequence=consequence)
        log.warning(
            "plugin %s failed in %s: %s; %s, the run goes on (--disable-plugin %s silences it, "
            "INFERLOAD_STRICT_PLUGINS=1 makes it fatal)",
            who, hook, error, consequence, plugin_name, exc_info=log.isEnabledFor(logging.DEBUG),
        )


def _is_wrapper(impl: pluggy.HookImpl) -> bool:
    return bool(impl.wrapper or impl.hookwrapper)


def _only(pm: pluggy.PluginManager, hook: str, plugin: object) -> pluggy.HookCaller:
    """A caller of ``hook`` that runs ``plugin``'s implementation plus every wrapper, and no one else's."""
    caller: pluggy.HookCaller = getattr(pm.hook, hook)
    others = {
        impl.plugin for impl in caller.get_hookimpls() if impl.plugin is not plugin and not _is_wrapper(impl)
    }
    return pm.subset_hook_caller(hook, remove_plugins=others) if others else caller


def install_tracing(pm: pluggy.PluginManager) -> Callable[[], None]:
    """Log each hook call (plugins called, milliseconds taken) to the ``inferload.hooks`` logger; returns
    the function that stops it. The CLI turns it on when ``INFERLOAD_TRACE_HOOKS=1``."""
    started: list[int] = []

    def before(hook_name: str, hook_impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]) -> None:
        started.append(time.perf_counter_ns())
        trace_log.info("hook %s -> %s", hook_name, ", ".join(impl.plugin_name for impl in hook_impls) or "-")

    def after(outcome: Any, hook_name: str, hook_impls: Sequence[pluggy.HookImpl], kwargs: Any) -> None:
        elapsed = (time.perf_counter_ns() - started.pop()) / 1e6 if started else 0.0
        failed = " (raised)" if outcome.exception is not None else ""
        trace_log.info("hook %s done in %.3f ms%s", hook_name, elapsed, failed)

    return pm.add_hookcall_monitoring(before, after)
