"""Contracts that keep the plugin platform honest as plugins are added.

- plugins.yaml == the ``inferload.plugins`` entry points installed for the ``inferload`` distribution ==
  what each of those plugins actually registers (data-driven: a new catalogue entry is checked as is).
- Each category a run picks one of has exactly one catalogued default, and the installed registry agrees.
- The core (``inferload``) never imports ``inferload_plugins`` or ``inferload_contrib``, and names no plugin.
- No built-in plugin imports contrib or another plugin's module; code crosses from one family's package to
  another's only into ``inferload_plugins.shared`` (a command may use the helper package it owns).
- Hook specs, categories and spec types agree with each other.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import importlib_metadata
import pytest

from inferload import ENTRY_POINT_GROUP, hookspecs
from inferload.plugin_options import option_spellings
from inferload.registry import ENABLED, LoadRules, PluginRegistry, load_plugins
from inferload.runstate import RunInfo, RunState
from inferload.types import SPEC_TYPES

REPO_ROOT = Path(__file__).resolve().parent.parent
CORE = REPO_ROOT / "core" / "inferload"
FIRST_PARTY_ROOTS = {"inferload_plugins": REPO_ROOT / "plugins", "inferload_contrib": REPO_ROOT / "contrib"}
FORBIDDEN_IN_CORE = frozenset(FIRST_PARTY_ROOTS)
STALE_HINT = (
    "entry points are generated from plugins.yaml when inferload is built or installed; "
    "after editing plugins.yaml re-run `pip install -e .`"
)


def load_build_hook() -> ModuleType:
    """hatch_build.py as the build runs it, so the test validates the catalogue exactly as the build does."""
    spec = importlib.util.spec_from_file_location("inferload_hatch_build", REPO_ROOT / "hatch_build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CATALOGUE: list[dict[str, Any]] = load_build_hook().read_catalogue(REPO_ROOT)


def entry_id(entry: dict[str, Any]) -> str:
    return str(entry["name"])


def categories(entry: dict[str, Any]) -> list[str]:
    category = entry["category"]
    return list(category) if isinstance(category, list) else [category]


@pytest.fixture(scope="module")
def registry() -> PluginRegistry:
    """Every installed plugin, loaded in-process as the CLI loads them (failures recorded, not raised)."""
    return load_plugins(LoadRules())


# -- plugins.yaml == installed entry points == registrations ---------------------------------------------


@pytest.mark.parametrize("entry", CATALOGUE, ids=entry_id)
def test_catalogue_entry_is_well_formed(entry: dict[str, Any]) -> None:
    unknown = set(categories(entry)) - set(hookspecs.REGISTRATION_HOOKS)
    assert not unknown, f"{entry['name']}: unknown {unknown}; one of {sorted(hookspecs.REGISTRATION_HOOKS)}"
    assert entry["module"].split(".")[0] in FIRST_PARTY_ROOTS
    description = entry["description"]
    assert isinstance(description, str) and description.strip() and "\n" not in description.strip()
    provides = entry["provides"]
    assert isinstance(provides, list) and provides and all(isinstance(p, str) for p in provides)
    if not categories(entry):  # a lifecycle-only plugin names the lifecycle hooks it implements
        assert set(provides) <= set(hookspecs.LIFECYCLE_HOOKS), f"{entry['name']}: {provides}"
    assert isinstance(entry.get("essential", False), bool)
    assert isinstance(entry.get("default", False), bool)
    if entry.get("default"):
        assert set(categories(entry)) & set(hookspecs.CHOSEN_CATEGORIES), (
            f"{entry['name']} is marked default but none of its categories has a default"
        )


def test_installed_entry_points_equal_the_catalogue() -> None:
    dist = importlib_metadata.distribution("inferload")
    installed = {
        ep.name: (ep.module, "essential" in ep.extras, sorted(x for x in ep.extras if "default_" in x))
        for ep in dist.entry_points.select(group=ENTRY_POINT_GROUP)
    }
    catalogued = {
        e["name"]: (e["module"], bool(e.get("essential", False)),
                    sorted(f"default_{c}" for c in categories(e) if c != "options") if e.get("default")
                    else [])
        for e in CATALOGUE
    }
    assert installed == catalogued, STALE_HINT


@pytest.mark.parametrize("category", sorted(hookspecs.CHOSEN_CATEGORIES))
def test_each_chosen_category_has_one_catalogued_default_and_the_registry_serves_it(
    registry: PluginRegistry, category: str
) -> None:
    defaults = [e for e in CATALOGUE if e.get("default") and category in categories(e)]
    assert len(defaults) == 1, f"{category}: exactly one plugin needs `default: true`, found {defaults}"
    (entry,) = defaults
    spec = registry.default(category, choose="--flag")
    assert spec.category == category
    assert registry.provider(category, spec.name) == entry["name"]
    assert spec.name in entry["provides"]


@pytest.mark.parametrize("entry", CATALOGUE, ids=entry_id)
def test_catalogued_plugin_registers_exactly_what_the_catalogue_says(
    registry: PluginRegistry, entry: dict[str, Any]
) -> None:
    info = registry.plugins.get(entry["name"])
    assert info is not None, f"plugin {entry['name']!r} is not installed; {STALE_HINT}"
    assert info.status == ENABLED, f"{entry['name']}: {info.status}: {info.reason}"
    assert info.distribution == "inferload"
    assert info.module == entry["module"]
    assert info.categories == sorted(categories(entry))
    module = sys.modules[entry["module"]]
    if categories(entry):
        assert sorted(spec.name for spec in info.specs) == sorted(entry["provides"])
        # every spelling of its options (flags, aliases, --no- forms), each of which names the plugin when
        # it is disabled and one is used
        assert sorted(flag for spec in info.specs if spec.category == "options"
                      for flag in option_spellings(spec.model)) == sorted(entry.get("options", []))
    else:
        assert not info.specs
        assert sorted(h for h in hookspecs.LIFECYCLE_HOOKS if hasattr(module, h)) == sorted(entry["provides"])
    assert (module.__doc__ or "").strip(), f"{entry['module']} needs a module docstring saying what it holds"


def plugin_modules_with_hookimpls() -> list[str]:
    """Every first-party module that implements a hook, found from the source files."""
    found = []
    for package, root in FIRST_PARTY_ROOTS.items():
        for path in sorted((root / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            if any(
                isinstance(node, ast.FunctionDef)
                and any(ast.unparse(d).split(".")[-1] == "hookimpl" for d in node.decorator_list)
                for node in ast.walk(tree)
            ):
                found.append(".".join(path.relative_to(root).with_suffix("").parts))
    return found


def test_every_first_party_module_with_hooks_is_catalogued() -> None:
    modules = plugin_modules_with_hookimpls()
    assert "inferload_plugins.commands.plugins" in modules  # the scan itself works
    uncatalogued = sorted(set(modules) - {e["module"] for e in CATALOGUE})
    assert not uncatalogued, f"add these to plugins.yaml (or they never load): {uncatalogued}"


def test_declared_routes_are_the_routes_each_router_serves(registry: PluginRegistry, tmp_path: Path) -> None:
    """RouterSpec.routes is what `inferload plugins` shows and what clash detection uses: it must be true."""
    state = RunState(
        run_info=RunInfo(benchmark_id="contract", cli_command="inferload profile"),
        config=None,
        artifact_dir=tmp_path,
    )
    for name, spec in registry.all("api_router").items():
        router = spec.factory(state)
        served = {
            f"{method} {route.path}"
            for route in router.routes
            for method in sorted(getattr(route, "methods", None) or ())
            if method != "HEAD"
        }
        # all or nothing: a router the run does not enable (the control routes without --api-token)
        # mounts none of its routes, never a part of them
        assert served in (set(spec.routes), set()), (
            f"router {name!r} declares {sorted(spec.routes)}, serves {sorted(served)}"
        )


# -- hook specs, categories and spec types agree -----------------------------------------------------------


def declared_hooks() -> set[str]:
    return {name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "inferload_spec")}


def test_every_category_has_one_registration_hook_and_one_spec_type() -> None:
    assert set(hookspecs.REGISTRATION_HOOKS) == {spec.category for spec in SPEC_TYPES}
    assert len(SPEC_TYPES) == len({spec.category for spec in SPEC_TYPES})
    assert set(hookspecs.REGISTRATION_HOOKS.values()) | set(hookspecs.LIFECYCLE_HOOKS) == declared_hooks()
    assert all(hook.startswith("register_") for hook in hookspecs.REGISTRATION_HOOKS.values())


# -- the core never imports first-party plugins --------------------------------------------------------


def imported_roots(path: Path) -> set[str]:
    """Top-level names a module imports, statically or through importlib/__import__ with a literal name."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Call)
            and ast.unparse(node.func).split(".")[-1] in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            roots.add(node.args[0].value.split(".")[0])
    return roots


def test_core_source_never_imports_first_party_plugins() -> None:
    modules = sorted(CORE.rglob("*.py"))
    assert CORE / "registry.py" in modules
    offenders = {
        str(path.relative_to(REPO_ROOT)): sorted(imported_roots(path) & FORBIDDEN_IN_CORE)
        for path in modules
        if imported_roots(path) & FORBIDDEN_IN_CORE
    }
    assert not offenders, f"core must reach plugins only through entry points: {offenders}"


IMPORT_EVERY_CORE_MODULE = """
import json, pkgutil, sys
import inferload
names = sorted(m.name for m in pkgutil.walk_packages(inferload.__path__, "inferload.")
               if m.name != "inferload.__main__")
for name in names:
    __import__(name)
print(json.dumps({"imported": names, "loaded": sorted(sys.modules)}))
"""


def test_importing_every_core_module_loads_no_first_party_plugin() -> None:
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERY_CORE_MODULE],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    expected = {
        ".".join(("inferload", *p.relative_to(CORE).with_suffix("").parts)).removesuffix(".__init__")
        for p in CORE.rglob("*.py")
    } - {"inferload", "inferload.__main__"}
    assert expected <= set(result["imported"])
    leaked = [m for m in result["loaded"] if m.split(".")[0] in FORBIDDEN_IN_CORE]
    assert not leaked, f"importing the core pulled in {leaked}"


def string_constants(path: Path) -> set[str]:
    """Every string literal of a module except docstrings, f-string pieces (messages may name things) and
    documented examples (``json_schema_extra=`` of an API model)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
    }
    in_fstrings = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
    in_fstrings |= {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.keyword) and node.arg == "json_schema_extra"
        for inner in ast.walk(node.value)
    }
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        and id(node) not in docstrings and id(node) not in in_fstrings
    }


def test_core_names_no_plugin_of_a_chosen_category() -> None:
    """Defaults come from the catalogue: a plugin name written into core would survive disabling it."""
    chosen = set(hookspecs.CHOSEN_CATEGORIES)
    names = {e["name"] for e in CATALOGUE if set(categories(e)) & chosen}
    names |= {p for e in CATALOGUE if set(categories(e)) & chosen for p in e["provides"]}
    assert {"chat", "protocol", "builtin", "poisson", "gamma", "file", "synthetic", "local", "hf"} <= names
    offenders = {
        str(path.relative_to(REPO_ROOT)): sorted(string_constants(path) & names)
        for path in sorted(CORE.rglob("*.py"))
        if string_constants(path) & names
    }
    assert not offenders, f"core names plugins; take them from the catalogue's defaults: {offenders}"


def first_party_imports(path: Path, package: str, root: Path) -> set[str]:
    """Dotted first-party modules a file imports (relative imports resolved)."""
    module = ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
    here = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] in FIRST_PARTY_ROOTS)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = here.split(".")[: len(here.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            if base.split(".")[0] in FIRST_PARTY_ROOTS:
                found.add(base)
                found.update(f"{base}.{a.name}" for a in node.names)
    return found


def test_no_builtin_plugin_imports_contrib_or_another_plugins_module() -> None:
    """Plugins share code only through the core's public API: importing another plugin's module makes
    disabling that plugin a lie (and a contrib import makes the built-ins depend on optional code)."""
    plugin_modules = {e["module"] for e in CATALOGUE}
    root = FIRST_PARTY_ROOTS["inferload_plugins"]
    offenders: dict[str, list[str]] = {}
    for path in sorted((root / "inferload_plugins").rglob("*.py")):
        own = ".".join(path.relative_to(root).with_suffix("").parts)
        imported = first_party_imports(path, "inferload_plugins", root)
        bad = sorted(
            name for name in imported
            if name.startswith("inferload_contrib") or (name in plugin_modules and name != own)
            or (name.rpartition(".")[2].startswith("_") and not name.rpartition(".")[2].startswith("__")
                and name.rsplit(".", 2)[0] != own.rsplit(".", 2)[0])
        )
        if bad:
            offenders[own] = bad
    assert "inferload_plugins.transports._protocol_client" in first_party_imports(
        root / "inferload_plugins" / "transports" / "protocol.py", "inferload_plugins", root
    )  # the scan sees imports inside functions
    assert not offenders, f"plugins import other plugins' modules: {offenders}"


# a command owns the helper package of the same feature (compare → comparison, plot → plotting, profile →
# sweeps, simulate → simulator); every other crossing between packages goes through inferload_plugins.shared
COMMAND_HELPERS = {"comparison", "plotting", "sweeps", "simulator"}


def test_builtin_families_share_code_only_through_the_shared_package() -> None:
    """What two plugin families need is exported for that purpose (``inferload_plugins.shared``), not
    reached for in another family's package, so moving or disabling one family never breaks another."""
    root = FIRST_PARTY_ROOTS["inferload_plugins"]
    package = root / "inferload_plugins"
    offenders: dict[str, list[str]] = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package).parts
        family = parts[0] if len(parts) > 1 else ""
        crossing = sorted(
            name for name in first_party_imports(path, "inferload_plugins", root)
            if name.startswith("inferload_plugins.") and len(name.split(".")) > 2
            and (target := name.split(".")[1]) != family and target != "shared"
            and not (family == "commands" and target in COMMAND_HELPERS)
        )
        if crossing:
            offenders[str(path.relative_to(root))] = crossing
    assert "inferload_plugins.shared.confidence" in first_party_imports(
        package / "comparison" / "verdict.py", "inferload_plugins", root
    )
    assert not offenders, f"modules reach into another family's package; export it in shared/: {offenders}"


def test_builtin_catalogue_is_read_in_process_only_when_newer_than_the_installed_entry_points() -> None:
    import os
    import time

    from inferload_plugins import catalogue

    path = REPO_ROOT / "plugins.yaml"
    assert catalogue.catalogue_path() == path
    installed = importlib_metadata.distribution("inferload").entry_points.select(group=ENTRY_POINT_GROUP)
    expected = {ep.name: ep.value for ep in installed}  # what the build wrote from the same file
    before = path.stat()
    try:
        os.utime(path, (before.st_atime, time.time() + 60))  # edited after the last install
        assert catalogue.entry_points() == expected
        os.utime(path, (before.st_atime, 0))  # older than the install: the entry points say the same
        assert catalogue.entry_points() is None
    finally:
        os.utime(path, (before.st_atime, before.st_mtime))
