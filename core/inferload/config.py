"""ProfileConfig: every `inferload profile` setting, validated once, from CLI, environment and config file.

Precedence is CLI > environment (``INFERLOAD_<FLAG>``) > config file (``-f FILE``, YAML or JSON) > default.
The CLI layer passes only the flags the user actually typed as init values, so an omitted flag never hides
an environment or file value. Secrets are ``SecretStr`` and :meth:`ProfileConfig.redacted_dump` is the one
way configuration leaves the process (``/api/config``, ``input_config`` in profile_export.json).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeVar

from pydantic import (
    AliasChoices,
    BaseModel,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsError

from inferload import plugin_options
from inferload.dataset import MAX_DATASET_TOKENS, MAX_SEQUENCE_TOKENS
from inferload.errors import UsageError
from inferload.headers import check_header, check_header_value, split_userinfo
from inferload.records import DEFAULT_REQUEST_TIMEOUT_S
from inferload.redact import (
    is_secret_name,
    redact_header_value,
    redact_payload,
    redact_url,
    secret_leaves,
    split_header,
    url_query_secrets,
    url_userinfo_secrets,
)
from inferload.textfiles import read_capped
from inferload.urls import check_http_url, check_server_path

if TYPE_CHECKING:
    from inferload.registry import PluginRegistry
    from inferload.types import EndpointSpec

DEFAULT_REQUEST_COUNT = 10
"""AIPerf's default when neither --request-count nor --benchmark-duration is given."""

MIN_API_TOKEN_CHARS = 8
"""Shortest --api-token accepted."""

OptionsT = TypeVar("OptionsT", bound=BaseModel)
SettingsT = TypeVar("SettingsT", bound=BaseSettings)


MAX_SECONDS = 1e9
"""The largest duration a flag takes (about 31 years): beyond it a time in ns no longer fits an int64
clock value (and ``inf`` would overflow at the start); ``--api-linger`` alone takes ``inf``."""


class ProfileConfig(BaseSettings):
    """One validated profile run configuration. Field names are the flag names with ``_`` for ``-``."""

    model_config = plugin_options.SETTINGS_CONFIG
    _plugin_options: dict[type[BaseModel], BaseModel] | None = PrivateAttr(default=None)
    _timed: TimedLoad | None = PrivateAttr(default=None)

    # -- target ----------------------------------------------------------------------------------
    model: str | None = Field(None, description="Model name sent in each request")
    url: str | None = Field(None, description="Server base URL; omitted: the embedded simulator")
    endpoint_type: str | None = Field(None, description="Endpoint plugin (default: the catalogue's, chat)")
    endpoint: str | None = Field(None, description="Request path overriding the endpoint type's own")
    streaming: bool = Field(False, description="Request streamed (SSE) responses")
    api_key: SecretStr | None = Field(None, description="Sent as 'Authorization: Bearer KEY'")
    header: list[str] = Field(default_factory=list, description="Extra request headers 'Name: value'")
    extra_inputs: list[str] = Field(default_factory=list, description="Extra body fields, 'k:v' or JSON")
    use_legacy_max_tokens: bool = Field(
        True, description="Chat output length as 'max_tokens' (default) or else 'max_completion_tokens'"
    )
    ignore_eos: bool = Field(False, description="Send 'ignore_eos': true (vLLM, SGLang, TensorRT-LLM)")
    request_timeout_seconds: float = Field(DEFAULT_REQUEST_TIMEOUT_S, gt=0, le=MAX_SECONDS,
                                           description="Per-request timeout")
    transport: str | None = Field(None, description="Hot-path HTTP client plugin (default: the catalogue's)")
    executor: str | None = Field(None, description="Where workers run (default: the catalogue's, local)")

    # -- load ------------------------------------------------------------------------------------
    concurrency: int | None = Field(None, ge=1, description="Hard cap on requests in flight")
    request_rate: float | None = Field(None, gt=0, description="Requests per second")
    arrival_pattern: str | None = Field(None, description="Arrival pattern plugin (poisson …)")
    arrival_smoothness: float | None = Field(None, gt=0, description="Gamma shape (1 = poisson)")
    request_count: int | None = Field(None, ge=1, description="Stop after this many requests")
    benchmark_duration: float | None = Field(None, gt=0, le=MAX_SECONDS,
                                              description="Stop sending after these seconds")
    benchmark_grace_period: float | None = Field(None, ge=0, le=MAX_SECONDS,
                                                  description="Wait for in-flight after duration")
    warmup_request_count: int = Field(0, ge=0, description="Requests sent before profiling, not measured")

    # -- dataset ---------------------------------------------------------------------------------
    isl: int = Field(550, ge=1, le=MAX_SEQUENCE_TOKENS, description="Input sequence length (tokens) mean")
    isl_stddev: float = Field(0.0, ge=0)
    osl: int | None = Field(
        None, ge=1, le=MAX_SEQUENCE_TOKENS, description="Output sequence length (tokens) mean"
    )
    osl_stddev: float = Field(0.0, ge=0)
    num_dataset_entries: int = Field(100, ge=1, le=MAX_DATASET_TOKENS)
    random_seed: int | None = Field(None, ge=0)
    tokenizer: str | None = Field(
        None, description="Tokenizer plugin name, tokenizer.json path or HF name (default: the catalogue's)"
    )
    dataset: str | None = Field(
        None, description="Dataset plugin: synthetic (default), file (implied by --input-file) …"
    )
    input_file: Path | None = Field(None, description="JSONL prompts for the file dataset (AIPerf's flag)")

    # -- multi-turn sessions: how many and how many open at once (docs/datasets.md) -----------------
    conversation_num: int | None = Field(
        None, ge=1, description="Sessions to send (session datasets; AIPerf's name)"
    )
    session_concurrency: int | None = Field(None, ge=1, description="Hard cap on sessions open at once")

    # -- results ---------------------------------------------------------------------------------
    goodput: str | list[str] | dict[str, Any] | None = Field(
        None, description="SLOs 'tag:value tag:value' (ms for latencies); a list or mapping in a file"
    )
    artifact_dir: Path = Field(Path("artifacts"))
    export_level: Literal["summary", "records"] = Field(
        "records", description="Files written: summary (aggregates only) or records (+ a line per request)"
    )
    workers: int | None = Field(None, ge=1, description="Worker processes (default: as useful for the cores)")

    ui: str | None = Field(None, description="Progress view: a view plugin or none (checked at run start)")

    run_label: str | None = Field(None, description="A name for this run, written as run_info.run_label")

    # -- live HTTP API ---------------------------------------------------------------------------
    api_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        validation_alias=AliasChoices("api_port", "INFERLOAD_API_SERVER_PORT", "INFERLOAD_API_PORT"),
    )
    api_host: str = Field(
        "127.0.0.1",
        validation_alias=AliasChoices("api_host", "INFERLOAD_API_SERVER_HOST", "INFERLOAD_API_HOST"),
    )
    api_linger: float = Field(5.0, ge=0, allow_inf_nan=True,
                              description="Seconds the API stays up after artifacts (inf allowed)")

    # -- live control and load over time (docs/control.md) ----------------------------------------
    api_token: SecretStr | None = Field(
        None, description="Bearer token the control routes require; without one they do not exist"
    )
    api_token_file: Path | None = Field(None, description="File holding --api-token (first line)")
    max_concurrency: int | None = Field(
        None, ge=1, description="Highest --concurrency a live change (PATCH /api/control/load) may set"
    )
    request_rate_ramp_duration: float | None = Field(
        None, gt=0, le=MAX_SECONDS,
        description="Ramp the request rate linearly to --request-rate over S s (AIPerf's name)"
    )
    concurrency_ramp_duration: float | None = Field(
        None, gt=0, le=MAX_SECONDS,
        description="Ramp concurrency from 1 to --concurrency over S s (AIPerf's name)"
    )
    load_schedule: Path | None = Field(
        None, description="JSON array of {duration, request_rate|concurrency} segments, run in order"
    )



    # -- validation ------------------------------------------------------------------------------

    @field_validator("endpoint_type", "transport", "executor", "tokenizer", "dataset")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return None if value is None else check_http_url(value)

    @field_validator("artifact_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        # resolved once, against the working directory at start: input_config, the API's file routes and
        # the secret scrubbing of files all see the same absolute path
        return Path(os.path.abspath(value.expanduser()))

    @field_validator("header")
    @classmethod
    def _headers_are_valid(cls, values: list[str]) -> list[str]:
        for value in values:
            check_header(value)
        return values

    @field_validator("api_key")
    @classmethod
    def _api_key_is_a_header_value(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            if not value.get_secret_value().strip():
                raise ValueError("the API key is empty; give the key, or drop the setting to send none")
            check_header_value("Authorization", value.get_secret_value())
        return value

    @field_validator("extra_inputs", mode="before")
    @classmethod
    def _extra_inputs_mapping(cls, value: Any) -> Any:
        """A config file's ``extra-inputs:`` may be a mapping of body fields (as ``goodput:`` may): it is
        the JSON-object entry ``--extra-inputs '{...}'`` would give."""
        return [json.dumps(value)] if isinstance(value, dict) else value

    @field_validator("extra_inputs")
    @classmethod
    def _extra_inputs_parse(cls, values: list[str]) -> list[str]:
        parse_extra_inputs(values)
        return values

    @field_validator("endpoint")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return check_server_path(value)

    @field_validator("arrival_pattern")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return value.strip().lower() if value else value

    @field_validator("goodput")
    @classmethod
    def _goodput_parse(
        cls, value: str | list[str] | dict[str, Any] | None
    ) -> str | list[str] | dict[str, Any] | None:
        # One parser for --goodput: the metrics engine's. Imported here so loading the config stays cheap.
        # Its UsageError already names the flag and the bad entry, so it propagates as is (pydantic
        # wraps only ValueError), and ProfileConfig.load hands it on unchanged.
        from inferload.metrics_engine import parse_goodput

        if value is not None and not parse_goodput(value):
            raise ValueError("give at least one 'metric_tag:value'")
        return value

    @model_validator(mode="after")
    def _load_over_time(self) -> ProfileConfig:
        """The control token (from --api-token-file too) and the load plan's flags; a --load-schedule file
        is read here, so a bad one is a usage error (FILE:LINE) before anything starts, and its first
        entry becomes the run's load."""
        from inferload.load_plan import CONCURRENCY, read_load_schedule

        if self.api_token_file is not None:
            if self.api_token is not None:
                raise ValueError("give either --api-token or --api-token-file, not both")
            text = read_capped(self.api_token_file, what="--api-token-file")
            token = text.splitlines()[0].strip() if text.strip() else ""
            if not token:
                raise ValueError(f"--api-token-file {self.api_token_file} is empty; write the token on its "
                                 "first line")
            self.api_token = SecretStr(token)
        if self.api_token is not None:
            token = self.api_token.get_secret_value()
            if any(ch.isspace() or not ch.isprintable() or not ch.isascii() for ch in token):
                raise ValueError("--api-token must be printable ASCII without spaces (a bearer token)")
            if len(token) < MIN_API_TOKEN_CHARS:
                # a short token is guessable, and scrubbing it from every artifact would mangle ordinary
                # words that contain it
                raise ValueError(f"--api-token must be at least {MIN_API_TOKEN_CHARS} characters, e.g. "
                                 "from `openssl rand -hex 16`")
            if self.api_port is None:
                raise ValueError("--api-token needs --api-port: the control routes are part of the live API")
        ramped = self.request_rate_ramp_duration is not None or self.concurrency_ramp_duration is not None
        if ramped and self.load_schedule is not None:
            raise ValueError("--load-schedule already shapes the load; drop the ramp flag")
        if self.request_rate_ramp_duration is not None and self.request_rate is None:
            raise ValueError("--request-rate-ramp-duration needs --request-rate (the rate to ramp to)")
        if self.concurrency_ramp_duration is not None and self.request_rate is not None:
            raise ValueError("--concurrency-ramp-duration ramps a concurrency-driven run; with "
                             "--request-rate use --request-rate-ramp-duration")
        if self.max_concurrency is not None:
            if self.request_rate is not None:
                raise ValueError("--max-concurrency bounds a concurrency-driven run; with --request-rate the "
                                 "cap is --concurrency")
            if self.concurrency is not None and self.concurrency > self.max_concurrency:
                raise ValueError(f"--concurrency {self.concurrency} is above --max-concurrency "
                                 f"{self.max_concurrency}")
            if self.api_token is None and self.load_schedule is None:
                raise ValueError("--max-concurrency bounds live changes (--api-token) or a --load-schedule; "
                                 "without either the load is --concurrency")
        if self.load_schedule is None:
            return self
        entries = read_load_schedule(self.load_schedule)
        kind, first = entries[0].kind, entries[0].value
        if kind == CONCURRENCY:
            given = [flag for flag, value in (("--concurrency", self.concurrency),
                                              ("--request-rate", self.request_rate)) if value is not None]
            if given:
                raise ValueError(f"--load-schedule {self.load_schedule} sets the concurrency; drop "
                                 f"{' and '.join(given)}")
            peak = max(entry.value for entry in entries)
            if self.max_concurrency is not None and peak > self.max_concurrency:
                line = next(entry.line for entry in entries if entry.value == peak)
                raise UsageError(f"{self.load_schedule}:{line}: concurrency {peak:g} is above "
                                 f"--max-concurrency {self.max_concurrency}")
            self.concurrency = int(first)
        else:
            if self.request_rate is not None:
                raise ValueError(f"--load-schedule {self.load_schedule} sets the request rate; drop "
                                 "--request-rate (--concurrency stays a cap)")
            self.request_rate = first
        if self.request_count is None and self.benchmark_duration is None:
            self.benchmark_duration = sum(entry.duration for entry in entries)
        return self

    @model_validator(mode="after")
    def _combinations(self) -> ProfileConfig:
        if self.request_count is not None and self.benchmark_duration is not None:
            raise ValueError("give either --request-count or --benchmark-duration, not both")
        if self.conversation_num is not None and self.request_count is not None:
            raise ValueError(
                "give either --conversation-num or --request-count (both count sessions), not both"
            )
        if self.benchmark_grace_period is not None and self.benchmark_duration is None:
            raise ValueError("--benchmark-grace-period only applies with --benchmark-duration")
        if self.request_rate is None and (self.arrival_pattern or self.arrival_smoothness is not None):
            given = [flag for flag, value in (("--arrival-pattern", self.arrival_pattern or None),
                                              ("--arrival-smoothness", self.arrival_smoothness))
                     if value is not None]
            needs = "needs" if len(given) == 1 else "need"
            raise ValueError(f"{' and '.join(given)} {needs} --request-rate")
        if self.input_file is None and self.num_dataset_entries * self.isl > MAX_DATASET_TOKENS:
            raise ValueError(
                f"--num-dataset-entries {self.num_dataset_entries} x --isl {self.isl} = "
                f"{self.num_dataset_entries * self.isl:,} prompt tokens to build before the first request, "
                f"over the limit of {MAX_DATASET_TOKENS:,}; lower one of them (requests cycle through the "
                "entries)"
            )
        if self.api_linger != self.api_linger or MAX_SECONDS < self.api_linger < math.inf:  # NaN, huge
            raise ValueError(f"--api-linger must be a number of seconds up to {MAX_SECONDS:g} or inf")
        return self

    # -- derived values --------------------------------------------------------------------------

    def session_flags(self) -> list[str]:
        """The core's session flags that were given (``--conversation-num``, ``--session-concurrency``):
        they need a run that makes sessions. The flags of the plugins that make and send sessions are
        checked by those plugins."""
        return [flag_name(name) for name in ("conversation_num", "session_concurrency")
                if getattr(self, name) is not None]

    @property
    def stimulus(self) -> str:
        """What drives the load, as named in the artifact directory (``concurrency8``, ``request_rate50``)."""
        if self.load_schedule is not None:
            return f"load_schedule-{self.load_schedule.stem}"
        if self.request_rate is not None:
            rate = f"{self.request_rate:g}"
            return f"request_rate{rate}" + (f"-concurrency{self.concurrency}" if self.concurrency else "")
        if self._timed is not None:
            return self._timed.name + (f"-concurrency{self.concurrency}" if self.concurrency else "")
        return f"concurrency{self.effective_concurrency}"

    @property
    def timed_load(self) -> TimedLoad | None:
        """The timed arrival pattern that sends this run without a rate (a ``--fixed-schedule`` replay of the
        dataset's timestamps), as :meth:`with_plugin_defaults` chose it; None otherwise."""
        return self._timed

    @property
    def timed_schedule(self) -> bool:
        """Whether requests are sent on a clock (``--request-rate``, or a timed arrival pattern: a
        ``--fixed-schedule`` replay of the dataset's timestamps) rather than as slots free up (concurrency
        mode). In a timed schedule ``--concurrency`` is only a cap, and without it nothing caps the requests
        in flight."""
        return self.request_rate is not None or self._timed is not None

    @property
    def effective_concurrency(self) -> int | None:
        """Concurrency cap: as given; in a timed schedule (:attr:`timed_schedule`) unlimited (None); else
        ``--session-concurrency`` when given, else 1."""
        if self.concurrency is not None:
            return self.concurrency
        if self.timed_schedule:
            return None
        # a session has one request in flight: as many as sessions
        return self.session_concurrency if self.session_concurrency is not None else 1

    @property
    def effective_request_count(self) -> int | None:
        """Requests to send in the profiling phase, or None when the duration decides."""
        if self.benchmark_duration is not None:
            return None
        return self.request_count if self.request_count is not None else DEFAULT_REQUEST_COUNT

    @property
    def effective_grace_period(self) -> float:
        """AIPerf's default grace period is 30 s; it only matters with --benchmark-duration."""
        return 30.0 if self.benchmark_grace_period is None else self.benchmark_grace_period

    @property
    def effective_arrival_pattern(self) -> str:
        """The arrival plugin, once :meth:`with_plugin_defaults` has filled it in."""
        return _chosen(self.arrival_pattern, "arrival_pattern")

    @property
    def effective_dataset(self) -> str:
        """The dataset plugin, once :meth:`with_plugin_defaults` has filled it in."""
        return _chosen(self.dataset, "dataset")

    def with_plugin_defaults(self, registry: PluginRegistry) -> ProfileConfig:
        """This config with every plugin choice left open filled in, and checked against the plugins.

        The defaults come from the catalogue (``default: true`` in plugins.yaml), never from names written
        here: a value the user gave is kept; ``--input-file`` alone picks the dataset that reads files,
        ``--arrival-smoothness`` alone the arrival pattern that takes it. A UsageError (exit 2) names the
        plugin to enable when a default is disabled, or the flag and value that do not fit.
        """
        from inferload.hookspecs import CHOSEN_CATEGORIES

        def default(category: str) -> str:
            return registry.default(category, choose=CHOSEN_CATEGORIES[category]).name

        updates: dict[str, Any] = {}
        for field, category in (("endpoint_type", "endpoint"), ("transport", "transport"),
                                ("executor", "executor"), ("tokenizer", "tokenizer")):
            if getattr(self, field) is None:
                updates[field] = default(category)
        endpoint_type = updates.get("endpoint_type", self.endpoint_type)
        endpoint = registry.all("endpoint").get(endpoint_type)
        if endpoint is not None and not endpoint.produces_tokens and self.osl is not None:
            raise UsageError(f"--osl does not apply to --endpoint-type {endpoint_type}: it returns no output "
                             "tokens; drop --osl")
        datasets = registry.all("dataset")
        dataset = self.dataset
        if dataset is None:
            readers = sorted(name for name, spec in datasets.items() if spec.input_file)
            if self.input_file is not None:
                # a file's own shape picks among the readers (a JSONL line with "turns" is a session)
                readers = _detected(readers, datasets, self.input_file)
            dataset = (_the_one(readers, "--input-file", "dataset", registry) if self.input_file
                       else default("dataset"))
        spec = registry.get("dataset", dataset)
        if self.input_file is not None and not spec.input_file:
            raise UsageError(f"--input-file is not used by --dataset {dataset}; drop one of them")
        if not spec.sessions and self.session_flags():
            sessions = sorted(name for name, s in datasets.items() if s.sessions) or ["none installed"]
            raise UsageError(
                f"{', '.join(self.session_flags())} shape(s) multi-turn sessions, which --dataset {dataset} "
                f"does not make; use a session dataset ({', '.join(sessions)}) or drop the flag"
            )
        if spec.input_file and spec.file_required and self.input_file is None:
            raise UsageError(
                f"--dataset {dataset} needs --input-file PATH (a JSONL file, one prompt per line)"
            )
        updates["dataset"] = dataset
        config = self.model_copy(update=updates)
        if config._plugin_options is None:  # built without load(registry=): environment, file-less
            declared = plugin_options.declared_options(registry, type(self).model_fields)
            config._plugin_options = _load_options(declared, {}, lambda field: env_names(field)[0])
        patterns = registry.all("arrival_pattern")
        if self.request_rate is not None:
            pattern = self.arrival_pattern
            if pattern is None and self.arrival_smoothness is not None:
                smooth = sorted(name for name, s in patterns.items() if s.smoothness)
                pattern = _the_one(smooth, "--arrival-smoothness", "arrival pattern", registry)
            pattern = pattern or default("arrival_pattern")
            chosen = registry.get("arrival_pattern", pattern)
            if chosen.timed:
                paced = sorted(name for name, s in patterns.items() if not s.timed)
                give = f"give {plugin_options.option_flag(chosen.switch)} (and no --request-rate)" \
                    if chosen.switch else "drop --request-rate"
                raise UsageError(f"--arrival-pattern {pattern} replays a trace's timestamps: {give}, or a "
                                 f"paced pattern with --request-rate ({', '.join(paced)})")
            if self.arrival_smoothness is not None and not chosen.smoothness:
                raise UsageError(f"--arrival-smoothness does not apply to --arrival-pattern {pattern}")
            config.arrival_pattern = pattern
        else:
            config._timed = config._chosen_timed(patterns)
            config.arrival_pattern = None if config._timed is None else config._timed.pattern
        config._checked_options(registry)
        return config

    def _chosen_timed(self, patterns: Mapping[str, Any]) -> TimedLoad | None:
        """The timed arrival pattern whose ``switch`` option is on (``--fixed-schedule``), or None."""
        for name in sorted(patterns):
            spec = patterns[name]
            if spec.timed and spec.switch and self._option_value(spec.switch):
                flag = plugin_options.option_flag(spec.switch)
                return TimedLoad(pattern=name, flag=flag, slower=spec.slower or f"slow down {flag}",
                                 name=spec.run_name(self) if spec.run_name else spec.switch)
        return None

    def _option_value(self, field: str) -> Any:
        """The value of the plugin option ``field`` (None when no enabled plugin declares it)."""
        for options in (self._plugin_options or {}).values():
            if field in type(options).model_fields:
                return getattr(options, field)
        return None

    @property
    def base_url(self) -> str | None:
        """``--url`` without its userinfo (``user:pass@``), which :attr:`headers_map` sends as Basic auth."""
        return None if self.url is None else split_userinfo(self.url)[0]

    @property
    def url_basic_auth(self) -> str | None:
        """``Basic base64(user:password)`` from the URL's userinfo (percent-decoded), or None."""
        return None if self.url is None else split_userinfo(self.url)[1]

    @property
    def headers_map(self) -> dict[str, str]:
        """Headers to send, lowest precedence first: ``Authorization: Basic`` from URL userinfo, then
        ``Authorization: Bearer`` from --api-key, then every -H header (a name given twice: the last)."""
        return self.headers_for(None)

    def headers_for(self, endpoint: EndpointSpec | None) -> dict[str, str]:
        """:attr:`headers_map` for an endpoint type: its static ``headers`` first (lowest precedence),
        and --api-key as its ``auth_headers(key)`` when it has them (e.g. ``x-api-key``) instead of
        ``Authorization: Bearer``."""
        from inferload.engine.transport import merge_headers

        headers: dict[str, str] = dict(endpoint.headers) if endpoint is not None else {}
        basic = self.url_basic_auth
        if basic is not None:
            headers["Authorization"] = basic
        if self.api_key is not None:
            key = self.api_key.get_secret_value()
            headers = merge_headers(headers, self._api_key_headers(endpoint, key).items())
        return merge_headers(headers, (split_header(value) for value in self.header))

    @staticmethod
    def _api_key_headers(endpoint: EndpointSpec | None, key: str) -> dict[str, str]:
        """What ``--api-key KEY`` becomes for ``endpoint``: its ``auth_headers(key)``, else Bearer."""
        if endpoint is not None and endpoint.auth_headers is not None:
            return endpoint.auth_headers(key)
        return {"Authorization": f"Bearer {key}"}

    def api_key_header_conflict(self, endpoint: EndpointSpec | None) -> str | None:
        """The ``-H`` header name that replaces what --api-key becomes for ``endpoint`` (``Authorization``,
        or e.g. ``x-api-key`` for an endpoint with ``auth_headers``), or None; the -H header wins."""
        if self.api_key is None:
            return None
        names = {name.lower() for name in self._api_key_headers(endpoint, "-")}
        return next((name for name, _ in map(split_header, self.header) if name.lower() in names), None)

    @property
    def authorization_conflict(self) -> bool:
        """True when --api-key and an explicit Authorization header are both given (the header wins)."""
        return self.api_key is not None and any(
            split_header(v)[0].lower() == "authorization" for v in self.header
        )

    @property
    def extra_body(self) -> dict[str, Any]:
        return parse_extra_inputs(self.extra_inputs)

    @property
    def goodput_slos(self) -> dict[str, float]:
        """``--goodput`` as ``{metric tag: threshold}`` (empty without SLOs)."""
        from inferload.metrics_engine import parse_goodput

        return parse_goodput(self.goodput)

    def secret_values(self) -> list[str]:
        """Every secret string of this config, for log, error and artifact scrubbing: the API key, secret
        header values (and their credential part after ``Bearer``/``Basic``), URL userinfo and the Basic
        value made of it, and secret-named --extra-inputs values at any depth."""
        secrets = []
        for secret in (self.api_key, self.api_token):
            if secret is not None:
                secrets.append(secret.get_secret_value())
        pairs = [split_header(value) for value in self.header]
        basic = self.url_basic_auth
        if basic is not None:
            pairs.append(("Authorization", basic))
        secrets.extend(url_userinfo_secrets(self.url))
        secrets.extend(url_query_secrets(self.url))
        for name, val in pairs:
            if is_secret_name(name) and val:
                secrets.append(val)
                secrets.extend(part for part in val.split() if len(part) >= 6)
        secrets.extend(leaf for leaf in secret_leaves(self.extra_body) if len(leaf) >= 3)
        for options in (self._plugin_options or {}).values():
            secrets.extend(plugin_options.option_secrets(options))
        return secrets

    def redacted_dump(self) -> dict[str, Any]:
        """The configuration as JSON-safe data without secrets: no API key, secret header values
        replaced by ``<redacted>``, URL userinfo and credential query values redacted."""
        data = self.model_dump(mode="json", exclude={"api_key", "api_token"})
        data["api_token_set"] = self.api_token is not None
        data["header"] = [
            f"{name}: {redact_header_value(name, val)}"
            for name, val in (split_header(h) for h in self.header)
        ]
        data["headers"] = {
            name: redact_header_value(name, val) for name, val in (split_header(h) for h in self.header)
        }
        data["api_key_set"] = self.api_key is not None
        if self.url:
            data["url"] = redact_url(self.url)
        data["extra_inputs"] = redact_payload(self.extra_body)
        if math.isinf(self.api_linger):
            data["api_linger"] = "inf"
        for options in (self._plugin_options or {}).values():
            data.update(plugin_options.redacted_options(options))
        return data

    # -- loading ---------------------------------------------------------------------------------

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return plugin_options.settings_sources(settings_cls, init_settings, env_settings)

    @classmethod
    def load(
        cls,
        cli: Mapping[str, Any] | None = None,
        config_file: str | os.PathLike[str] | None = None,
        *,
        registry: PluginRegistry | None = None,
        disabled_options: Mapping[str, str] | None = None,
    ) -> ProfileConfig:
        """Build the config from explicit CLI values, the environment and an optional YAML/JSON file.

        With ``registry``, the options its plugins declare (:mod:`inferload.plugin_options`) are loaded too,
        by the same rules; without it they are loaded by :meth:`with_plugin_defaults`. ``disabled_options``
        maps the options of disabled plugins to the plugin (``{"num_profile_runs": "sweeps"}``): setting one
        is refused with a line naming the plugin to enable. Any invalid value or combination becomes one
        :class:`UsageError` line (exit 2) naming the flag.
        """
        file_values = read_config_file(config_file) if config_file else {}
        cli = dict(cli or {})
        declared = plugin_options.declared_options(registry, cls.model_fields) if registry else {}

        def source(field: str) -> str:
            """Where ``field``'s value came from, as the user would name it (precedence order)."""
            if field in cli:
                return flag_name(field)
            env = next((name for name in env_names(field) if _environ_has(name)), None)
            if env is not None:
                return env
            if field in file_values:
                return f"{field.replace('_', '-')} in config file {config_file}"
            return flag_name(field)

        for field, plugin in (disabled_options or {}).items():
            if field in cli or field in file_values or _environ_has(f"INFERLOAD_{field.upper()}"):
                raise UsageError(plugin_options.disabled_message(source(field), plugin))
        unknown = sorted(set(file_values) - set(cls.model_fields) - set(declared))
        if unknown:
            raise UsageError(
                f"config file {config_file}: unknown setting(s) {', '.join(unknown)}; "
                "use the flag names, e.g. request-count or request_count"
            )
        token = plugin_options.FILE_VALUES.set(file_values)
        try:
            config = _validated(lambda: cls(**{k: v for k, v in cli.items() if k not in declared}), source)
            if registry is not None:
                config._plugin_options = _load_options(declared, cli, source)
            return config
        finally:
            plugin_options.FILE_VALUES.reset(token)

    def options(self, model: type[OptionsT]) -> OptionsT:
        """The validated options a plugin declared with ``model`` (its :class:`~inferload.types.OptionsSpec`
        ``model``): an instance of ``model``. A LookupError when no enabled plugin declares ``model``; a
        RuntimeError before the options are loaded (``load(..., registry=)`` or
        :meth:`with_plugin_defaults`)."""
        if self._plugin_options is None:
            raise RuntimeError("plugin options are not loaded yet: build the config with "
                               "ProfileConfig.load(..., registry=) or call with_plugin_defaults(registry)")
        value = self._plugin_options.get(model)
        if not isinstance(value, model):
            raise LookupError(f"no enabled plugin declares the options {model.__name__}")
        return value

    def _checked_options(self, registry: PluginRegistry) -> None:
        """Each plugin's options against the run's chosen plugins (``applies_to``) and the whole config
        (``check``): a UsageError naming the flags."""
        from inferload.hookspecs import CHOSEN_CATEGORIES

        chosen = {"endpoint": self.endpoint_type, "transport": self.transport, "executor": self.executor,
                  "tokenizer": self.tokenizer, "dataset": self.dataset,
                  "arrival_pattern": self.arrival_pattern}
        for spec in registry.all("options").values():
            options = self.options(spec.model)
            if spec.applies_to is not None:
                category, names = spec.applies_to
                given = plugin_options.given_flags(options)
                if given and chosen.get(category) not in names:
                    choose = CHOSEN_CATEGORIES[category].split()[0]
                    verb = "do" if len(given) > 1 else "does"
                    owner = "they are options" if len(given) > 1 else "it is an option"
                    raise UsageError(f"{', '.join(given)} {verb} not apply to {choose} "
                                     f"{chosen.get(category)}; {owner} of {choose} {' or '.join(names)}")
            if spec.check is not None:
                try:
                    spec.check(self, options, *((registry,) if _takes_registry(spec.check) else ()))
                except ValueError as exc:
                    raise UsageError(str(exc)) from None


class TimedLoad(NamedTuple):
    """A run sent by a timed arrival pattern (:attr:`inferload.types.ArrivalSpec.timed`) instead of a rate:
    the ``pattern``, the ``flag`` that chose it (``--fixed-schedule``), the run's load as its artifact
    directory names it (``fixed_schedule-speedup2``) and how to send it slower (the overload warning)."""

    pattern: str
    flag: str
    name: str
    slower: str


def _takes_registry(check: Callable[..., None]) -> bool:
    """Whether an :class:`~inferload.types.OptionsSpec` ``check`` takes a third parameter, the registry."""
    import inspect

    return len(inspect.signature(check).parameters) >= 3


def _validated(build: Callable[[], SettingsT], source: Callable[[str], str]) -> SettingsT:
    """``build()``, its validation error as one :class:`UsageError` line naming where the value came from."""
    try:
        return build()
    except ValidationError as exc:
        raise UsageError(_one_line(exc, source)) from None
    except SettingsError as exc:  # an INFERLOAD_ list variable that is not JSON
        match = re.search(r'field "(\w+)"', str(exc))
        env = source(match.group(1)) if match else "an INFERLOAD_ list variable"
        raise UsageError(
            f"{env} is not a JSON list; list settings take one, e.g. {env}='[\"X-Team: blue\"]'"
        ) from None


def _load_options(
    declared: Mapping[str, plugin_options.DeclaredOption],
    cli: Mapping[str, Any],
    source: Callable[[str], str],
) -> dict[type[BaseModel], BaseModel]:
    """Every declared plugin model validated from the CLI values, the environment and the ``-f`` file
    (whose values :data:`plugin_options.FILE_VALUES` holds)."""
    loaded: dict[type[BaseModel], BaseModel] = {}
    for spec in {option.spec.name: option.spec for option in declared.values()}.values():
        settings = plugin_options.settings_class(spec.model)
        values = {k: v for k, v in cli.items() if k in spec.model.model_fields}
        validated = _validated(lambda: settings(**values), source)  # noqa: B023 - called at once
        # as the plugin's own class (validated already), so it pickles to worker processes like the config
        loaded[spec.model] = spec.model.model_construct(
            _fields_set=validated.model_fields_set,
            **{name: getattr(validated, name) for name in spec.model.model_fields})
    return loaded


def env_names(field: str) -> list[str]:
    """The ``INFERLOAD_...`` environment variables that set ``field`` (aliases included)."""
    info = ProfileConfig.model_fields.get(field)
    alias = info.validation_alias if info is not None else None
    choices = [c for c in getattr(alias, "choices", ()) if isinstance(c, str) and c.startswith("INFERLOAD_")]
    return [f"INFERLOAD_{field.upper()}", *choices]


def _environ_has(name: str) -> bool:
    return any(key.upper() == name for key in os.environ)


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A YAML or JSON mapping of settings; keys may use ``-`` or ``_``."""
    file = Path(path)
    text = read_capped(file, what="config file")
    try:
        if file.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # noqa: BLE001 - any parse error is the user's file
        mark = getattr(exc, "problem_mark", None)  # YAML's position of the fault (0-based)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UsageError(f"config file {file} is not valid YAML/JSON{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"config file {file} must hold a mapping of setting: value")
    return {str(key).replace("-", "_").lower(): value for key, value in data.items()}


def parse_extra_inputs(values: list[str]) -> dict[str, Any]:
    """``k:v`` pairs (the value parsed as JSON when it is JSON, e.g. ``temperature:0.7``) or JSON objects."""
    body: dict[str, Any] = {}
    for value in values:
        text = value.strip()
        # a value that looks like it holds a credential is not echoed in the error
        shown = "an entry (not shown: it may hold a credential)" if is_secret_name(text) else repr(text)
        if text.startswith("{"):
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{shown} is not a JSON object: {exc.msg}") from None
            if not isinstance(obj, dict):
                raise ValueError(f"{shown} is not a JSON object")
            body.update(obj)
            continue
        key, sep, raw = text.partition(":")
        if not sep or not key.strip():
            raise ValueError(f"{shown} is neither 'key:value' nor a JSON object")
        try:
            body[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            body[key.strip()] = raw
    return body


def _chosen(value: str | None, field: str) -> str:
    if value is None:
        raise RuntimeError(f"{field} is chosen by ProfileConfig.with_plugin_defaults(); call it first")
    return value


def _detected(readers: list[str], datasets: Mapping[str, Any], path: Path) -> list[str]:
    """Among the datasets that read ``--input-file``, those that recognise ``path`` (their ``detect``), else
    those without a ``detect`` (the plain readers)."""
    recognised = [name for name in readers if (detect := datasets[name].detect) is not None and detect(path)]
    return recognised or [name for name in readers if datasets[name].detect is None]


def _the_one(names: list[str], flag: str, noun: str, registry: PluginRegistry) -> str:
    """The single plugin that ``flag`` implies; a UsageError when none or several are installed. With
    none while plugins are disabled, the line names them: a disabled plugin is never imported, so which
    of them takes ``flag`` is unknown, but one of them is the likely cure."""
    from inferload.registry import DISABLED

    if len(names) == 1:
        return names[0]
    choice = f"--{noun.replace(' ', '-')}"
    disabled = sorted(name for name, info in registry.plugins.items() if info.status == DISABLED)
    if not names and len(disabled) == 1:
        raise UsageError(f"no enabled {noun} plugin takes {flag}, and plugin {disabled[0]} is disabled; "
                         f"enable it (drop --disable-plugin {disabled[0]} / INFERLOAD_DISABLE_PLUGINS)")
    if not names and disabled:
        raise UsageError(f"no enabled {noun} plugin takes {flag}, and plugins {', '.join(disabled)} are "
                         "disabled; enable the one that takes it (drop --disable-plugin NAME / "
                         "INFERLOAD_DISABLE_PLUGINS)")
    if not names:
        raise UsageError(f"no installed {noun} plugin takes {flag} (see `inferload plugins`)")
    raise UsageError(f"{flag} is taken by the {noun}s {', '.join(names)}: choose one with {choice} NAME")


def require_extra(flag: str, extra: str, module: str) -> None:
    """Raise ValueError (a one-line usage error) naming the extra to install when ``module`` is missing."""
    from importlib.util import find_spec

    try:
        found = find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ValueError(f"{flag} needs the '{extra}' extra: pip install 'inferload[{extra}]'")


def flag_name(field: str) -> str:
    """``request_count`` -> ``--request-count`` (as the user typed it)."""
    return "--" + field.replace("_", "-")


def _one_line(exc: ValidationError, source: Any = flag_name) -> str:
    """The first validation problem as 'invalid SOURCE VALUE: reason', SOURCE naming where the value came
    from (``--flag``, ``INFERLOAD_FLAG`` or the config file); secrets never echoed."""
    error = exc.errors()[0]
    loc = [str(part) for part in error.get("loc", ()) if not isinstance(part, int)]
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    if not loc:
        return message
    field = loc[0].removeprefix("INFERLOAD_").lower()
    if field in ("api_server_port",):
        field = "api_port"
    if field in ("api_server_host",):
        field = "api_host"
    value = error.get("input")
    secret = field in ("api_key", "api_token", "header") or is_secret_name(field)
    shown = "" if secret or isinstance(value, (dict, list)) else f" {value!r}"
    if isinstance(value, float) and shown and value.is_integer():
        shown = f" {value:.0f}" if abs(value) < 1e16 else f" {value:g}"  # the 0 typed, not argparse's 0.0
    if isinstance(value, str) and "://" in value and shown:
        # escaped before redacting: urlsplit would silently drop the CR/LF/TAB the message is about
        shown = " '" + redact_url(value.encode("unicode_escape").decode("ascii")) + "'"
    if error.get("type") == "extra_forbidden":
        return f"unknown setting {field!r} (config file or INFERLOAD_ environment)"
    name = source(field)
    return f"invalid {name}{shown}: {message}"
