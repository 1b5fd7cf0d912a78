"""Discovers, loads and indexes plugins: the one loader every plugin goes through.

Each plugin is one entry point in the group ``inferload.plugins``. A distribution may also publish an
in-process catalogue (group ``inferload.catalogues``: a function returning ``{plugin name: "module
[extras]"}``, or None when its installed entry points are current); its plugin list then comes from that
function, not from its installed entry points, so a catalogue edited since the last install is never stale
(inferload's own built-ins work this way).

Loading reads the entry points once, applies the user's allow/deny rules on *names* (so a disabled plugin
is never imported), then imports and registers each plugin inside its own try/except. A failure is rolled
back and recorded (plugin, distribution, version, error) as one warning line, unless strict mode is on or
the entry point is marked ``[essential]``, in which case it is a :class:`~inferload.errors.PluginError`
(exit 2).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import importlib_metadata
import pluggy

from inferload import ENTRY_POINT_GROUP, PROJECT_NAME, hookspecs
from inferload.errors import PluginError, UsageError
from inferload.plugin_hooks import TRACE_ENV, PluginHooks, install_tracing
from inferload.types import SPEC_TYPES, PluginSpec

log = logging.getLogger(__name__)

SpecT = TypeVar("SpecT", bound=PluginSpec)

_SPEC_BY_CATEGORY: dict[str, type[PluginSpec]] = {t.category: t for t in SPEC_TYPES}
_CATEGORY_BY_HOOK: dict[str, str] = {hook: cat for cat, hook in hookspecs.REGISTRATION_HOOKS.items()}

ENABLED, DISABLED, FAILED = "enabled", "disabled", "failed"

CATALOGUE_GROUP = "inferload.catalogues"
"""Entry points naming a distribution's in-process plugin catalogue (see the module docstring)."""

DEFAULT_EXTRA_PREFIX = "default_"
"""An entry point marked ``[default_<category>]`` provides that category's default (``--transport`` with no
value, …). The build writes the marks from ``default: true`` in plugins.yaml; a third-party entry point
may carry one too."""


@dataclass(frozen=True)
class LoadRules:
    """Which plugins to load, from flags and environment. Names are entry-point names."""

    disabled: frozenset[str] = frozenset()
    requested: frozenset[str] = frozenset()
    autoload: bool = True
    strict: bool = False

    @classmethod
    def from_env(
        cls,
        disabled: Iterable[str] = (),
        requested: Iterable[str] = (),
        environ: Mapping[str, str] | None = None,
    ) -> LoadRules:
        """Combine CLI values with ``INFERLOAD_DISABLE_PLUGINS``, ``INFERLOAD_PLUGINS``,
        ``INFERLOAD_DISABLE_PLUGIN_AUTOLOAD`` and ``INFERLOAD_STRICT_PLUGINS``."""
        env = os.environ if environ is None else environ
        return cls(
            disabled=frozenset(_split_names(disabled, env.get("INFERLOAD_DISABLE_PLUGINS", ""))),
            requested=frozenset(_split_names(requested, env.get("INFERLOAD_PLUGINS", ""))),
            autoload=not _truthy(env.get("INFERLOAD_DISABLE_PLUGIN_AUTOLOAD", "")),
            strict=_truthy(env.get("INFERLOAD_STRICT_PLUGINS", "")),
        )

    def allows(self, name: str) -> bool:
        if name in self.disabled:
            return False
        return self.autoload or name in self.requested


@dataclass
class PluginInfo:
    """What `inferload plugins` shows about one plugin, whatever became of it."""

    name: str
    module: str
    distribution: str
    version: str
    status: str
    essential: bool = False
    reason: str = ""
    specs: list[PluginSpec] = field(default_factory=list)
    default_for: frozenset[str] = frozenset()
    """Categories whose default this plugin provides (from its entry point's ``default_*`` marks)."""

    def describe(self) -> str:
        """``'name' (distribution version)``: how errors and warnings name a plugin."""
        origin = " ".join(p for p in (self.distribution or "unknown distribution", self.version) if p)
        return f"{self.name!r} ({origin})"

    @property
    def categories(self) -> list[str]:
        return sorted({spec.category for spec in self.specs})

    @property
    def provides(self) -> list[str]:
        return [item for spec in self.specs for item in spec.provides()]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "category": ",".join(self.categories),
            "provides": self.provides,
            "module": self.module,
            "distribution": self.distribution,
            "version": self.version,
            "status": self.status,
            "essential": self.essential,
            "reason": self.reason,
        }


class PluginRegistry:
    """The loaded plugins and everything they registered, indexed by category and name.

    Callers use the typed accessors (:meth:`get`, :meth:`all`, :meth:`default`) and :attr:`hooks` for
    lifecycle events; nothing outside this module and :mod:`inferload.plugin_hooks` touches pluggy.
    """

    def __init__(self, *, strict: bool = False) -> None:
        self.pm = pluggy.PluginManager(PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self._index: dict[str, dict[str, tuple[PluginSpec, str]]] = {c: {} for c in _SPEC_BY_CATEGORY}
        self.hooks = PluginHooks(self.pm, self.describe, strict=strict)
        """Typed, isolated calls of the lifecycle hooks: ``registry.hooks.run_started(state=state)``."""

    def describe(self, plugin_name: str) -> str:
        """``'name' (distribution version)`` of a plugin, for messages."""
        info = self.plugins.get(plugin_name)
        return info.describe() if info is not None else repr(plugin_name)

    def default(self, category: str, *, choose: str) -> PluginSpec:
        """The spec of ``category`` that the catalogue marks as the default (``default: true``).

        ``choose`` says how the user picks one instead (``--transport NAME``). A UsageError names the plugin
        to enable when the default one is disabled or failed; a PluginError names both when two enabled
        plugins claim the default.
        """
        owners = [info for info in self.plugins.values() if category in info.default_for]
        enabled = [info for info in owners if info.status == ENABLED]
        noun = category.replace("_", " ")
        if len(enabled) > 1:
            raise PluginError(
                f"the default {noun} is claimed by plugins "
                f"{' and '.join(info.describe() for info in enabled)}; disable one (--disable-plugin NAME)"
            )
        if not enabled:
            names = ", ".join(sorted(self._index[category]))
            available = f" (available: {names})" if names else ""
            if owners:
                owner = owners[0]
                why = "disabled" if owner.status == DISABLED else f"failed to load ({owner.reason})"
                raise UsageError(
                    f"the default {noun} comes from plugin {owner.name!r}, which is {why}: enable it (drop "
                    f"--disable-plugin {owner.name}) or give {choose}{available}"
                )
            raise UsageError(f"no installed plugin provides a default {noun}: give {choose}{available}")
        specs = [spec for spec in enabled[0].specs if spec.category == category]
        if len(specs) != 1:
            raise PluginError(
                f"plugin {enabled[0].describe()} is marked as the default {noun} but registers "
                f"{len(specs)} of them ({', '.join(s.name for s in specs) or 'none'}); it must register one"
            )
        spec = specs[0]
        if self._index[category].get(spec.name, (None, ""))[1] != enabled[0].name:
            return self.get(category, spec.name)  # another plugin won the name by priority
        return spec

    def all(self, category: str) -> dict[str, Any]:
        """Every spec of a category by name, in registration order."""
        return {name: spec for name, (spec, _) in self._index[category].items()}

    def get(self, category: str, name: str) -> Any:
        """The spec called ``name``; a UsageError listing the choices if there is none."""
        try:
            return self._index[category][name][0]
        except KeyError:
            choices = ", ".join(sorted(self._index[category])) or "none installed"
            raise UsageError(
                f"unknown {category.replace('_', ' ')} {name!r}; available: {choices} "
                "(see `inferload plugins`)"
            ) from None

    def provider(self, category: str, name: str) -> str:
        """The plugin that registered ``name`` in ``category``."""
        return self._index[category][name][1]

    # -- loading ---------------------------------------------------------------------------------

    def add(
        self,
        plugin: object,
        name: str,
        *,
        module: str = "",
        distribution: str = "",
        version: str = "",
        essential: bool = False,
        strict: bool | None = None,
        default_for: Iterable[str] = (),
    ) -> PluginInfo:
        """Register one imported plugin object, collect its specs, and index them.

        Public so tests and embedding programs can register a throwaway plugin object. ``strict`` defaults
        to the registry's own; ``default_for`` names the categories whose default this plugin provides.
        """
        strict = self.hooks.strict if strict is None else strict
        if name in self.plugins:
            other = self.plugins[name]
            raise PluginError(
                f"plugin name {name!r} is used twice: by {other.module or 'an object'} "
                f"({other.distribution or 'unknown distribution'} {other.version}) and by "
                f"{module or getattr(plugin, '__name__', 'an object')} "
                f"({distribution or 'unknown distribution'} {version}); plugin names must be unique"
            )
        info = PluginInfo(name, module or getattr(plugin, "__name__", ""), distribution, version, ENABLED,
                          essential=essential, default_for=frozenset(default_for))
        try:
            self.pm.register(plugin, name=name)
            self.hooks.invalidate()
            try:
                self.pm.check_pending()
                info.specs = self._collect(plugin, name)
            except BaseException:
                self.pm.unregister(plugin)
                self.hooks.invalidate()
                raise
        except Exception as exc:  # noqa: BLE001 - any plugin error is isolated and reported
            self._fail(info, exc, strict=strict)
            return info
        self.plugins[name] = info
        for spec in info.specs:
            self._index_spec(spec, info)
        return info

    def _collect(self, plugin: object, plugin_name: str) -> list[PluginSpec]:
        specs: list[PluginSpec] = []
        for caller in self.pm.get_hookcallers(plugin) or []:
            category = _CATEGORY_BY_HOOK.get(caller.name)
            if category is None:
                continue
            expected = _SPEC_BY_CATEGORY[category]
            for spec in self.hooks.collect(caller.name, plugin):
                if not isinstance(spec, expected):
                    raise TypeError(
                        f"{caller.name}() returned {type(spec).__name__}; expected {expected.__name__}"
                    )
                specs.append(spec)
        names = [(s.category, s.name) for s in specs]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"registers the same name twice: {sorted(dupes)}")
        return specs

    def _index_spec(self, spec: PluginSpec, info: PluginInfo) -> None:
        slot = self._index[spec.category]
        current = slot.get(spec.name)
        if current is None:
            slot[spec.name] = (spec, info.name)
            return
        other_spec, other_plugin = current
        other = self.plugins[other_plugin]
        if spec.priority == other_spec.priority:
            raise PluginError(
                f"{spec.category} {spec.name!r} is provided twice: by plugin {other.name!r} "
                f"(distribution {other.distribution} {other.version}) and by plugin {info.name!r} "
                f"(distribution {info.distribution} {info.version}); uninstall or disable one "
                "(--disable-plugin NAME), or give one a higher priority"
            )
        winner, loser = (info, other) if spec.priority > other_spec.priority else (other, info)
        if winner is info:
            slot[spec.name] = (spec, info.name)
        log.info(
            "%s %r: plugin %r (%s) wins over %r (%s) by priority",
            spec.category, spec.name, winner.name, winner.distribution, loser.name, loser.distribution,
        )

    def check_routes(self) -> None:
        """Two routers declaring the same ``METHOD /path`` is an error naming both plugins.

        Checked on the declared ``RouterSpec.routes``, so a clash is caught at start-up without importing
        FastAPI; routers that lost a name clash by priority are not served and so are not checked.
        """
        claimed: dict[tuple[str, str], tuple[str, str]] = {}
        for router_name, (spec, plugin_name) in self._index["api_router"].items():
            for route in spec.routes:
                method, _, path = route.partition(" ")
                key = (method.upper(), path.strip().rstrip("/") or "/")
                if key in claimed:
                    other_router, other_plugin = claimed[key]
                    other, this = self.plugins[other_plugin], self.plugins[plugin_name]
                    raise PluginError(
                        f"route {key[0]} {key[1]} is claimed twice: by router {other_router!r} of plugin "
                        f"{other.name!r} ({other.distribution} {other.version}) and by router "
                        f"{router_name!r} of plugin {this.name!r} ({this.distribution} {this.version}); "
                        "disable one (--disable-plugin NAME)"
                    )
                claimed[key] = (router_name, plugin_name)

    def _fail(self, info: PluginInfo, exc: BaseException, *, strict: bool) -> None:
        info.status = FAILED
        info.reason = f"{type(exc).__name__}: {exc}".strip()
        info.specs = []
        self.plugins[info.name] = info
        message = (
            f"plugin {info.name!r} from {info.distribution or 'unknown distribution'} {info.version} "
            f"failed to load: {info.reason}"
        )
        if strict or info.essential:
            why = "it is essential" if info.essential else "INFERLOAD_STRICT_PLUGINS is set"
            raise PluginError(f"{message} ({why}; fix or uninstall that distribution)") from exc
        log.warning("%s (skipped; --disable-plugin %s silences this)", message, info.name)


def load_plugins(rules: LoadRules | None = None, entry_points: Iterable[Any] | None = None) -> PluginRegistry:
    """Discover every ``inferload.plugins`` entry point and load those the rules allow."""
    rules = rules or LoadRules.from_env()
    if entry_points is None:
        entry_points = with_catalogues(
            list(importlib_metadata.entry_points(group=ENTRY_POINT_GROUP)),
            list(importlib_metadata.entry_points(group=CATALOGUE_GROUP)),
        )
    registry = PluginRegistry(strict=rules.strict)
    if _truthy(os.environ.get(TRACE_ENV, "")):
        install_tracing(registry.pm)
    seen: dict[str, Any] = {}
    for ep in entry_points:
        dist_name, dist_version = _dist_of(ep)
        if ep.name in seen:
            first = seen[ep.name]
            if _dist_of(first)[0] == dist_name:
                continue  # the same distribution found twice on sys.path
            raise PluginError(
                f"plugin name {ep.name!r} is declared by two distributions: {_dist_of(first)[0]} "
                f"{_dist_of(first)[1]} and {dist_name} {dist_version}; uninstall one"
            )
        seen[ep.name] = ep
        extras = list(getattr(ep, "extras", None) or [])
        essential = "essential" in extras
        default_for = frozenset(
            x.removeprefix(DEFAULT_EXTRA_PREFIX) for x in extras if x.startswith(DEFAULT_EXTRA_PREFIX)
        )
        if not rules.allows(ep.name):
            if not essential:
                registry.plugins[ep.name] = PluginInfo(ep.name, ep.module, dist_name, dist_version, DISABLED,
                                                       reason="disabled by user", default_for=default_for)
                continue
            if ep.name in rules.disabled:
                log.warning("plugin %r is essential and cannot be disabled; loading it anyway", ep.name)
        try:
            plugin = ep.load()
        except Exception as exc:  # noqa: BLE001 - isolated and reported
            info = PluginInfo(ep.name, ep.module, dist_name, dist_version, ENABLED, essential=essential,
                              default_for=default_for)
            registry._fail(info, exc, strict=rules.strict)
            continue
        registry.add(plugin, ep.name, module=ep.module, distribution=dist_name, version=dist_version,
                     essential=essential, strict=rules.strict, default_for=default_for)
    registry.check_routes()
    unknown = (rules.disabled | rules.requested) - set(seen)
    if unknown:
        log.warning("no installed plugin is named %s (see `inferload plugins`)", ", ".join(sorted(unknown)))
    return registry


@dataclass(frozen=True)
class CataloguedEntryPoint:
    """A plugin listed by a distribution's in-process catalogue, shaped like an installed entry point."""

    point: importlib_metadata.EntryPoint
    dist: Any

    @property
    def name(self) -> str:
        return self.point.name

    @property
    def module(self) -> str:
        return self.point.module

    @property
    def extras(self) -> list[str]:
        return list(self.point.extras)

    def load(self) -> Any:
        return self.point.load()


def with_catalogues(entry_points: list[Any], catalogues: Iterable[Any]) -> list[Any]:
    """``entry_points`` with each catalogue's distribution listing what its catalogue says now, in place of
    its installed entry points (which may predate an edit of the catalogue). A catalogue that cannot be read
    leaves that distribution's entry points as installed, with a warning."""
    result = list(entry_points)
    for catalogue in catalogues:
        dist = getattr(catalogue, "dist", None)
        dist_name, dist_version = _dist_of(catalogue)
        try:
            listing: Callable[[], Mapping[str, str] | None] = catalogue.load()
            current = listing()
            if current is None:
                continue  # the installed entry points are up to date
            fresh = [
                CataloguedEntryPoint(importlib_metadata.EntryPoint(name, value, ENTRY_POINT_GROUP), dist)
                for name, value in current.items()
            ]
        except Exception as exc:  # noqa: BLE001 - fall back to the installed entry points, reported
            log.warning("the plugin catalogue of %s %s cannot be read (%s: %s); using its installed entry "
                        "points", dist_name, dist_version, type(exc).__name__, exc)
            continue
        positions = [i for i, ep in enumerate(result) if _dist_of(ep)[0] == dist_name]
        at = positions[0] if positions else len(result)
        stale = {result[i].name for i in positions} - {ep.name for ep in fresh}
        if stale:
            log.debug("%s: installed entry points %s are not in its catalogue; ignored", dist_name,
                      sorted(stale))
        result = [ep for ep in result[:at] if _dist_of(ep)[0] != dist_name] + fresh + [
            ep for ep in result[at:] if _dist_of(ep)[0] != dist_name
        ]
    return result


def _dist_of(ep: Any) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "unknown", ""
    return dist.name, dist.version


def _split_names(values: Iterable[str], env_value: str) -> list[str]:
    names = [part.strip() for value in [*values, env_value] for part in value.split(",")]
    return [name for name in names if name]


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")
