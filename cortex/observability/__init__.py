"""Observability: logs, Prometheus metrics, live telemetry, the dashboard and the
drawn actor tree."""
