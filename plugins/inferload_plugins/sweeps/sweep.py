"""Sweeps, repeated trials and the SLA search: many runs of the one-run engine under one ``sweep_id``.

The engine (``engine/runner.py``) always runs exactly one configuration. This module sits above it: it
expands list-valued flags (``--concurrency 1,2,4``) into variations (their cartesian product), runs each
``--num-profile-runs`` times through :func:`inferload.engine.runner.run_profile` with a
:class:`~inferload.runstate.RunSlot` (identity, subdirectory, the live state the API serves), and writes
``sweep_summary.json`` / ``sweep_summary.csv`` (one row per variation: headline metrics, and over trials
the mean, std, Student-t interval and CV). ``--search-max-load`` makes the variations itself: an
exponential probe, then a bisection (:class:`LoadSearch`). Layout and definitions: docs/sweeps.md.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import itertools
import json
import logging
import math
import os
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inferload.artifact_files import artifact_dir_for, clear_run_dir, model_dir_name, write_artifact
from inferload.config import ProfileConfig, flag_name
from inferload.errors import EXIT_OK, EXIT_RUN_FAILED, UsageError
from inferload.export import json_safe
from inferload.number_text import plain_number
from inferload_plugins.shared.completeness import (
    INCOMPLETE_MARK,
    incomplete_reason,
    missing_variations,
    row_reason,
)
from inferload_plugins.shared.confidence import CV_WARNING, t_interval
from inferload_plugins.shared.sweep_summary import table_rows
from inferload_plugins.sweeps.options import SweepOptions

if TYPE_CHECKING:
    from inferload.registry import PluginRegistry
    from inferload.runstate import RunState

log = logging.getLogger("inferload.sweep")

SWEEPABLE: dict[str, type] = {
    "concurrency": int,
    "request_rate": float,
    "request_count": int,
    "benchmark_duration": float,
    "warmup_request_count": int,
    "isl": int,
    "isl_stddev": float,
    "osl": int,
    "osl_stddev": float,
    "num_dataset_entries": int,
}
"""The core's load and dataset flags that take a comma-separated list (a sweep axis), with their value type;
a plugin's number option does with ``Flag(sweep=True)`` (:func:`sweepable_options`)."""


def sweepable_options(registry: PluginRegistry) -> dict[str, type]:
    """The enabled plugins' number options that take a list (``Flag(sweep=True)``: ``--rerank-documents``),
    with their value type."""
    from inferload.plugin_options import flag_of, value_kind

    found: dict[str, type] = {}
    for spec in registry.all("options").values():
        for name, info in spec.model.model_fields.items():
            _, number = value_kind(info)
            if flag_of(info).sweep and number is not None:
                found[name] = number
    return found

HEADLINE: tuple[tuple[str, str], ...] = (
    ("request_throughput", "avg"),
    ("output_token_throughput", "avg"),
    ("time_to_first_token", "avg"),
    ("time_to_first_token", "p99"),
    ("inter_token_latency", "avg"),
    ("inter_token_latency", "p99"),
    ("request_latency", "avg"),
    ("request_latency", "p99"),
    ("goodput", "avg"),
)
"""The metrics of a summary row, as (tag, statistic); ``goodput_ratio`` and counts are added."""


class SweepList(list):  # type: ignore[type-arg]
    """A flag value given as a comma-separated list (a sweep axis), as the CLI's type functions return."""


def sweep_value(kind: type, flag: str) -> Callable[[str], Any]:
    """An argparse ``type`` for a sweepable flag: ``"8"`` -> 8, ``"1,2,4"`` -> SweepList([1, 2, 4]).
    An empty list or item is an ``ArgumentTypeError`` naming the flag (argparse: one line, exit 2)."""

    def parse(text: str) -> Any:
        items = [item.strip() for item in text.split(",")]
        if not any(items) or "" in items:
            raise argparse.ArgumentTypeError(
                f"{text!r} is an empty list or has an empty item; give one value or a list like 1,2,4"
            )
        try:
            values = [kind(item) for item in items]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {_kind_text(kind)} or a list of them") from None
        return values[0] if len(values) == 1 and "," not in text else SweepList(values)

    parse.__name__ = kind.__name__
    return parse


def _kind_text(kind: type) -> str:
    """How a flag's number type reads in an error: ``int`` -> ``a whole number``."""
    return {int: "a whole number", float: "a number"}.get(kind, f"a {kind.__name__}")


def single_value(kind: type, flag: str) -> Callable[[str], Any]:
    """An argparse ``type`` for a numeric flag that takes no list: a comma is one line naming the flags
    that do."""

    def parse(text: str) -> Any:
        if "," in text:
            lists = ", ".join(flag_name(name) for name in SWEEPABLE)
            raise argparse.ArgumentTypeError(f"{flag} takes one value, not the list {text!r}; "
                                             f"lists (sweeps) are taken by {lists}")
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {_kind_text(kind)}") from None

    parse.__name__ = kind.__name__
    return parse


@dataclass(frozen=True)
class Variation:
    """One point of a sweep: the flag values that differ from the base configuration."""

    index: int
    values: dict[str, Any]

    @property
    def label(self) -> str:
        """``concurrency4-isl128``: each swept field and its value, in axis order."""
        return "-".join(f"{name}{plain_number(value, 6, grouping=False)}"
                        for name, value in self.values.items()) or "base"

    @property
    def dirname(self) -> str:
        return f"v{self.index:02d}-{self.label}"


def split_axes(
    cli: Mapping[str, Any], config_file: str | os.PathLike[str] | None = None,
    plugin_axes: Mapping[str, type] | None = None,
) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """``(axes, scalars)``: the sweepable values given as lists (sweep axes, CLI flags first in flag
    order, then environment and config-file lists in :data:`SWEEPABLE` order, then ``plugin_axes``': the
    plugins' options of :func:`sweepable_options`) and the CLI's other values.

    A list reaches a sweep from any of the three sources, with the usual precedence (CLI >
    ``INFERLOAD_<FLAG>`` > ``-f FILE``): on the command line ``--concurrency 1,4,16``; in the environment
    ``INFERLOAD_CONCURRENCY=1,4,16`` or the JSON list ``[1,4,16]``; in the file ``concurrency: [1, 4, 16]``
    or ``concurrency: "1,4,16"``. A single value from the environment or the file is left to the config
    as before. A bad list is a UsageError naming its source (exit 2)."""
    from inferload.config import env_names, read_config_file

    axes = {name: list(value) for name, value in cli.items() if isinstance(value, SweepList)}
    scalars = {name: value for name, value in cli.items() if name not in axes}
    file_values = read_config_file(config_file) if config_file else {}
    environ = {key.upper(): value for key, value in os.environ.items()}
    for name, kind in {**SWEEPABLE, **(plugin_axes or {})}.items():
        if name in cli:
            continue
        env = next((n for n in env_names(name) if n.upper() in environ), None)
        where, raw = ((env, environ[env.upper()]) if env is not None else
                      (f"{name.replace('_', '-')} in config file {config_file}", file_values.get(name)))
        if isinstance(raw, str) and raw.strip().startswith("["):
            try:
                raw = json.loads(raw)
            except ValueError:
                raise UsageError(f"{where} is not a JSON list: {raw!r}; give one like [1,2,4] or "
                                 "1,2,4") from None
        listed = isinstance(raw, list)
        if listed:
            raw = ",".join(str(item) for item in raw)
        if not isinstance(raw, str) or not (listed or "," in raw):
            continue  # one value: the config reads it as before
        try:
            value = sweep_value(kind, where)(raw)
        except argparse.ArgumentTypeError as exc:
            raise UsageError(f"{where}: {exc}") from None
        if isinstance(value, SweepList):
            axes[name] = list(value)
        else:  # a one-item list
            scalars[name] = value
    return axes, scalars


def expand(axes: Mapping[str, Sequence[Any]], max_variations: int) -> list[Variation]:
    """The cartesian product of the axes as variations, first axis slowest. A UsageError (exit 2) when
    it holds more than ``max_variations`` points; duplicates within an axis are dropped."""
    unique = {name: list(dict.fromkeys(values)) for name, values in axes.items()}
    count = math.prod(len(values) for values in unique.values())
    if count > max_variations:
        shown = " x ".join(f"{len(v)} {flag_name(n)}" for n, v in unique.items())
        raise UsageError(f"the sweep has {count} variations ({shown}), more than --max-variations "
                         f"{max_variations}; shorten a list or raise --max-variations")
    names = list(unique)
    return [Variation(i, dict(zip(names, combo, strict=True))) for i, combo in
            enumerate(itertools.product(*(unique[n] for n in names)))]


def headline(results: Mapping[str, Any]) -> dict[str, float | None]:
    """The summary-row figures of one run's profile_export.json: ``tag.stat`` for :data:`HEADLINE`,
    ``request_count``, ``error_request_count`` and ``goodput_ratio`` (good requests / every profiling
    request, errors included; None without --goodput)."""
    row: dict[str, float | None] = {}
    for tag, stat in HEADLINE:
        block = results.get(tag)
        row[f"{tag}.{stat}"] = block.get(stat) if isinstance(block, Mapping) else None
    counts = {tag: (results.get(tag) or {}).get("avg") for tag in
              ("request_count", "error_request_count", "good_request_count")}
    row["request_count"] = counts["request_count"]
    row["error_request_count"] = counts["error_request_count"]
    sent = (counts["request_count"] or 0) + (counts["error_request_count"] or 0)
    good = counts["good_request_count"]
    row["goodput_ratio"] = None if good is None or not sent else good / sent
    return row


@dataclass
class VariationResult:
    """Every trial of one variation: exit codes, directories and headline figures."""

    variation: Variation
    trials: list[dict[str, Any]] = field(default_factory=list)

    def row(self, level: float) -> dict[str, Any]:
        """The variation's sweep_summary row: per headline figure, the trial mean and (over ≥ 2 trials)
        std, the Student-t interval at ``level`` and the CV."""
        out: dict[str, Any] = {
            "variation_index": self.variation.index,
            "variation_label": self.variation.label,
            "variation_values": self.variation.values,
            "trials": len(self.trials),
            "is_complete": all(t.get("is_complete", True) for t in self.trials),
            "incomplete_reason": next((f"trial {t['trial']}: {t['incomplete_reason']}"
                                       if len(self.trials) > 1 else t["incomplete_reason"]
                                       for t in self.trials if t.get("incomplete_reason")), None),
            "exit_codes": [t["exit_code"] for t in self.trials],
            "run_dirs": [t["run_dir"] for t in self.trials],
            "metrics": {},
        }
        names = list(self.trials[0]["headline"]) if self.trials else []
        for name in names:
            values = [t["headline"][name] for t in self.trials if t["headline"].get(name) is not None]
            out["metrics"][name] = t_interval(values, level) if values else None
        return out


class Sweep:
    """Runs variations x trials under one ``sweep_id`` and writes the sweep summary; see the module doc.

    ``cli`` is the profile command's typed flags without the sweep axes; ``start_target`` (when there is
    no --url) starts the server once, shared by every run and stopped at the end.
    """

    def __init__(
        self,
        cli: Mapping[str, Any],
        config_file: str | None,
        registry: PluginRegistry,
        *,
        argv: Sequence[str],
        tokenizer: Any,
        start_target: Callable[[], Any] | None,
        after_summary: Callable[[Path], Any] | None = None,
    ) -> None:
        self.cli = dict(cli)
        self.after_summary = after_summary
        """Called with the root directory once sweep_summary.json is written (``--report``: the sweep's
        report); what it raises is logged, never the sweep's failure."""
        self.config_file = config_file
        self.registry = registry
        self.argv = list(argv)
        self.tokenizer = tokenizer
        self.start_target = start_target
        self.sweep_id = uuid.uuid4().hex[:12]
        self.results: list[VariationResult] = []
        self.base = self.config_for({})
        self.state: RunState | None = None
        self.api_server: Any = None
        self.search: dict[str, Any] | None = None
        """The --search-max-load answer, written into the summary as ``search``."""
        self._target: Any = None

    # -- configuration ---------------------------------------------------------------------------

    def config_for(self, values: Mapping[str, Any]) -> ProfileConfig:
        """The validated config of one variation (UsageError naming the flag when a value does not fit)."""
        from inferload.engine.preflight import check_plugins

        config = ProfileConfig.load({**self.cli, **values}, self.config_file, registry=self.registry
                                    ).with_plugin_defaults(self.registry)
        check_plugins(config, self.registry)
        return config

    def root(self, kind: str) -> Path:
        """``<artifact-dir>/<model>-<endpoint-type>-<kind>``: kind is ``sweep``, ``search`` or, for trials
        of one configuration, its stimulus (``concurrency4``)."""
        if kind == self.base.stimulus:
            return artifact_dir_for(self.base)
        base = Path(self.base.artifact_dir).expanduser().absolute()
        return base / f"{model_dir_name(self.base.model or 'model')}-{self.base.endpoint_type}-{kind}"

    # -- running ---------------------------------------------------------------------------------

    def run(self, variations: Sequence[Variation], kind: str) -> int:
        """Validate every variation, then run them all; write the summary; the exit code of the sweep
        (0 unless a run was interrupted, which ends the sweep with its code, or stopped early by a run
        guard, e.g. the server refused the credentials or went away, which ends it with 1)."""
        for variation in variations:
            self.config_for(variation.values)  # bad input fails before any server starts
        self.open(kind, len(variations))
        try:
            for variation in variations:
                code = self.run_variation(variation, len(variations))
                if code >= 128:
                    return code
                if self.state is not None and self.state.stopped_early:
                    left = len(variations) - variation.index - 1
                    log.error("sweep %s ended at variation %d: its run stopped early (the line above says "
                              "why), so the %d variation(s) after it were not run", self.sweep_id,
                              variation.index, left)
                    return EXIT_RUN_FAILED
            return EXIT_OK
        finally:
            self.close()

    def open(self, kind: str, count: int | None) -> None:
        """Create the root directory (an earlier sweep's moved beside it: a sweep owns it), the shared live
        state and API."""
        from inferload.runstate import RunInfo, RunState

        self.kind = kind
        self.directory = self.root(kind)
        self.state = RunState(run_info=RunInfo(benchmark_id="", sweep_id=self.sweep_id, cli_command=""),
                              config=self.base, artifact_dir=self.directory)
        self.count = count
        if self.base.api_port is not None:
            from inferload.engine.live_api import open_api_host

            # bound before the directory is emptied: a port in use leaves a previous sweep's results alone
            self.api_server = open_api_host(self.registry, self.state, host=self.base.api_host,
                                            port=self.base.api_port)
            self.api_server.bind()
        kept = clear_run_dir(self.directory)
        if kept is not None:
            log.warning("%s held an earlier %s's files: moved them to %s", self.directory, kind, kept)
        if self.api_server is not None:
            self.api_server.start()
        if self.start_target is not None:
            self._target = self.start_target()

    def close(self) -> None:
        """Write the summary, linger the API as a single run does, stop what :meth:`open` started."""
        try:
            if self.results:
                self.write_summary({"search": self.search} if self.search else None)
                if self.after_summary is not None:
                    try:
                        self.after_summary(self.directory)
                    except Exception as exc:  # noqa: BLE001 - the runs and their summary are already on disk
                        log.warning("the sweep's report was not written: %s: %s", type(exc).__name__, exc)
            if self.api_server is not None and self.state is not None:
                self.state.sweep = {**(self.state.sweep or {}), "finished": True}
                linger = self.base.api_linger
                if linger > 0:
                    log.info("results served at %s for %s", self.api_server.url,
                             "ever (Ctrl+C ends it)" if math.isinf(linger) else f"{linger:g} s")
                    deadline = time.monotonic() + linger
                    with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C ends the linger, as in a run
                        while time.monotonic() < deadline:
                            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        finally:
            if self.api_server is not None:
                self.api_server.stop()
            if self._target is not None:
                self._target.stop()

    def run_variation(self, variation: Variation, count: int | None) -> int:
        """Every trial of ``variation``; returns the last exit code (≥ 128: interrupted)."""
        from inferload.engine.runner import run_profile
        from inferload.runstate import RunSlot

        config = self.config_for(variation.values)
        trials = config.options(SweepOptions).num_profile_runs
        result = VariationResult(variation)
        self.results.append(result)
        vdir = self.directory if self.kind == self.base.stimulus else self.directory / variation.dirname
        code = EXIT_OK
        for trial in range(trials):
            run_dir = vdir / f"trial{trial:02d}" if trials > 1 else vdir
            assert self.state is not None
            self.state.sweep = {
                "sweep_id": self.sweep_id, "kind": self.kind, "variation_index": variation.index,
                "variation_count": count, "variation_label": variation.label,
                "variation_values": variation.values, "trial": trial, "num_trials": trials,
                "variations_done": len(self.results) - 1,
            }
            slot = RunSlot(
                identity={"sweep_id": self.sweep_id, "trial": trial, "variation_label": variation.label,
                          "variation_index": variation.index, "variation_values": variation.values},
                artifact_dir=run_dir, state=self.state, api_shared=self.api_server is not None)
            sys.stderr.write(f"inferload: sweep {self.sweep_id}: variation {variation.index} "
                             f"({variation.label}), trial {trial + 1}/{trials}\n")
            target = self._target
            code = run_profile(config.model_copy(update={"url": target.url}) if target else config,
                               self.registry, argv=self.argv, tokenizer=self.tokenizer, slot=slot)
            results = self.state.results or {}
            reason = incomplete_reason(results) or (f"interrupted (exit code {code})" if code >= 128
                                                     else None)
            result.trials.append({"trial": trial, "exit_code": code, "headline": headline(results),
                                  "is_complete": reason is None, "incomplete_reason": reason,
                                  "run_dir": run_dir.relative_to(self.directory).as_posix() or ".",
                                  "benchmark_id": self.state.run_info.benchmark_id})
            if code >= 128 or self.state.stopped_early:
                break
        return code

    # -- summary ---------------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """The sweep_summary.json document (see docs/sweeps.md)."""
        options = self.base.options(SweepOptions)
        level = options.confidence_level
        rows = [result.row(level) for result in self.results]
        warnings = []
        cut = missing_variations({"variation_count": self.count, "variations": rows})
        if cut is not None:
            warnings.append(f"the sweep is incomplete: {cut}; its summary and charts cover those only")
        for row in rows:
            if not row["is_complete"]:
                warnings.append(f"variation {row['variation_index']} ({row['variation_label']}) is "
                                f"incomplete: {row_reason(row)}; its figures cover part of the load only")
            for name, block in row["metrics"].items():
                if block and block["cv"] is not None and block["cv"] > CV_WARNING:
                    warnings.append(f"variation {row['variation_index']} ({row['variation_label']}): "
                                    f"{name} varies by CV {block['cv']:.0%} across {block['n']} trials "
                                    f"(over {CV_WARNING:.0%}); run more trials or longer runs")
        return {"sweep_id": self.sweep_id, "kind": self.kind, "run_label": self.base.run_label,
                "variation_count": self.count,
                "is_complete": cut is None and all(row["is_complete"] for row in rows),
                "num_profile_runs": options.num_profile_runs, "confidence_level": level,
                "axes": sorted({name for r in self.results for name in r.variation.values}),
                "variations": rows, "warnings": warnings}

    def write_summary(self, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Write sweep_summary.json and .csv in the root directory, print the table; returns the doc."""
        doc = self.summary()
        doc.update(extra or {})
        write_artifact(self.directory, "sweep_summary.json", json.dumps(json_safe(doc), indent=2) + "\n")
        write_artifact(self.directory, "sweep_summary.csv", summary_csv(doc))
        for warning in doc["warnings"]:
            log.warning("%s", warning)
        sys.stdout.write(summary_table(doc))
        log.info("sweep summary written to %s", self.directory / "sweep_summary.json")
        return doc


def summary_csv(doc: Mapping[str, Any]) -> str:
    """One CSV row per variation: index, label, each axis value, trials, ``is_complete`` and
    ``incomplete_reason``, then for each figure its mean (``NAME``) and, with trials, ``NAME.std``,
    ``NAME.ci_low``, ``NAME.ci_high``, ``NAME.cv``."""
    rows = doc["variations"]
    axes = list(doc["axes"])
    names = list(rows[0]["metrics"]) if rows else []
    spread = doc["num_profile_runs"] > 1
    header = ["variation_index", "variation_label", *axes, "trials", "is_complete", "incomplete_reason"]
    for name in names:
        header += [name, *([f"{name}.std", f"{name}.ci_low", f"{name}.ci_high", f"{name}.cv"] if spread
                           else [])]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        line = [row["variation_index"], row["variation_label"],
                *[row["variation_values"].get(a, "") for a in axes], row["trials"],
                str(row.get("is_complete", True)).lower(), row.get("incomplete_reason") or ""]
        for name in names:
            block = row["metrics"].get(name) or {}
            keys = ["mean", *(["std", "ci_low", "ci_high", "cv"] if spread else [])]
            line += ["" if block.get(k) is None else block[k] for k in keys]
        writer.writerow(line)
    return out.getvalue()


def summary_table(doc: Mapping[str, Any]) -> str:
    """The console view of the summary: one line per variation, throughput and latency means (± the
    interval's half width when there are trials)."""
    shown = ("request_throughput.avg", "output_token_throughput.avg", "time_to_first_token.p99",
             "request_latency.p99", "goodput_ratio")
    order = ", rows by load (first column: probe order)" if doc["kind"] == "search" else ""
    cut = missing_variations(doc)
    ran = f"{len(doc['variations'])} variation(s)" if cut is None else f"{cut} {INCOMPLETE_MARK}"
    lines = [f"sweep {doc['sweep_id']} ({doc['kind']}): {ran}{order}",
             "  ".join(["variation".ljust(28), *[name.ljust(28) for name in shown]])]
    for row in table_rows(doc):
        mark = "" if row.get("is_complete", True) else f" {INCOMPLETE_MARK}"
        cells = [f"{row['variation_index']} {row['variation_label']}{mark}".ljust(28)]
        for name in shown:
            block = row["metrics"].get(name) or {}
            mean = block.get("mean")
            text = "-" if mean is None else plain_number(mean)
            if block.get("ci_high") is not None:
                text += f" ±{plain_number(block['ci_high'] - mean, 2)}"
            cells.append(text.ljust(28))
        lines.append("  ".join(cells))
    return "\n".join(lines) + "\n"
