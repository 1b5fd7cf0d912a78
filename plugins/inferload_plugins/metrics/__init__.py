"""Metric plugins, one module per family (latency, sequence, throughput, counts, goodput).

Definitions are documented in docs/metrics.md; the metrics engine (:mod:`inferload.metrics_engine`) calls
each ``compute`` directly, per request or once per run.
"""
