"""Integrations with observability and experiment-tracking systems (OpenTelemetry, MLflow)."""
