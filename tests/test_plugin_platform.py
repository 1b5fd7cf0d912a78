"""The plugin loader as users and plugin authors meet it: failures, strict mode, disabling, conflicts.

Plugins here are real installed distributions (``plugin_site`` writes ``*.dist-info`` directories) found
by real entry-point discovery, either by the ``inferload`` console script (``run_cli``) or in-process by
``load_plugins(rules, entry_points=...)`` where a test must look inside ``sys.modules`` or the registry.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from typing import Any

import pytest

from inferload import hookimpl
from inferload.errors import PluginError, UsageError
from inferload.registry import DISABLED, ENABLED, FAILED, LoadRules, PluginRegistry, load_plugins
from inferload.types import CommandSpec, ExporterSpec, RouterSpec

LENIENT = {"INFERLOAD_STRICT_PLUGINS": "0"}
STRICT = {"INFERLOAD_STRICT_PLUGINS": "1"}

BROKEN_MODULE = 'raise RuntimeError("boom: the vendor SDK is not installed")\n'


def exporter_module(name: str, priority: int = 0) -> str:
    return (
        "from inferload import hookimpl\n"
        "from inferload.types import ExporterSpec\n\n"
        "@hookimpl\n"
        "def register_exporters():\n"
        f"    return [ExporterSpec(name={name!r}, description='test exporter', priority={priority},\n"
        "                         export=lambda context: [])]\n"
    )


# Writes a marker file beside itself when imported, so a subprocess test can prove it never was.
MARKED_MODULE = """\
from pathlib import Path

Path(__file__).with_suffix(".imported").touch()

from inferload import hookimpl
from inferload.types import CommandSpec, ExporterSpec


@hookimpl
def register_exporters():
    return [ExporterSpec(name="marked", description="marked exporter", export=lambda context: [])]


@hookimpl
def register_commands():
    return [CommandSpec(name="marked", description="marked command", add_arguments=lambda parser: None,
                        run=lambda args, registry: print("marked ran") or 0)]
"""


def plugin_rows(done: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    assert done.returncode == 0, done.stderr
    return {row["name"]: row for row in json.loads(done.stdout)}


def stderr_lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.strip()]


# -- a plugin that fails to load --------------------------------------------------------------------------


@pytest.fixture
def broken_site(plugin_site: Any) -> Any:
    plugin_site.add_distribution(
        "inferload-broken",
        {"broken": "inferload_broken"},
        {"inferload_broken": BROKEN_MODULE},
        version="0.3.1",
    )
    return plugin_site


def test_broken_plugin_is_listed_as_failed_and_the_cli_still_works(run_cli: Any, broken_site: Any) -> None:
    table = run_cli("plugins", pythonpath=[broken_site.path], env=LENIENT)
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if line.startswith("broken "))
    assert "inferload-broken 0.3.1" in row
    assert "failed: RuntimeError: boom: the vendor SDK is not installed" in row
    warnings = [line for line in stderr_lines(table) if "broken" in line]
    assert len(warnings) == 1, table.stderr
    assert "'broken'" in warnings[0] and "inferload-broken 0.3.1" in warnings[0] and "boom" in warnings[0]
    assert "Traceback" not in table.stderr

    rows = plugin_rows(run_cli("plugins", "--json", pythonpath=[broken_site.path], env=LENIENT))
    assert rows["broken"]["status"] == FAILED
    assert rows["broken"]["distribution"] == "inferload-broken"
    assert rows["broken"]["version"] == "0.3.1"
    assert "boom" in rows["broken"]["reason"]
    assert rows["plugins"]["status"] == ENABLED


@pytest.mark.parametrize("args", [("plugins",), ("--help",)])
def test_broken_plugin_in_strict_mode_exits_2_naming_it(
    run_cli: Any, broken_site: Any, args: tuple[str]
) -> None:
    done = run_cli(*args, pythonpath=[broken_site.path], env=STRICT)
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = stderr_lines(done)
    assert "plugin 'broken' from inferload-broken 0.3.1 failed to load" in line
    assert "boom" in line and "INFERLOAD_STRICT_PLUGINS" in line


def test_strict_failure_with_verbose_shows_the_traceback(run_cli: Any, broken_site: Any) -> None:
    done = run_cli("--verbose", "plugins", pythonpath=[broken_site.path], env=STRICT)
    assert done.returncode == 2
    assert "Traceback" in done.stderr and "inferload_broken" in done.stderr


def test_essential_plugin_that_fails_exits_2_even_when_not_strict(run_cli: Any, plugin_site: Any) -> None:
    plugin_site.add_distribution(
        "inferload-vital", {"vital": "inferload_vital [essential]"}, {"inferload_vital": BROKEN_MODULE}
    )
    done = run_cli("plugins", pythonpath=[plugin_site.path], env=LENIENT)
    assert done.returncode == 2
    assert "plugin 'vital' from inferload-vital 1.0 failed to load" in done.stderr
    assert "it is essential" in done.stderr


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        pytest.param(
            "from inferload import hookimpl\n\n@hookimpl\ndef register_exporter():\n    return []\n",
            "register_exporter",
            id="misspelled-hook",
        ),
        pytest.param(
            "from inferload import hookimpl\nfrom inferload.types import CommandSpec\n\n"
            "@hookimpl\ndef register_exporters():\n"
            "    return [CommandSpec(name='x', description='x', add_arguments=print, run=print)]\n",
            "returned CommandSpec; expected ExporterSpec",
            id="wrong-spec-type",
        ),
        pytest.param(
            "from inferload import hookimpl\nfrom inferload.types import ExporterSpec\n\n"
            "@hookimpl\ndef register_exporters():\n"
            "    return [ExporterSpec(name='Bad Name', description='x', export=print)]\n",
            "name 'Bad Name' is invalid",
            id="invalid-name",
        ),
    ],
)
def test_plugin_that_registers_wrongly_is_failed_with_the_reason(
    plugin_site: Any, caplog: pytest.LogCaptureFixture, source: str, reason: str
) -> None:
    plugin_site.add_distribution("inferload-wrong", {"wrong": "inferload_wrong"}, {"inferload_wrong": source})
    with caplog.at_level(logging.WARNING, logger="inferload"):
        registry = load_plugins(LoadRules(), entry_points=plugin_site.entry_points())
    info = registry.plugins["wrong"]
    assert info.status == FAILED
    assert reason in info.reason
    assert info.specs == []
    assert registry.pm.get_plugin("wrong") is None
    assert any(
        "'wrong'" in r.getMessage() and "inferload-wrong 1.0" in r.getMessage() for r in caplog.records
    )


# -- disabling ------------------------------------------------------------------------------------------


@pytest.fixture
def marked_site(plugin_site: Any) -> Any:
    plugin_site.add_distribution(
        "inferload-marked", {"marked": "inferload_marked"}, {"inferload_marked": MARKED_MODULE}
    )
    return plugin_site


def test_disabled_plugin_is_never_imported(marked_site: Any) -> None:
    eps = marked_site.entry_points()
    registry = load_plugins(LoadRules(disabled=frozenset({"marked"})), entry_points=eps)
    assert "inferload_marked" not in sys.modules
    assert registry.plugins["marked"].status == DISABLED
    assert registry.all("exporter") == {}
    assert not (marked_site.path / "inferload_marked.imported").exists()

    # The control: the same entry points, not disabled, are imported and registered.
    registry = load_plugins(LoadRules(), entry_points=eps)
    assert "inferload_marked" in sys.modules
    assert registry.plugins["marked"].status == ENABLED
    assert list(registry.all("exporter")) == ["marked"]


@pytest.mark.parametrize(
    ("args", "env"),
    [
        pytest.param(("--disable-plugin", "marked"), {}, id="flag"),
        pytest.param(("--disable-plugin=marked",), {}, id="flag-equals"),
        pytest.param((), {"INFERLOAD_DISABLE_PLUGINS": "nothing-such, marked"}, id="env"),
    ],
)
def test_disabling_removes_exactly_what_the_plugin_provides(
    run_cli: Any, marked_site: Any, args: tuple[str, ...], env: dict[str, str]
) -> None:
    marker = marked_site.path / "inferload_marked.imported"
    before = plugin_rows(run_cli("plugins", "--json", pythonpath=[marked_site.path]))
    assert marker.exists()
    assert before["marked"]["status"] == ENABLED
    assert before["marked"]["category"] == "command,exporter"
    assert sorted(before["marked"]["provides"]) == ["marked", "marked"]
    assert run_cli("marked", pythonpath=[marked_site.path]).stdout == "marked ran\n"
    marker.unlink()

    after = plugin_rows(run_cli(*args, "plugins", "--json", pythonpath=[marked_site.path], env=env))
    assert not marker.exists(), "a disabled plugin was imported"
    assert after["marked"]["status"] == DISABLED
    assert after["marked"]["provides"] == []
    assert {k: v for k, v in after.items() if k != "marked"} == {
        k: v for k, v in before.items() if k != "marked"
    }

    gone = run_cli(*args, "marked", pythonpath=[marked_site.path], env=env)
    assert gone.returncode == 2
    assert "invalid choice: 'marked'" in gone.stderr
    assert not marker.exists()


def test_essential_plugin_cannot_be_disabled(run_cli: Any) -> None:
    done = run_cli("--disable-plugin", "plugins", "plugins", "--json")
    rows = plugin_rows(done)
    assert rows["plugins"]["status"] == ENABLED
    assert "'plugins' is essential and cannot be disabled" in done.stderr


def test_unknown_plugin_name_in_controls_is_warned_about(run_cli: Any) -> None:
    done = run_cli("--disable-plugin", "no-such-plugin", "plugins")
    assert done.returncode == 0
    assert "no installed plugin is named no-such-plugin" in done.stderr


def test_load_rules_combine_flags_and_environment() -> None:
    rules = LoadRules.from_env(
        disabled=["a,b"],
        requested=["c"],
        environ={
            "INFERLOAD_DISABLE_PLUGINS": " d , ,e",
            "INFERLOAD_PLUGINS": "f",
            "INFERLOAD_DISABLE_PLUGIN_AUTOLOAD": "yes",
            "INFERLOAD_STRICT_PLUGINS": "true",
        },
    )
    assert rules == LoadRules(frozenset("abde"), frozenset("cf"), autoload=False, strict=True)
    assert not rules.allows("a") and rules.allows("c") and not rules.allows("z")
    assert LoadRules.from_env(environ={}) == LoadRules()
    assert LoadRules().allows("anything")


# -- autoload off ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env"),
    [
        pytest.param(("-p", "hello"), {}, id="flag"),
        pytest.param(("--plugin", "hello"), {}, id="long-flag"),
        pytest.param((), {"INFERLOAD_PLUGINS": "hello"}, id="env"),
    ],
)
def test_autoload_off_loads_only_essential_and_requested_plugins(
    run_cli: Any, thirdparty_plugin: Any, args: tuple[str, ...], env: dict[str, str]
) -> None:
    off = {"INFERLOAD_DISABLE_PLUGIN_AUTOLOAD": "1"}
    rows = plugin_rows(run_cli("plugins", "--json", pythonpath=[thirdparty_plugin.site], env=off))
    assert rows["hello"]["status"] == DISABLED
    for row in rows.values():
        assert row["status"] == (ENABLED if row["essential"] else DISABLED), row
    assert run_cli("hello", pythonpath=[thirdparty_plugin.site], env=off).returncode == 2

    rows = plugin_rows(
        run_cli(*args, "plugins", "--json", pythonpath=[thirdparty_plugin.site], env={**off, **env})
    )
    assert rows["hello"]["status"] == ENABLED
    assert {name for name, row in rows.items() if row["status"] == ENABLED} == {
        "hello",
        *(name for name, row in rows.items() if row["essential"]),
    }
    done = run_cli(*args, "hello", pythonpath=[thirdparty_plugin.site], env={**off, **env})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("hello, world\n")


# -- conflicts ------------------------------------------------------------------------------------------


def test_two_plugins_providing_one_name_is_an_error_naming_both_distributions(
    run_cli: Any, plugin_site: Any
) -> None:
    plugin_site.add_distribution(
        "inferload-dup-a", {"dup-a": "dup_a"}, {"dup_a": exporter_module("dup")}, "1.1"
    )
    plugin_site.add_distribution(
        "inferload-dup-b", {"dup-b": "dup_b"}, {"dup_b": exporter_module("dup")}, "2.2"
    )
    done = run_cli("plugins", pythonpath=[plugin_site.path])
    assert done.returncode == 2
    (line,) = stderr_lines(done)
    assert "exporter 'dup' is provided twice" in line
    assert "inferload-dup-a 1.1" in line and "inferload-dup-b 2.2" in line


@pytest.mark.parametrize("order", ["winner-first", "winner-last"])
def test_higher_priority_wins_the_name_and_is_logged(
    plugin_site: Any, caplog: pytest.LogCaptureFixture, order: str
) -> None:
    plugin_site.add_distribution("inferload-dup-a", {"dup-a": "dup_a"}, {"dup_a": exporter_module("dup")})
    plugin_site.add_distribution("inferload-dup-b", {"dup-b": "dup_b"}, {"dup_b": exporter_module("dup", 10)})
    eps = plugin_site.entry_points()
    if order == "winner-first":
        eps.reverse()
    with caplog.at_level(logging.INFO, logger="inferload"):
        registry = load_plugins(LoadRules(strict=True), entry_points=eps)
    assert registry.provider("exporter", "dup") == "dup-b"
    assert registry.get("exporter", "dup").priority == 10
    (message,) = [r.getMessage() for r in caplog.records if "wins over" in r.getMessage()]
    assert "'dup-b' (inferload-dup-b) wins over 'dup-a' (inferload-dup-a)" in message


def test_priority_winner_is_logged_by_the_cli(run_cli: Any, plugin_site: Any) -> None:
    plugin_site.add_distribution("inferload-dup-a", {"dup-a": "dup_a"}, {"dup_a": exporter_module("dup")})
    plugin_site.add_distribution("inferload-dup-b", {"dup-b": "dup_b"}, {"dup_b": exporter_module("dup", 10)})
    done = run_cli("plugins", pythonpath=[plugin_site.path])
    assert done.returncode == 0, done.stderr
    assert (
        "exporter 'dup': plugin 'dup-b' (inferload-dup-b) wins over 'dup-a' (inferload-dup-a)" in done.stderr
    )


def test_one_plugin_name_from_two_distributions_is_an_error(plugin_site: Any) -> None:
    plugin_site.add_distribution("inferload-one", {"same": "same_one"}, {"same_one": exporter_module("one")})
    plugin_site.add_distribution("inferload-two", {"same": "same_two"}, {"same_two": exporter_module("two")})
    with pytest.raises(PluginError, match=r"'same' is declared by two distributions: inferload-\w+ 1.0 and"):
        load_plugins(LoadRules(), entry_points=plugin_site.entry_points())


def test_two_routers_claiming_one_route_is_an_error_naming_both_plugins() -> None:
    def router_plugin(name: str) -> object:
        class Plugin:
            @hookimpl
            def register_api_routers(self) -> list[RouterSpec]:
                return [RouterSpec(name=name, description="d", routes=("GET /api/same",), factory=print)]

        return Plugin()

    registry = PluginRegistry()
    registry.add(router_plugin("first"), "plugin-one", distribution="dist-one", version="1")
    registry.add(router_plugin("second"), "plugin-two", distribution="dist-two", version="2")
    with pytest.raises(PluginError) as caught:
        registry.check_routes()
    message = str(caught.value)
    assert "GET /api/same is claimed twice" in message
    assert "'plugin-one' (dist-one 1)" in message and "'plugin-two' (dist-two 2)" in message


def test_router_routes_must_be_method_and_path() -> None:
    with pytest.raises(ValueError, match="'METHOD /path'"):
        RouterSpec(name="r", description="d", routes="GET /api/x", factory=print)
    with pytest.raises(ValueError, match="'METHOD /path'"):
        RouterSpec(name="r", description="d", routes=("/api/x",), factory=print)


# -- registration rollback and throwaway plugins ---------------------------------------------------------


class HalfBrokenPlugin:
    """Registers an exporter fine, then fails in another registration hook."""

    def __init__(self) -> None:
        self.seen: list[object] = []

    @hookimpl
    def register_exporters(self) -> list[ExporterSpec]:
        return [ExporterSpec(name="half", description="d", export=lambda context: [])]

    @hookimpl
    def register_commands(self) -> list[CommandSpec]:
        raise RuntimeError("cannot build my command")

    @hookimpl
    def run_started(self, state: object) -> None:
        self.seen.append(state)


def test_failed_registration_is_rolled_back(caplog: pytest.LogCaptureFixture) -> None:
    registry = PluginRegistry()
    plugin = HalfBrokenPlugin()
    with caplog.at_level(logging.WARNING, logger="inferload"):
        info = registry.add(plugin, "half", distribution="inferload-half", version="0.1")
    assert info.status == FAILED
    assert info.reason == "RuntimeError: cannot build my command"
    assert registry.plugins["half"] is info
    assert registry.pm.get_plugin("half") is None
    assert registry.all("exporter") == {} and registry.all("command") == {}
    registry.hooks.run_started(state="a run")
    assert plugin.seen == [], "a rolled-back plugin still received lifecycle events"
    (record,) = caplog.records
    assert "plugin 'half' from inferload-half 0.1 failed to load" in record.getMessage()


def test_failed_registration_in_strict_mode_raises_and_is_still_rolled_back() -> None:
    registry = PluginRegistry()
    with pytest.raises(PluginError, match=r"'half' from inferload-half 0\.1 failed to load"):
        registry.add(HalfBrokenPlugin(), "half", distribution="inferload-half", version="0.1", strict=True)
    assert registry.pm.get_plugin("half") is None
    assert registry.all("exporter") == {}


def test_a_throwaway_plugin_object_registers_and_observes_lifecycle_events() -> None:
    """The pattern docs/plugins.md recommends for testing a plugin: registry.add with a plain object."""
    seen: list[tuple[str, str]] = []

    class Throwaway:
        @hookimpl
        def register_exporters(self) -> list[ExporterSpec]:
            return [ExporterSpec(name="throwaway", description="d", export=lambda context: [])]

        @hookimpl
        def phase_changed(self, phase: str) -> None:  # accepts fewer arguments than the spec
            seen.append(("phase", phase))

    registry = load_plugins(LoadRules(autoload=False))
    registry.add(Throwaway(), "throwaway")
    assert registry.provider("exporter", "throwaway") == "throwaway"
    assert registry.plugins["throwaway"].provides == ["throwaway"]
    registry.hooks.phase_changed(state=None, phase="profiling")
    assert seen == [("phase", "profiling")]


def test_adding_a_plugin_name_twice_is_an_error() -> None:
    registry = PluginRegistry()
    registry.add(HalfBrokenPlugin(), "twice", module="first_module")
    with pytest.raises(PluginError, match="'twice' is used twice: by first_module"):
        registry.add(object(), "twice", module="second_module")
    assert registry.plugins["twice"].module == "first_module"


def test_unknown_name_lists_the_choices() -> None:
    registry = PluginRegistry()
    registry.add(HalfBrokenPlugin(), "x")
    with pytest.raises(UsageError, match=r"unknown exporter 'nope'; available: none installed"):
        registry.get("exporter", "nope")


# -- in-process catalogues: no stale install ------------------------------------------------------------


def catalogued_site(plugin_site: Any, catalogue_source: str) -> Any:
    """A distribution whose installed entry points predate its catalogue: ``old-exporter`` points at a
    module that no longer exists, ``new-exporter`` was added to the catalogue after the install."""
    plugin_site.add_distribution(
        "inferload-catalogued",
        {"old-exporter": "catalogued_pkg.removed", "kept": "catalogued_pkg.kept"},
        {
            "catalogued_pkg.catalogue": catalogue_source,
            "catalogued_pkg.kept": exporter_module("kept"),
            "catalogued_pkg.fresh": exporter_module("fresh"),
        },
        version="4.2",
        other_groups={"inferload.catalogues": {"catalogued": "catalogued_pkg.catalogue:entry_points"}},
    )
    return plugin_site


def test_a_catalogue_edited_since_the_install_is_loaded_as_it_is_now(run_cli: Any, plugin_site: Any) -> None:
    site = catalogued_site(plugin_site, "def entry_points():\n"
                                        "    return {'kept': 'catalogued_pkg.kept',\n"
                                        "            'new-exporter': 'catalogued_pkg.fresh'}\n")
    done = run_cli("plugins", "--json", env={**LENIENT, **site.env})
    rows = plugin_rows(done)
    assert rows["new-exporter"]["status"] == ENABLED
    assert rows["new-exporter"]["distribution"] == "inferload-catalogued"
    assert rows["new-exporter"]["version"] == "4.2"
    assert rows["kept"]["status"] == ENABLED
    assert "old-exporter" not in rows  # its stale entry point is not even tried
    assert stderr_lines(done) == []
    # the built-ins load from inferload's own catalogue the same way
    assert rows["command-profile"]["distribution"] == "inferload"


def test_an_unreadable_catalogue_falls_back_to_the_installed_entry_points(
    run_cli: Any, plugin_site: Any
) -> None:
    site = catalogued_site(plugin_site, "def entry_points():\n    raise OSError('catalogue file missing')\n")
    done = run_cli("plugins", "--json", env={**LENIENT, **site.env})
    rows = plugin_rows(done)
    assert rows["kept"]["status"] == ENABLED
    assert rows["old-exporter"]["status"] == FAILED
    assert "new-exporter" not in rows
    assert any("plugin catalogue of inferload-catalogued 4.2 cannot be read (OSError: catalogue file missing)"
               in line for line in stderr_lines(done))


def test_the_entry_point_path_alone_loads_every_built_in() -> None:
    """Without the in-process catalogue (an installed wheel's entry points only), nothing is missing."""
    import importlib_metadata

    from inferload import ENTRY_POINT_GROUP

    via_catalogue = load_plugins(LoadRules())
    installed = importlib_metadata.entry_points(group=ENTRY_POINT_GROUP)
    via_entry_points = load_plugins(LoadRules(), entry_points=installed)
    built_in = {n for n, info in via_catalogue.plugins.items() if info.distribution == "inferload"}
    assert built_in == {n for n, info in via_entry_points.plugins.items() if info.distribution == "inferload"}
    assert all(via_entry_points.plugins[n].status == ENABLED for n in built_in)
