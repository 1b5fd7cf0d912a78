"""Options that plugins declare for `inferload profile` (hook ``register_options``, spec
:class:`inferload.types.OptionsSpec`), and how :class:`inferload.config.ProfileConfig` loads them.

A plugin gives a pydantic model: each field is one setting, its name the flag's with ``_`` for ``-``
(``num_profile_runs`` is ``--num-profile-runs``, ``INFERLOAD_NUM_PROFILE_RUNS`` and the ``-f`` file key
``num-profile-runs`` or ``num_profile_runs``); its ``description`` is the ``--help`` text and its
constraints and validators are the checks. An ``Annotated[..., Flag(...)]`` refines the command-line shape
(metavar, extra spellings, a plain switch). The config validates each model with the same precedence,
one-line errors and redaction as its own fields, and a plugin reads its values with
``config.options(Model)``, which returns an instance of ``Model``.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from inferload.errors import PluginError
from inferload.redact import is_secret_name, redact_url, url_userinfo_secrets

if TYPE_CHECKING:
    from inferload.config import ProfileConfig
    from inferload.registry import PluginRegistry
    from inferload.types import OptionsSpec

SETTINGS_CONFIG = SettingsConfigDict(
    env_prefix="INFERLOAD_",
    extra="forbid",
    populate_by_name=True,
    validate_default=True,
    case_sensitive=False,
    allow_inf_nan=False,
)
"""How every profile setting is read, the core's fields and each plugin's alike. ``inf``/``nan`` are refused
(one usage line) unless a field says ``allow_inf_nan=True`` (``--api-linger inf``)."""

FILE_VALUES: ContextVar[dict[str, Any] | None] = ContextVar("inferload_config_file_values", default=None)
"""The ``-f`` file's values while a config is being validated (set by ``ProfileConfig.load``)."""


class ConfigFileSource(PydanticBaseSettingsSource):
    """The ``-f`` file's values that belong to the model being validated (the file was read once by
    ``ProfileConfig.load``, which refuses keys no model declares)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        values = FILE_VALUES.get() or {}
        return values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        fields = self.settings_cls.model_fields
        return {key: value for key, value in (FILE_VALUES.get() or {}).items() if key in fields}


def settings_sources(
    settings_cls: type[BaseSettings], init: PydanticBaseSettingsSource, env: PydanticBaseSettingsSource
) -> tuple[PydanticBaseSettingsSource, ...]:
    """The precedence of every profile setting: CLI (init values) > environment > ``-f`` file > default."""
    return (init, env, ConfigFileSource(settings_cls))


@dataclass(frozen=True)
class Flag:
    """The command-line shape of one plugin option, given as ``Annotated`` metadata of its field.

    ``metavar``: the value's placeholder in ``--help`` (``N``, ``URL``); ``aliases``: other spellings of
    the flag (``("--prefix-prompt-pool-size",)``, AIPerf's name); ``negatable``: a ``bool`` option also
    gets ``--no-NAME`` (False: a plain switch, as ``--no-server-metrics`` itself is); ``lists``: a plugin
    category whose installed names ``--help`` appends to the description in parentheses
    (``"cache_reset"``: ``(vllm, sglang)``), so the help names what is installed, never a written list;
    ``"endpoint:ranks_documents"`` lists only those whose spec has that attribute true; ``sweep``: a
    number option that takes a comma-separated list, one sweep variation per value, like ``--concurrency``.
    """

    metavar: str | None = None
    aliases: tuple[str, ...] = ()
    negatable: bool = True
    lists: str | None = None
    sweep: bool = False

    def __post_init__(self) -> None:
        for alias in self.aliases:
            if not alias.startswith("--"):
                raise ValueError(f"Flag alias {alias!r} must start with '--'")


def flag_of(field: FieldInfo) -> Flag:
    """The :class:`Flag` of a model field (the default one when the field has none)."""
    return next((item for item in field.metadata if isinstance(item, Flag)), Flag())


def option_flag(field: str) -> str:
    """``num_profile_runs`` -> ``--num-profile-runs``."""
    return "--" + field.replace("_", "-")


@dataclass(frozen=True)
class DeclaredOption:
    """One plugin option: its field name, the spec that declares it and the plugin that registered it."""

    field: str
    spec: OptionsSpec
    plugin: str


def declared_options(registry: PluginRegistry, core_fields: Mapping[str, Any]) -> dict[str, DeclaredOption]:
    """Every option the enabled plugins declare, by field name, in registration order.

    A PluginError names both owners when a plugin declares a setting the core or another plugin already
    has (two plugins cannot share ``--foo``).
    """
    declared: dict[str, DeclaredOption] = {}
    for name, spec in registry.all("options").items():
        plugin = registry.provider("options", name)
        for field in spec.model.model_fields:
            if field in core_fields:
                raise PluginError(f"plugin {registry.describe(plugin)} declares {option_flag(field)}, which "
                                  "is a core setting of inferload profile; rename the option")
            other = declared.get(field)
            if other is not None:
                raise PluginError(f"{option_flag(field)} is declared twice: by plugin "
                                  f"{registry.describe(other.plugin)} and by plugin "
                                  f"{registry.describe(plugin)}; disable one (--disable-plugin NAME)")
            declared[field] = DeclaredOption(field, spec, plugin)
    return declared


def disabled_message(where: str, plugin: str) -> str:
    """The one line for a setting (``where``: the flag, alias, variable or file key as given) of a
    disabled plugin."""
    return (f"{where} belongs to plugin {plugin}, which is disabled; enable it (drop --disable-plugin "
            f"{plugin} / INFERLOAD_DISABLE_PLUGINS)")


def option_spellings(model: type[BaseModel]) -> list[str]:
    """Every command-line spelling of ``model``'s options, as ``inferload profile`` registers them: each
    field's flag, its :class:`Flag` aliases and, for a negatable switch, ``--no-FLAG`` (and its aliases'
    ``--no-`` forms). The catalogue lists exactly these per plugin (``options`` in plugins.yaml), so each
    one names its plugin when that plugin is disabled."""
    spellings: list[str] = []
    for field, info in model.model_fields.items():
        shape = flag_of(info)
        names = [option_flag(field), *shape.aliases]
        spellings += names
        if value_kind(info)[0] == "switch" and shape.negatable:
            spellings += ["--no-" + name[2:] for name in names]
    return spellings


@cache
def settings_class(model: type[BaseModel]) -> type[BaseSettings]:
    """``model`` as a settings class reading ``INFERLOAD_<FIELD>`` and the ``-f`` file (its instances are
    instances of ``model``)."""

    def customise(cls: type[BaseSettings], settings_cls: type[BaseSettings],
                  init_settings: PydanticBaseSettingsSource, env_settings: PydanticBaseSettingsSource,
                  **_: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        return settings_sources(settings_cls, init_settings, env_settings)

    namespace = {"model_config": SETTINGS_CONFIG, "settings_customise_sources": classmethod(customise),
                 "__module__": model.__module__, "__doc__": model.__doc__}
    return type(model.__name__, (BaseSettings, model), namespace)


def is_default(options: BaseModel, field: str) -> bool:
    """Whether ``field`` of ``options`` holds its declared default (an option the user did not give)."""
    info = type(options).model_fields[field]
    default = info.get_default(call_default_factory=True)
    return bool(getattr(options, field) == default)


def given_flags(options: BaseModel) -> list[str]:
    """The flags of ``options`` set to something other than their default."""
    return [option_flag(field) for field in type(options).model_fields if not is_default(options, field)]


def _is_secret(options: BaseModel, field: str) -> bool:
    return isinstance(getattr(options, field), SecretStr) or is_secret_name(field)


def redacted_options(options: BaseModel) -> dict[str, Any]:
    """``options`` as JSON-safe data without secrets: a ``SecretStr`` or secret-named option becomes
    ``NAME_set`` (true/false) and its value is left out; URLs lose their userinfo and credential query
    values (:func:`inferload.redact.redact_url`), in lists too."""
    data = options.model_dump(mode="json")
    for field in type(options).model_fields:
        if _is_secret(options, field):
            data.pop(field)
            data[f"{field}_set"] = getattr(options, field) not in (None, "")
        else:
            data[field] = _redact_urls(data[field])
    return data


def _redact_urls(value: Any) -> Any:
    if isinstance(value, str) and "://" in value:
        return redact_url(value)
    if isinstance(value, list):
        return [_redact_urls(item) for item in value]
    return value


def option_secrets(options: BaseModel) -> list[str]:
    """The secret strings of ``options``, for log, error and artifact scrubbing: secret options' values
    and the userinfo of every URL option."""
    secrets: list[str] = []
    for field in type(options).model_fields:
        value = getattr(options, field)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if _is_secret(options, field) and isinstance(value, str) and value:
            secrets.append(value)
            continue
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                secrets.extend(url_userinfo_secrets(item))
    return secrets


def value_kind(field: FieldInfo) -> tuple[str, type | None]:
    """How the command line takes a field: ``("switch", None)`` for bool, ``("list", None)`` for a list
    (the flag repeats), ``("choice", None)`` for a Literal, ``("number", int|float)``, else
    ``("text", None)`` (the model's validators parse the text)."""
    annotation = field.annotation
    args = [arg for arg in get_args(annotation) if arg is not type(None)]
    if get_origin(annotation) is not None and len(args) == 1 and get_origin(annotation) is not list:
        annotation = args[0]  # X | None
    if annotation is bool:
        return "switch", None
    if get_origin(annotation) is list:
        return "list", None
    if get_origin(annotation) is Literal:
        return "choice", None
    if annotation in (int, float):
        return "number", annotation
    return "text", None


def factory_keywords(
    config: ProfileConfig, registry: PluginRegistry, category: str, name: str
) -> dict[str, Any]:
    """The options that apply to plugin ``name`` of ``category`` that are not None, as keywords for its
    factory (``prompt_block_size=256``): those of an :class:`OptionsSpec` whose ``applies_to`` names it, and
    those its own plugin declares without ``applies_to`` (the synthetic dataset's ``isl_osl_pairs``)."""
    keywords: dict[str, Any] = {}
    owner = registry.provider(category, name)
    for spec_name, spec in registry.all("options").items():
        target = spec.applies_to
        applies = target is not None and target[0] == category and name in target[1]
        if applies or (target is None and registry.provider("options", spec_name) == owner):
            options = config.options(spec.model)
            keywords.update({field: getattr(options, field) for field in type(options).model_fields
                             if getattr(options, field) is not None})
    return keywords
