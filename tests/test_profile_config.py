"""ProfileConfig: precedence CLI > env > file > default, one-line usage errors, no secret in its dump."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from inferload.config import ProfileConfig
from inferload.errors import UsageError
from inferload.registry import LoadRules, PluginRegistry, load_plugins


@pytest.fixture(scope="module")
def registry() -> PluginRegistry:
    """The installed plugins, as the CLI loads them: plugin choices are checked against them."""
    return load_plugins(LoadRules())


def load_checked(registry: PluginRegistry, values: dict, file: Path | None = None) -> ProfileConfig:
    """What `inferload profile` does: load, then fill and check the plugin choices."""
    return ProfileConfig.load(values, file).with_plugin_defaults(registry)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("INFERLOAD_"):
            monkeypatch.delenv(key)


def test_precedence_cli_over_env_over_file_over_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "c.json"
    file.write_text(json.dumps({"request-count": 3, "isl": 12, "concurrency": 2, "osl": 5}))
    monkeypatch.setenv("INFERLOAD_ISL", "16")
    monkeypatch.setenv("INFERLOAD_OSL", "7")
    config = ProfileConfig.load({"isl": 20}, file)
    assert config.isl == 20  # CLI
    assert config.osl == 7  # env over file
    assert config.request_count == 3  # file over default
    assert config.num_dataset_entries == 100  # default


def test_api_flags_read_their_documented_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFERLOAD_API_SERVER_PORT", "9123")
    monkeypatch.setenv("INFERLOAD_API_SERVER_HOST", "0.0.0.0")
    monkeypatch.setenv("INFERLOAD_API_LINGER", "inf")
    config = ProfileConfig.load({})
    assert (config.api_port, config.api_host, config.api_linger) == (9123, "0.0.0.0", float("inf"))
    assert ProfileConfig.load({"api_port": 9000}).api_port == 9000
    assert config.redacted_dump()["api_linger"] == "inf"


def test_redacted_dump_has_no_secret() -> None:
    config = ProfileConfig.load(
        {
            "api_key": "sk-abc123456",
            "header": ["Authorization: Bearer zz-998877", "X-Team: blue"],
            "url": "http://user:pw12345@host:8000",
            "extra_inputs": ["api_key:qq-55443322"],
        }
    )
    text = json.dumps(config.redacted_dump())
    for secret in ("sk-abc123456", "zz-998877", "pw12345", "qq-55443322"):
        assert secret not in text
    assert "X-Team: blue" in text
    assert config.headers_map["Authorization"] == "Bearer zz-998877"  # the explicit header wins
    assert config.authorization_conflict


def test_api_key_becomes_a_bearer_header() -> None:
    assert ProfileConfig.load({"api_key": "sk-1"}).headers_map == {"Authorization": "Bearer sk-1"}


def test_api_key_becomes_the_endpoint_types_auth_header(registry: PluginRegistry) -> None:
    """An endpoint type with ``auth_headers`` (Anthropic: ``x-api-key``) gets --api-key as those, beside its
    static headers and below -H; a -H of that name replaces it (and is the conflict the run logs)."""
    anthropic = registry.get("endpoint", "anthropic_messages")
    config = ProfileConfig.load({"api_key": "sk-1", "url": "http://u:p@h:1", "header": ["X-Team: a"]})
    headers = config.headers_for(anthropic)
    assert headers["x-api-key"] == "sk-1" and headers["anthropic-version"] == "2023-06-01"
    assert headers["Authorization"].startswith("Basic ")  # URL userinfo, not Bearer
    assert headers["X-Team"] == "a"
    assert config.api_key_header_conflict(anthropic) is None
    overridden = ProfileConfig.load({"api_key": "sk-1", "header": ["X-API-KEY: sk-2", "Authorization: x"]})
    assert {k.lower(): v for k, v in overridden.headers_for(anthropic).items()}["x-api-key"] == "sk-2"
    assert overridden.api_key_header_conflict(anthropic) == "X-API-KEY"
    assert overridden.api_key_header_conflict(None) == "Authorization"
    assert overridden.authorization_conflict


def test_extra_inputs_accept_pairs_and_json() -> None:
    config = ProfileConfig.load({"extra_inputs": ["temperature:0.5", "user:abc", '{"top_p": 0.9}']})
    assert config.extra_body == {"temperature": 0.5, "user": "abc", "top_p": 0.9}


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"isl": 0}, "--isl"),
        ({"request_count": 2, "benchmark_duration": 1.0}, "not both"),
        ({"arrival_smoothness": 2.0, "request_rate": 5.0, "arrival_pattern": "poisson"},
         "--arrival-smoothness does not apply to --arrival-pattern poisson"),
        ({"header": ["no-colon"]}, "--header"),
        ({"extra_inputs": ["{not json"]}, "--extra-inputs"),
    ],
)
def test_invalid_values_are_one_line_usage_errors(
    registry: PluginRegistry, values: dict, fragment: str
) -> None:
    with pytest.raises(UsageError) as info:
        load_checked(registry, values)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_config_file_key_is_a_usage_error(tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text("request-cuont: 3\n")
    with pytest.raises(UsageError, match="request_cuont"):
        ProfileConfig.load({}, file)


def test_stimulus_names_the_artifact_directory() -> None:
    assert ProfileConfig.load({}).stimulus == "concurrency1"
    assert ProfileConfig.load({"concurrency": 8}).stimulus == "concurrency8"
    assert ProfileConfig.load({"request_rate": 2.5}).stimulus == "request_rate2.5"


def test_input_file_implies_the_file_dataset_from_cli_env_and_file(
    registry: PluginRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_checked(registry, {}).effective_dataset == "synthetic"
    assert load_checked(registry, {"input_file": "p.jsonl"}).effective_dataset == "file"
    available = "file, mooncake_trace, multi_turn, sharegpt, synthetic"
    with pytest.raises(UsageError, match=f"unknown dataset 'mine'; available: {available}"):
        load_checked(registry, {"dataset": "mine", "input_file": "p.jsonl"})
    file = tmp_path / "c.yaml"
    file.write_text("input-file: from-file.jsonl\n")
    assert ProfileConfig.load({}, file).input_file == Path("from-file.jsonl")
    monkeypatch.setenv("INFERLOAD_INPUT_FILE", "from-env.jsonl")
    config = load_checked(registry, {}, file)
    assert (config.input_file, config.effective_dataset) == (Path("from-env.jsonl"), "file")


def test_plugin_choices_left_open_are_the_catalogues_defaults(registry: PluginRegistry) -> None:
    config = ProfileConfig.load({"request_rate": 3.0})
    assert (config.endpoint_type, config.transport, config.executor, config.tokenizer) == (None,) * 4
    filled = config.with_plugin_defaults(registry)
    chosen = (filled.endpoint_type, filled.transport, filled.executor, filled.tokenizer, filled.dataset,
              filled.arrival_pattern)
    assert chosen == ("chat", "protocol", "local", "builtin", "synthetic", "poisson")
    smooth = load_checked(registry, {"request_rate": 3.0, "arrival_smoothness": 4.0})
    assert smooth.arrival_pattern == "gamma"  # the one pattern that takes --arrival-smoothness
    given = load_checked(registry, {"transport": "aiohttp", "endpoint_type": "completions"})
    assert (given.transport, given.endpoint_type) == ("aiohttp", "completions")


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"dataset": "file"}, "--dataset file needs --input-file"),
        ({"dataset": "synthetic", "input_file": "p.jsonl"}, "not used by --dataset synthetic"),
        ({"goodput": "time_to_first_token"}, "--goodput entry 'time_to_first_token' is not TAG:VALUE"),
        ({"goodput": "time_to_first_token:fast"}, "the threshold must be a number"),
        ({"goodput": ""}, "give at least one"),
    ],
)
def test_dataset_and_goodput_mistakes_are_one_line_usage_errors(
    registry: PluginRegistry, values: dict, fragment: str
) -> None:
    with pytest.raises(UsageError) as info:
        load_checked(registry, values)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_goodput_takes_the_string_list_or_mapping_forms_of_the_one_parser(tmp_path: Path) -> None:
    expected = {"time_to_first_token": 200.0, "inter_token_latency": 10.0}
    text = "time_to_first_token:200 inter_token_latency=10"
    assert ProfileConfig.load({"goodput": text}).goodput_slos == expected
    file = tmp_path / "c.yaml"
    file.write_text("goodput:\n  time_to_first_token: 200\n  inter_token_latency: 10\n")
    assert ProfileConfig.load({}, file).goodput_slos == expected
    file.write_text("goodput: [time_to_first_token:200, inter_token_latency:10]\n")
    assert ProfileConfig.load({}, file).goodput_slos == expected
    assert ProfileConfig.load({}).goodput_slos == {}


def test_a_list_variable_that_is_not_json_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFERLOAD_HEADER", "X-Team: blue")
    with pytest.raises(UsageError, match="JSON list"):
        ProfileConfig.load({})


PROFILE_GUIDE = Path(__file__).resolve().parent.parent / "docs" / "profile.md"


def _documented_default(value: object) -> str:
    """How docs/profile.md writes a field's default: `false`, `600`, `artifacts` …"""
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    return f"`{value}`"


@pytest.mark.parametrize("field", sorted(ProfileConfig.model_fields))
def test_every_setting_has_a_row_in_the_profile_guide_with_its_env_var_and_default(field: str) -> None:
    flag = "--" + field.replace("_", "-")
    rows = re.findall(
        rf"^\| `{re.escape(flag)}`[^|]*\|(?P<env>[^|]*)\|(?P<default>[^|]*)\|",
        PROFILE_GUIDE.read_text(encoding="utf-8"),
        flags=re.MULTILINE,
    )
    assert len(rows) == 1, f"docs/profile.md needs one table row for {flag}"
    env, default = (cell.strip() for cell in rows[0])
    info = ProfileConfig.model_fields[field]
    aliases = getattr(info.validation_alias, "choices", [])
    names = [name for name in aliases if str(name).startswith("INFERLOAD_")] or [f"INFERLOAD_{field.upper()}"]
    assert f"`{names[0]}`" in env, (env, names)
    if info.default_factory is not None:
        assert default == "none"
    elif info.default is None:
        assert default == "unset"
    else:
        assert default == _documented_default(info.default)


def test_every_setting_and_every_plugin_option_is_a_flag_of_profile(run_cli: Any) -> None:
    """A core setting or a plugin's declared option without its flag can only be set by env or file: the
    profile command's parser must offer each one (a merge once dropped --run-label)."""
    from inferload.plugin_options import declared_options

    registry = load_plugins(LoadRules())
    result = run_cli("profile", "--help")
    assert result.returncode == 0, result.stderr
    flags = set(re.findall(r"--[a-z0-9][a-z0-9-]*", result.stdout))
    wanted = {*ProfileConfig.model_fields, *declared_options(registry, ProfileConfig.model_fields)}
    missing = sorted("--" + name.replace("_", "-") for name in wanted
                     if "--" + name.replace("_", "-") not in flags)
    assert not missing, f"settings without a profile flag: {missing}"
