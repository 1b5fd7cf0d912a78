"""Server metrics in Prometheus text format, named like vLLM's so scrapers built for vLLM work unchanged.

The hot path only bumps plain integers and bucket counts; prometheus-client is imported on the first
scrape and reads them through a custom collector, so serving pays no locking and start-up stays fast.

Series (all labelled ``model_name``): ``vllm:num_requests_running`` (encoder requests in their prefill
pass included), ``vllm:num_requests_waiting``,
``vllm:kv_cache_usage_perc`` (0-1: tokens held by running sequences over max_running_seqs x max_model_len)
(gauges),
``vllm:prompt_tokens_total``, ``vllm:generation_tokens_total``, ``vllm:request_success_total``
(+ ``finished_reason``; an encoder request counts as ``stop``),
``vllm:prefix_cache_queries_total`` and ``vllm:prefix_cache_hits_total`` (prompt
tokens looked up in / served from the prefix cache; with ``--kv-cache-blocks``) (counters),
``vllm:time_to_first_token_seconds``,
``vllm:time_per_output_token_seconds``, ``vllm:e2e_request_latency_seconds``,
``vllm:request_queue_time_seconds`` (histograms), and ``inferload_sim:faults_injected_total`` (+ ``kind``).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import Any

TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
                20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)
TPOT_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
                20.0, 40.0, 80.0)
LATENCY_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0,
                   240.0, 480.0, 960.0, 1920.0, 7680.0)


class Histogram:
    """Cumulative-bucket histogram state: a bisect and two additions per observation."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def buckets(self) -> list[tuple[str, int]]:
        """``(le, cumulative count)`` pairs ending with ``+Inf``, as Prometheus wants them."""
        total = 0
        result = []
        for bound, count in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            total += count
            result.append((bound, total))
        return result


class ServerMetrics:
    """Counters and histograms the server updates; ``gauges()`` returns (running, waiting, KV-cache use
    0-1) at scrape time."""

    def __init__(self, model_name: str, gauges: Callable[[], tuple[int, int, float]]) -> None:
        self.model_name = model_name
        self.gauges = gauges
        self.prompt_tokens = 0
        self.generation_tokens = 0
        self.prefix_cache_queries = 0
        self.prefix_cache_hits = 0
        self.success: dict[str, int] = {}
        self.faults: dict[str, int] = {}
        self.ttft = Histogram(TTFT_BUCKETS)
        self.tpot = Histogram(TPOT_BUCKETS)
        self.e2e = Histogram(LATENCY_BUCKETS)
        self.queue = Histogram(LATENCY_BUCKETS)
        self._registry: Any = None

    def request_finished(
        self,
        *,
        prompt_tokens: int,
        completion_tokens: int,
        finish_reason: str,
        received_ns: int,
        scheduled_ns: int,
        first_token_ns: int,
        finished_ns: int,
    ) -> None:
        """Account one completed generation (all times ``time.time_ns()``)."""
        self.prompt_tokens += prompt_tokens
        self.generation_tokens += completion_tokens
        self.success[finish_reason] = self.success.get(finish_reason, 0) + 1
        self.queue.observe((scheduled_ns - received_ns) / 1e9)
        self.ttft.observe((first_token_ns - received_ns) / 1e9)
        self.e2e.observe((finished_ns - received_ns) / 1e9)
        if completion_tokens > 1:
            self.tpot.observe((finished_ns - first_token_ns) / 1e9 / (completion_tokens - 1))

    def request_encoded(self, *, prompt_tokens: int, received_ns: int, scheduled_ns: int,
                        finished_ns: int) -> None:
        """Account one completed encoder request (embeddings, rerank) as vLLM does a pooling request: its
        prompt tokens, one ``request_success{finished_reason="stop"}``, its queue time and end-to-end
        latency (no token, so no TTFT or TPOT observation). Times are ``time.time_ns()``."""
        self.prompt_tokens += prompt_tokens
        self.success["stop"] = self.success.get("stop", 0) + 1
        self.queue.observe((scheduled_ns - received_ns) / 1e9)
        self.e2e.observe((finished_ns - received_ns) / 1e9)

    def prefix_cache_looked_up(self, tokens: int, hits: int) -> None:
        """Account one prompt's prefix-cache lookup: ``tokens`` looked up, ``hits`` of them cached."""
        self.prefix_cache_queries += tokens
        self.prefix_cache_hits += hits

    def fault_injected(self, kind: str) -> None:
        self.faults[kind] = self.faults.get(kind, 0) + 1

    def render(self) -> tuple[bytes, str]:
        """The exposition body and its content type."""
        from prometheus_client import CollectorRegistry
        from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

        if self._registry is None:
            self._registry = CollectorRegistry(auto_describe=False)
            self._registry.register(_Collector(self))
        return generate_latest(self._registry), CONTENT_TYPE_PLAIN_0_0_4


class _Collector:
    def __init__(self, metrics: ServerMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        m = self.metrics
        model = [m.model_name]
        running, waiting, kv_usage = m.gauges()
        for name, doc, value in (
            ("vllm:num_requests_running", "Number of requests in model execution batches.", running),
            ("vllm:num_requests_waiting", "Number of requests waiting to be processed.", waiting),
            ("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", kv_usage),
        ):
            family = GaugeMetricFamily(name, doc, labels=["model_name"])
            family.add_metric(model, value)
            yield family
        for name, doc, value in (
            ("vllm:prompt_tokens", "Number of prefill tokens processed.", m.prompt_tokens),
            ("vllm:generation_tokens", "Number of generation tokens processed.", m.generation_tokens),
            ("vllm:prefix_cache_queries", "Prefix cache queries, in terms of number of queried tokens.",
             m.prefix_cache_queries),
            ("vllm:prefix_cache_hits", "Prefix cache hits, in terms of number of cached tokens.",
             m.prefix_cache_hits),
        ):
            family = CounterMetricFamily(name, doc, labels=["model_name"])
            family.add_metric(model, value)
            yield family
        success = CounterMetricFamily("vllm:request_success", "Count of successfully processed requests.",
                                      labels=["model_name", "finished_reason"])
        for reason, count in sorted(m.success.items()):
            success.add_metric([m.model_name, reason], count)
        yield success
        faults = CounterMetricFamily("inferload_sim:faults_injected", "Faults the simulator injected.",
                                     labels=["model_name", "kind"])
        for kind, count in sorted(m.faults.items()):
            faults.add_metric([m.model_name, kind], count)
        yield faults
        for name, doc, hist in (
            ("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", m.ttft),
            ("vllm:time_per_output_token_seconds", "Histogram of time per output token in seconds.", m.tpot),
            ("vllm:e2e_request_latency_seconds", "Histogram of end to end request latency in seconds.",
             m.e2e),
            ("vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.",
             m.queue),
        ):
            family = HistogramMetricFamily(name, doc, labels=["model_name"])
            family.add_metric(model, hist.buckets(), hist.sum)
            yield family
