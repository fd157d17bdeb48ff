"""Monitoring: Prometheus metrics, the prediction log, feedback and live quality, drift, alerts, reports."""
