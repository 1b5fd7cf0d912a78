"""Scrape server metrics and GPU telemetry during a run, off the hot path (lifecycle plugin).

Sources: the target's ``{url}/metrics`` (sent the run's own auth headers) unless ``--no-server-metrics``,
every ``--server-metrics URL``, and every ``--gpu-telemetry URL`` unless ``--no-gpu-telemetry``. Each source
gets its own daemon thread and ``httpx.Client`` in the parent process, so a slow or dead source delays
neither a request (workers are other processes) nor another source. Scrapes happen every
``--server-metrics-interval`` seconds, plus one final scrape at ``run_stopping``; a scrape slot missed
because the previous scrape overran is skipped, not queued. ``run_started`` waits for every source's first
scrape (the baseline that counters and histograms are measured from), at most one scrape timeout, before
the first request goes out: no request is ever delayed by a scrape.

A failed scrape (refused, timeout after max(1 s, 2 x interval), HTTP status other than 200, a body that is
not Prometheus text) is recorded as a gap in the store; the first failure of a source is logged once as a
warning (as info for the discovered ``{url}/metrics`` that never answered: many servers have none).
A source whose first scrape answers 404 or 501 exposes no metrics: one line says so, quoting the server's
own error message when its body has one (llama.cpp's names its ``--metrics`` switch), and it is not scraped
again (a later 404, after scrapes that worked, is a gap like any other failure).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from inferload import hookimpl
from inferload.redact import redact_url
from inferload.types import OptionsSpec
from inferload.urls import server_route_url
from inferload_plugins.server_metrics.store import STATE_NAME
from inferload_plugins.shared.server_metrics_options import SERVER_METRICS_OPTIONS, ServerMetricsOptions

if TYPE_CHECKING:
    from inferload.runstate import RunState

log = logging.getLogger(__name__)
said = logging.getLogger("inferload.server_metrics")
"""The one line about a source that exposes nothing: under ``inferload``, so on the console and in the log
file at info level."""

NOT_EXPOSED = (404, 501)
"""Statuses of a first scrape that mean the source has no metrics at all (not a passing failure)."""

_POLLERS: dict[str, list[_Poller]] = {}
"""benchmark_id -> the pollers of that run (several runs may share one process: sweeps, tests)."""


class _Poller(threading.Thread):
    def __init__(self, store: Any, url: str, label: str, *, kind: str, discovered: bool, interval: float,
                 headers: dict[str, str]) -> None:
        super().__init__(name=f"inferload-scrape-{label}", daemon=True)
        self.store, self.url, self.label, self.kind = store, url, label, kind
        self.discovered, self.interval, self.headers = discovered, interval, headers
        self.done = threading.Event()
        self.baseline = threading.Event()
        self.timeout = max(1.0, 2 * interval)
        self.absent = False
        """The first scrape answered 404 or 501: the source exposes nothing and is not scraped again."""
        store.add_source(label, kind, discovered=discovered)

    def run(self) -> None:
        import httpx

        with httpx.Client(timeout=self.timeout, headers=self.headers, follow_redirects=True) as client:
            next_at = time.monotonic()
            while not self.done.is_set():
                self.scrape(client)
                self.baseline.set()
                if self.absent:
                    return
                next_at += self.interval
                now = time.monotonic()
                if next_at < now:  # overran: skip the missed slots
                    next_at = now + self.interval - (now - next_at) % self.interval
                self.done.wait(next_at - now)
            self.scrape(client)  # the final scrape: counters and histograms up to the last response

    def scrape(self, client: Any) -> None:
        from inferload_plugins.server_metrics.exposition import ScrapeError

        timestamp = time.time_ns()
        try:
            response = client.get(self.url)
            if response.status_code in NOT_EXPOSED and not self.store.sources[self.label].scrapes_ok:
                self._not_exposed(response.status_code, timestamp, server_says(response.content))
                return
            if response.status_code != 200:
                raise ScrapeError(f"HTTP {response.status_code}")
            self.store.ingest(self.label, response.text, timestamp)
        except Exception as exc:  # noqa: BLE001 - any failure is a gap, never the run's end
            error = str(exc) if isinstance(exc, ScrapeError) else f"{type(exc).__name__}: {exc}"
            error = redact_url(error)[:300] if error else type(exc).__name__
            if not isinstance(exc, ScrapeError):
                error = self._other_scheme() or error
            if self.store.failed(self.label, error, timestamp):
                quiet = self.discovered and not self.store.sources[self.label].scrapes_ok
                (log.info if quiet else log.warning)(
                    "%s from %s: scrape failed (%s); the run goes on and the gap is recorded",
                    "GPU telemetry" if self.kind == "gpu" else "server metrics", self.label, error)

    def _other_scheme(self) -> str | None:
        """At a URL the user gave, failing at its first scrape below HTTP: when the source speaks the other
        protocol than its scheme (TLS on http://, plain on https://), that and the fix, and it is not
        scraped again (it would fail the same way every time); else None. A discovered source shares
        --url's scheme, which the start-up check has tested."""
        from inferload.engine.preflight import scheme_mismatch

        source = self.store.sources[self.label]
        if self.discovered or source.scrapes_ok or source.scrapes_failed:
            return None
        flag = "--gpu-telemetry" if self.kind == "gpu" else "--server-metrics"
        mismatch = scheme_mismatch(self.url, self.timeout, flag=flag)
        if mismatch is None:
            return None
        self.absent = True
        return f"{mismatch}; not scraped again"

    def _not_exposed(self, status: int, timestamp: int, message: str | None) -> None:
        """Record the one failed scrape of a source that exposes nothing, say so in one line, stop. The
        server's own error message, when its body has one, is quoted: it names the server's own switch
        (llama.cpp: "Start it with `--metrics`"), where a hint of ours could name a flag the server lacks."""
        self.absent = True
        self.store.failed(self.label, f"HTTP {status}: exposes no metrics, not scraped again", timestamp)
        what = "GPU telemetry" if self.kind == "gpu" else "server metrics"
        why = ("the server exposes none (--no-server-metrics skips this)"
               if self.discovered else "nothing is exposed there; check the URL")
        if message:
            why = f"the server says {message!r}; {why}"
        (said.info if self.discovered else said.warning)(
            "%s: %s answered %d; %s — not scraped", what, self.label, status, why)


_REASONS = {"", "not found", "not implemented"}
"""Messages that only repeat the status (FastAPI's ``{"detail": "Not Found"}``): not worth quoting."""


def server_says(body: bytes, limit: int = 160) -> str | None:
    """The message of a JSON error body (``{"error": {"message"}}``, ``{"error": "..."}``, ``{"message"}``,
    ``{"detail"}``: llama.cpp, OpenAI-style and FastAPI servers), on one line and at most ``limit``
    characters, redacted; None for any other body, and for one that only repeats the status."""
    import json

    try:
        obj = json.loads(body[:65536])
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    error = obj.get("error")
    message = error.get("message") if isinstance(error, dict) else error
    message = message if isinstance(message, str) else obj.get("message", obj.get("detail"))
    if not isinstance(message, str) or message.strip().lower().rstrip(".") in _REASONS:
        return None
    text = " ".join(message.split())
    text = "".join(c for c in text if c.isprintable())
    text = redact_url(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@hookimpl
def register_options() -> list[OptionsSpec]:
    return [SERVER_METRICS_OPTIONS]


def sources(state: RunState) -> list[tuple[str, str, bool]]:
    """(url, kind, discovered) of every source this run scrapes, in order, no URL twice."""
    config = state.config
    if config is None:
        return []
    options = config.options(ServerMetricsOptions)
    found: list[tuple[str, str, bool]] = []
    if not options.no_server_metrics:
        if config.base_url:
            # the server's /metrics beside its API (a --url ending in /v1 drops it), --url's query kept at
            # the end as for every request (Azure-style ?api-version=…): never ".../v1?api-version=1/metrics"
            found.append((server_route_url(config.base_url, "/metrics"), "server", True))
        found += [(url, "server", False) for url in options.server_metrics]
    if not options.no_gpu_telemetry:
        found += [(url, "gpu", False) for url in options.gpu_telemetry]
    unique: dict[str, tuple[str, str, bool]] = {}
    for url, kind, discovered in found:
        if url in unique and discovered is False:
            unique[url] = (url, unique[url][1], False)  # given explicitly as well: its failures count
        unique.setdefault(url, (url, kind, discovered))
    return list(unique.values())


@hookimpl
def run_started(state: RunState) -> None:
    """Start one poller per source."""
    store, config = state.plugin_state(STATE_NAME), state.config
    if store is None or config is None:
        return
    interval = config.options(ServerMetricsOptions).server_metrics_interval
    pollers = []
    for url, kind, discovered in sources(state):
        headers = config.headers_map if discovered else {}
        poller = _Poller(store, url, redact_url(url), kind=kind, discovered=discovered,
                         interval=interval, headers=headers)
        pollers.append(poller)
    _POLLERS[state.run_info.benchmark_id] = pollers
    if pollers:
        import httpx  # noqa: F401 - imported here, not in the threads, so the baseline scrape is prompt
    for poller in pollers:
        poller.start()
    for poller in pollers:
        poller.baseline.wait(poller.timeout + 1.0)
    scraped = [p.label for p in pollers if not p.absent]
    if scraped:
        log.info("scraping %s every %g s", ", ".join(scraped), interval)


@hookimpl
def run_stopping(state: RunState) -> None:
    """Take the final scrape of every source and stop."""
    _stop(state)


@hookimpl
def run_finished(state: RunState) -> None:
    """Stop pollers still running (a run that ended without ``run_stopping``), then delete the store's
    spool: the artifacts that read every scrape are written by now."""
    _stop(state)
    store = state.plugin_state(STATE_NAME)
    if store is not None:
        store.close()


def _stop(state: RunState) -> None:
    pollers = _POLLERS.pop(state.run_info.benchmark_id, [])
    for poller in pollers:
        poller.done.set()
    for poller in pollers:
        poller.join(poller.timeout + 1.0)
