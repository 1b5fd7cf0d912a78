"""--mlflow-tracking-uri: one MLflow run per inferload run (lifecycle plugin).

``record_batch`` counts, per second since the run's first request (by each request's end), requests
completed, request errors and output tokens. ``run_finished`` (artifacts written) then logs, through
``MlflowClient`` against the tracking URI (a file store, ``sqlite:///…`` or an ``http(s)://`` server), into
``--mlflow-experiment`` (created when missing):

- params: the redacted config, flattened (``a.b`` keys; lists as JSON), each value cut to 6000 characters;
- metrics: ``<tag>.<stat>`` for every headline metric (avg, min, max, p50, p90, p99), plus
  ``server.<concept>.avg`` for the server's own families over the profiling window;
- per-second series as metric steps (step = second): ``requests_completed_per_sec``,
  ``request_errors_per_sec``, ``output_tokens_per_sec``;
- tags: ``inferload.benchmark_id``, ``inferload.lifecycle``, ``inferload.run_label``, the redacted
  ``cli_command``; the whole artifact directory as run artifacts.

A sweep (``run_info.sweep_id`` set) nests each variation under one parent run tagged
``inferload.sweep_id``, created by the first variation. URL userinfo goes to MLflow as
``MLFLOW_TRACKING_USERNAME``/``PASSWORD`` and is never part of the URI MLflow sees or logs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import BaseModel, Field, field_validator

from inferload import hookimpl
from inferload.plugin_options import Flag
from inferload.types import OptionsSpec

if TYPE_CHECKING:
    from inferload.runstate import RunState

STATS = ("avg", "min", "max", "p50", "p90", "p99")
MAX_PARAM = 6000
_SERIES: dict[str, dict[int, list[int]]] = {}
"""benchmark_id -> second -> [completed, errors, output tokens]."""


class MlflowOptions(BaseModel):
    """``--mlflow-tracking-uri`` and ``--mlflow-experiment``."""

    mlflow_tracking_uri: Annotated[str | None, Flag(metavar="URI")] = Field(
        None, description="log the run to MLflow: params, metrics, time series, artifacts (needs "
        "'inferload[mlflow]')")
    mlflow_experiment: Annotated[str, Flag(metavar="NAME")] = Field(
        "inferload", min_length=1, description="MLflow experiment (default inferload)")

    @field_validator("mlflow_tracking_uri")
    @classmethod
    def _tracking_uri(cls, value: str | None) -> str | None:
        from inferload.config import require_extra

        if value is not None:
            if not value.strip():
                raise ValueError("must not be empty")
            require_extra("--mlflow-tracking-uri", "mlflow", "mlflow")
        return value


@hookimpl
def register_options() -> list[OptionsSpec]:
    return [OptionsSpec(name="mlflow", description="MLflow tracking", model=MlflowOptions,
                        title="MLflow tracking (docs/integrations.md)")]


def _options(state: RunState) -> MlflowOptions | None:
    """The run's MLflow options when it logs to MLflow, else None."""
    options = None if state.config is None else state.config.options(MlflowOptions)
    return options if options is not None and options.mlflow_tracking_uri else None


@hookimpl
def record_batch(state: RunState, records: list[Any]) -> None:
    if _options(state) is None or state.started_ns is None:
        return
    series = _SERIES.setdefault(state.run_info.benchmark_id, {})
    for record in records:
        end_wall = record.start_wall_ns + (record.end_ns - record.start_ns)
        slot = series.setdefault(max(0, (end_wall - state.started_ns) // 1_000_000_000), [0, 0, 0])
        if record.error is not None:
            slot[1] += 1
        else:
            slot[0] += 1
            slot[2] += record.output_tokens or 0


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """Nested config -> ``{"a.b": "value"}``; lists and None as JSON text, cut to MLflow's 6000 chars."""
    if isinstance(value, Mapping):
        out: dict[str, str] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}{key}."))
        return out
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return {prefix.rstrip("."): text[:MAX_PARAM]}


def headline_metrics(summary: Mapping[str, Any]) -> dict[str, float]:
    metrics = {}
    for tag, block in summary.items():
        if isinstance(block, Mapping) and "avg" in block and "unit" in block:
            for stat in STATS:
                value = block.get(stat)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    metrics[f"{tag}.{stat}"] = float(value)
    families = (summary.get("server_metrics") or {}).get("families", {})
    for entry in families.values():
        for series in entry["series"] if entry.get("concept") else []:
            avg = (series.get("profiling") or {}).get("avg")
            if isinstance(avg, (int, float)):
                metrics.setdefault(f"server.{entry['concept']}.avg", float(avg))
    return metrics


def tracking_uri_and_credentials(uri: str) -> tuple[str, str | None, str | None]:
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or parts.username is None:
        return uri, None, None
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return (urlunsplit(parts._replace(netloc=netloc)), unquote(parts.username),
            unquote(parts.password or ""))


@hookimpl
def run_finished(state: RunState) -> None:
    """Log the finished run to MLflow (see the module docstring)."""
    config = state.config
    series = _SERIES.pop(state.run_info.benchmark_id, {})
    options = _options(state)
    if config is None or options is None or options.mlflow_tracking_uri is None:
        return
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    uri, user, password = tracking_uri_and_credentials(options.mlflow_tracking_uri)
    if user is not None:
        os.environ["MLFLOW_TRACKING_USERNAME"] = user
        os.environ["MLFLOW_TRACKING_PASSWORD"] = password or ""
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(options.mlflow_experiment)
    experiment_id = (experiment.experiment_id if experiment is not None
                     else client.create_experiment(options.mlflow_experiment))
    info = state.run_info
    tags = {"inferload.benchmark_id": info.benchmark_id, "inferload.lifecycle": state.lifecycle.value,
            "inferload.cli_command": info.cli_command[:MAX_PARAM]}
    if info.run_label:
        tags["inferload.run_label"] = info.run_label
    parent = _parent_run(client, experiment_id, info.sweep_id) if info.sweep_id else None
    if parent is not None:
        tags["mlflow.parentRunId"] = parent
        tags["inferload.in_sweep"] = info.sweep_id or ""
    name = info.variation_label or info.run_label or info.benchmark_id
    run = client.create_run(experiment_id, run_name=name, tags=tags)
    run_id = run.info.run_id
    timestamp = (state.ended_ns or 0) // 1_000_000
    params = [Param(k, v) for k, v in flatten(config.redacted_dump()).items()]
    metrics = [Metric(k, v, timestamp, 0) for k, v in headline_metrics(state.results or {}).items()]
    metrics += list(_series_metrics(series, (state.started_ns or 0) // 1_000_000))
    status = "FINISHED" if state.lifecycle.value == "complete" else (
        "KILLED" if state.lifecycle.value == "cancelled" else "FAILED")
    try:
        for start in range(0, len(params), 100):
            client.log_batch(run_id, params=params[start:start + 100])
        for start in range(0, len(metrics), 1000):
            client.log_batch(run_id, metrics=metrics[start:start + 1000])
        client.log_batch(run_id, tags=[RunTag("inferload.artifact_dir", str(state.artifact_dir))])
        client.log_artifacts(run_id, str(state.artifact_dir))
    except Exception:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, status)
    if parent is not None:
        client.set_terminated(parent, "FINISHED")  # ends with the sweep's last variation


def _series_metrics(series: Mapping[int, list[int]], origin_ms: int) -> Iterable[Any]:
    from mlflow.entities import Metric

    if not series:
        return
    for second in range(max(series) + 1):
        completed, errors, tokens = series.get(second, [0, 0, 0])
        at = origin_ms + second * 1000
        yield Metric("requests_completed_per_sec", completed, at, second)
        yield Metric("request_errors_per_sec", errors, at, second)
        yield Metric("output_tokens_per_sec", tokens, at, second)


def _parent_run(client: Any, experiment_id: str, sweep_id: str) -> str:
    """The sweep's parent run id, created by the first variation that logs."""
    found = client.search_runs([experiment_id], filter_string=f"tags.`inferload.sweep_id` = '{sweep_id}'",
                               max_results=1)
    if found:
        return found[0].info.run_id
    parent = client.create_run(experiment_id, run_name=f"sweep {sweep_id}",
                               tags={"inferload.sweep_id": sweep_id})
    return parent.info.run_id
