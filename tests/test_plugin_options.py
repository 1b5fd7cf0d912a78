"""Options a plugin declares (``register_options``): a third-party-style plugin, installed into a plugin
directory as pip would, declares flags that `inferload profile` offers under the plugin's name, loads with
the core's precedence (CLI > INFERLOAD_ env > -f file > default) and one-line errors, redacts like the core's
secrets, and hands back to the plugin as its own typed model. Real CLI runs against the simulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

from inferload import hookimpl
from inferload.config import ProfileConfig
from inferload.errors import PluginError, UsageError
from inferload.registry import LoadRules, load_plugins
from inferload.types import OptionsSpec

PLUGIN_SOURCE = (Path(__file__).parent / "fixtures" / "greet_options_plugin.py").read_text(encoding="utf-8")
QUICK_RUN = ("profile", "--request-count", "1", "--isl", "8", "--osl", "2", "--ui", "none")


@pytest.fixture
def greet_site(plugin_site: Any) -> Any:
    plugin_site.add_distribution("inferload-greet", {"greet": "inferload_greet"},
                                 {"inferload_greet": PLUGIN_SOURCE})
    return plugin_site


def _run_dir(root: Path) -> Path:
    (export,) = root.rglob("profile_export.json")
    return export.parent


def test_plugin_option_comes_from_cli_then_env_then_file_then_default(
    run_cli: Any, greet_site: Any, tmp_path: Path
) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text("greeting: from-file\ngreeting-repeat: 2\ngreeting_loud: true\nstreaming: true\n")
    env = {**greet_site.env, "INFERLOAD_GREETING": "from-env", "INFERLOAD_GREETING_REPEAT": "3"}
    done = run_cli(*QUICK_RUN, "-f", settings, "--greeting", "from-cli", "--artifact-dir", tmp_path / "a",
                   env=env)
    assert done.returncode == 0, done.stderr
    run = _run_dir(tmp_path / "a")
    # CLI beats env and file; env beats file; the file beats the default; the default fills the rest
    assert json.loads((run / "greeting.json").read_text()) == {
        "words": ["FROM-CLI"] * 3, "loud": True, "hook_url_given": False}
    config = json.loads((run / "profile_export.json").read_text())["input_config"]
    assert (config["greeting"], config["greeting_repeat"], config["greeting_loud"]) == ("from-cli", 3, True)
    assert config["greeting_token_set"] is False and "greeting_token" not in config


def test_plugin_option_errors_are_one_line_naming_where_the_value_came_from(
    run_cli: Any, greet_site: Any, tmp_path: Path
) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text("greeting-repeat: 7\n")
    cases = [
        (["--greeting-repeat", "9"], {}, "inferload: error: invalid --greeting-repeat 9: "),
        ([], {"INFERLOAD_GREETING_REPEAT": "0"}, "inferload: error: invalid INFERLOAD_GREETING_REPEAT '0': "),
        (["-f", str(settings)], {},
         f"inferload: error: invalid greeting-repeat in config file {settings} 7: "),
        (["--greeting-loud"], {}, "inferload: error: --greeting-loud needs --streaming"),
        (["--greeting-token", "S3CR3T"], {}, "inferload: error: invalid --greeting-token: "),  # not echoed
    ]
    for extra, env, expected in cases:
        done = run_cli(*QUICK_RUN, *extra, "--artifact-dir", tmp_path / "never",
                       env={**greet_site.env, **env})
        assert done.returncode == 2, (extra, env, done.stderr)
        (line,) = done.stderr.strip().splitlines()
        assert line.startswith(expected) and "S3CR3T" not in line, (extra, env, line)
    typed = run_cli(*QUICK_RUN, "--greeting-repeat", "x", env=greet_site.env)  # argparse's own type check
    assert typed.returncode == 2 and "--greeting-repeat" in typed.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "never").exists()


def test_unknown_config_file_key_is_still_refused_beside_plugin_options(
    run_cli: Any, greet_site: Any, tmp_path: Path
) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text("greeting: hi\ngreetings: typo\n")
    done = run_cli(*QUICK_RUN, "-f", settings, env=greet_site.env)
    assert done.returncode == 2
    assert done.stderr.strip() == (f"inferload: error: config file {settings}: unknown setting(s) greetings; "
                                   "use the flag names, e.g. request-count or request_count")


def test_profile_help_lists_plugin_options_under_the_plugin(run_cli: Any, greet_site: Any) -> None:
    helped = run_cli("profile", "--help", env=greet_site.env).stdout
    section = helped.split("The greeting exporter (plugin greet):", 1)[1]
    for flag in ("--greeting GREETING", "--greeting-repeat N", "--greeting-loud, --no-greeting-loud",
                 "--greeting-token TOKEN", "--greeting-hook-url URL"):
        assert flag in section, flag
    assert "--greeting" not in run_cli("profile", "--help").stdout  # not installed: not offered


def test_plugin_secrets_are_redacted_in_artifacts_api_config_logs_and_console(
    inferload_exe: Path, cli_env: Any, greet_site: Any, tmp_path: Path
) -> None:
    from echo_server import EchoServer
    from test_secrets_everywhere import _run_and_collect

    settings = tmp_path / "settings.yaml"
    settings.write_text("greeting-hook-url: http://hook-user:file-hookpass-S3CR3T@hooks.invalid/x\n")
    secrets = ["flag-greettoken-S3CR3T", "file-hookpass-S3CR3T"]
    with EchoServer() as server:
        args = ["--url", server.url, "-f", str(settings), "--greeting-token", secrets[0]]
        bodies, stdout, stderr, code = _run_and_collect(inferload_exe, cli_env, tmp_path, args,
                                                        greet_site.env, "protocol")
    assert code == 0, stderr
    shown = json.loads(bodies["/api/config"])
    assert shown["greeting_token_set"] is True and "greeting_token" not in shown
    assert shown["greeting_hook_url"] == "http://<redacted>@hooks.invalid/x"
    assert "greeting with token <redacted>" in stderr  # the plugin logged it; the run's filters scrubbed it
    files = {str(p): p.read_bytes() for p in (tmp_path / "artifacts").rglob("*") if p.is_file()}
    assert any(path.endswith("greeting.json") for path in files)
    places = [*bodies.items(), *files.items(), ("stdout", stdout.encode()), ("stderr", stderr.encode())]
    assert [(where, s) for s in secrets for where, blob in places if s.encode() in blob] == []


class _Clash(BaseModel):
    concurrency: int = Field(1, description="a second --concurrency")


class _ClashPlugin:
    @hookimpl
    def register_options(self) -> list[OptionsSpec]:
        return [OptionsSpec(name="clash", description="Clashes with the core", model=_Clash)]


def test_a_plugin_may_not_declare_a_core_setting() -> None:
    registry = load_plugins(LoadRules())
    registry.add(_ClashPlugin(), "clash")
    with pytest.raises(PluginError, match=r"plugin 'clash' .*declares --concurrency, which is a core"):
        ProfileConfig.load({}, registry=registry)


def test_options_spec_refuses_a_model_that_is_not_pydantic_or_a_field_that_is_no_flag() -> None:
    with pytest.raises(ValueError, match="pydantic BaseModel"):
        OptionsSpec(name="bad", description="Bad", model=dict)  # type: ignore[arg-type]

    class Camel(BaseModel):
        camelCase: int = 1

    with pytest.raises(ValueError, match="lower_snake_case"):
        OptionsSpec(name="bad", description="Bad", model=Camel)


def test_reading_options_no_plugin_declares_is_a_lookup_error() -> None:
    registry = load_plugins(LoadRules())
    config = ProfileConfig.load({}, registry=registry)

    class Nobody(BaseModel):
        nothing: int = 0

    with pytest.raises(LookupError, match="Nobody"):
        config.options(Nobody)
    with pytest.raises(UsageError, match="unknown setting"):
        ProfileConfig.load({"not_a_setting": 1}, registry=registry)


@pytest.mark.parametrize(("plugin", "given"), [
    ("dataset-synthetic", ("--prefix-prompt-pool-size", "4")),  # an AIPerf-style alias
    ("dataset-synthetic", ("--seq-dist", "8:4")),
    ("dataset-synthetic", ("--sequence-distribution=8:4",)),
    ("command-plot", ("--no-report",)),  # a switch's --no- form
    ("server-prep", ("--no-reset-kv-cache",)),
    ("arrival-fixed-schedule", ("--fixed-schedule",)),  # core flags only that plugin acts on
    ("arrival-fixed-schedule", ("--fixed-schedule-speedup", "2")),
], ids=lambda value: value if isinstance(value, str) else value[0].split("=")[0])
def test_every_spelling_of_a_disabled_plugins_flag_names_the_plugin_to_enable(
    run_cli: Any, tmp_path: Path, plugin: str, given: tuple[str, ...]
) -> None:
    """Aliases, --no- forms and the core flags a plugin consumes, from --disable-plugin and from the
    variable alike: one line naming the flag as typed and the plugin, exit 2, nothing run."""
    flag = given[0].split("=")[0]
    expected = (f"inferload: error: {flag} belongs to plugin {plugin}, which is disabled; enable it (drop "
                f"--disable-plugin {plugin} / INFERLOAD_DISABLE_PLUGINS)")
    for args, env in ((("--disable-plugin", plugin), {}), ((), {"INFERLOAD_DISABLE_PLUGINS": plugin})):
        done = run_cli(*args, *QUICK_RUN, *given, "--artifact-dir", tmp_path / "never", env=env)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.strip().splitlines() == [expected], done.stderr
    assert not (tmp_path / "never").exists()


def test_a_disabled_plugins_option_is_refused_with_one_line_naming_the_plugin(
    run_cli: Any, tmp_path: Path
) -> None:
    off = {"INFERLOAD_DISABLE_PLUGINS": "integration-otel"}
    helped = run_cli("profile", "--help", env=off).stdout
    assert "--otel-url" not in helped and "--mlflow-tracking-uri" in helped  # not offered
    settings = tmp_path / "settings.yaml"
    settings.write_text("otel-url: http://127.0.0.1:4318\n")
    expected = ("belongs to plugin integration-otel, which is disabled; enable it (drop "
                "--disable-plugin integration-otel / INFERLOAD_DISABLE_PLUGINS)")
    for args, env, where in [
        (("--otel-url", "http://127.0.0.1:4318"), off, "--otel-url"),
        (("--disable-plugin", "integration-otel", "--otel-url=http://127.0.0.1:4318"), {}, "--otel-url"),
        (("-f", str(settings)), off, f"otel-url in config file {settings}"),
        ((), {**off, "INFERLOAD_OTEL_URL": "http://127.0.0.1:4318"}, "INFERLOAD_OTEL_URL"),
    ]:
        done = run_cli(*QUICK_RUN, *args, "--artifact-dir", tmp_path / "never", env=env)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.strip().splitlines() == [f"inferload: error: {where} {expected}"], args
    assert not (tmp_path / "never").exists()


class _Probe(BaseModel):
    probe_level: int = 0


class _ProbePlugin:
    """Declares one option whose check takes the registry as its third parameter, and records what it got."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    @hookimpl
    def register_options(self) -> list[OptionsSpec]:
        return [OptionsSpec(name="probe", description="Probe", model=_Probe, check=self.check)]

    def check(self, config: ProfileConfig, options: _Probe, registry: Any) -> None:
        self.seen.append((options.probe_level, registry.get("endpoint", config.endpoint_type or "").name))
        if options.probe_level > 5:
            raise ValueError(f"--probe-level {options.probe_level} is more than endpoint type "
                             f"{config.endpoint_type} takes")


def test_a_check_with_a_third_parameter_gets_the_registry_and_its_value_error_is_one_usage_line() -> None:
    registry = load_plugins(LoadRules())
    probe = _ProbePlugin()
    registry.add(probe, "probe")
    ProfileConfig.load({"probe_level": 2}, registry=registry).with_plugin_defaults(registry)
    assert probe.seen == [(2, "chat")]  # the chosen endpoint's spec, asked of the registry
    with pytest.raises(UsageError, match=r"^--probe-level 9 is more than endpoint type chat takes$"):
        ProfileConfig.load({"probe_level": 9}, registry=registry).with_plugin_defaults(registry)


@pytest.mark.parametrize(("plugin", "args"), [
    ("dataset-synthetic", ("--rerank-documents", "3")),
    ("dataset-synthetic", ("--rerank-query-tokens", "9")),
    ("arrival-fixed-schedule", ("--fixed-schedule",)),
    ("arrival-fixed-schedule", ("--fixed-schedule-end-offset", "20")),
])
def test_the_flags_moved_out_of_core_name_their_plugin_when_it_is_disabled(
    run_cli: Any, tmp_path: Path, plugin: str, args: tuple[str, ...]
) -> None:
    done = run_cli("--disable-plugin", plugin, *QUICK_RUN, *args, "--artifact-dir", tmp_path / "never")
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line == (f"inferload: error: {args[0]} belongs to plugin {plugin}, which is disabled; enable it "
                    f"(drop --disable-plugin {plugin} / INFERLOAD_DISABLE_PLUGINS)")
    assert not (tmp_path / "never").exists()
