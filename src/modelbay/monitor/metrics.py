"""Prometheus metrics of a server, correct across its worker processes.

``modelbay serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder before its
workers start; each worker then writes its values to memory-mapped files there and
``/metrics`` merges them (prometheus-client's multiprocess mode). A single process
(tests, an embedded app) keeps them in its own registry. Metrics are made per
:class:`Metrics` instance: nothing is registered at import time.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = ["CONTENT_TYPE_LATEST", "Metrics", "multiprocess_dir"]

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384)
VALUE_SAMPLE = 64  # regression values observed per model call (a sample, to stay cheap)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    """Every metric a server exports. ``render()`` gives the Prometheus text format."""

    def __init__(self) -> None:
        self.multiprocess = multiprocess_dir() is not None
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        dv = ["deployment", "version"]
        self.http_requests = Counter(
            "modelbay_http_requests",
            "HTTP requests by route and status",
            ["route", "status"],
            registry=r,
        )
        self.requests = Counter(
            "modelbay_inference_requests",
            "Inference requests by deployment, version and outcome (ok or the error's name)",
            [*dv, "outcome"],
            registry=r,
        )
        self.latency = Histogram(
            "modelbay_inference_duration_seconds",
            "Time from a request's arrival at the data plane to its answer",
            dv,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue = Histogram(
            "modelbay_inference_queue_seconds",
            "Time a request waited in the batcher",
            dv,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.model = Histogram(
            "modelbay_model_call_seconds",
            "Duration of one (merged) model call",
            dv,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch = Histogram(
            "modelbay_batch_rows", "Rows per model call", dv, buckets=BATCH_BUCKETS, registry=r
        )
        self.batch_requests = Histogram(
            "modelbay_batch_requests",
            "Requests merged into one model call",
            dv,
            buckets=BATCH_BUCKETS[:10],
            registry=r,
        )
        self.inflight = Gauge(
            "modelbay_inflight_requests",
            "Inference requests being answered",
            ["deployment"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.load = Gauge(
            "modelbay_model_load_seconds",
            "Time to load a version's artifact",
            dv,
            registry=r,
            multiprocess_mode="max",
        )
        self.warmup = Gauge(
            "modelbay_model_warmup_seconds",
            "Time of a version's warm-up prediction",
            dv,
            registry=r,
            multiprocess_mode="max",
        )
        self.predicted = Counter(
            "modelbay_predictions",
            "Predicted rows by class (classifiers and clusterers)",
            [*dv, "label"],
            registry=r,
        )
        self.values = Histogram(
            "modelbay_prediction_value",
            f"Predicted values of regressors (up to {VALUE_SAMPLE} a model call)",
            dv,
            buckets=(-1e3, -100, -10, -1, 0, 1, 10, 100, 1e3, 1e4, 1e5),
            registry=r,
        )
        self.drift = Gauge(
            "modelbay_drift_score",
            "Latest drift statistic per feature and test (PSI, KS, chi-squared)",
            ["deployment", "feature", "test"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.quality = Gauge(
            "modelbay_live_quality",
            "Latest live quality from feedback, per version and metric",
            [*dv, "metric"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.logged = Counter(
            "modelbay_prediction_log_entries", "Prediction log entries written", registry=r
        )
        self.dropped = Counter(
            "modelbay_prediction_log_dropped",
            "Prediction log entries dropped (queue full or database failing)",
            ["reason"],
            registry=r,
        )
        self.alerts = Counter(
            "modelbay_alert_events", "Alert events by rule and state", ["rule", "state"], registry=r
        )
        self._children: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._http: dict[tuple[str, int], Any] = {}
        self._calls: dict[tuple[str, str], tuple[Any, ...]] = {}

    def endpoint(self, deployment: str, version: str) -> tuple[Any, ...]:
        """The per-(deployment, version) children, looked up once (``labels()`` is slow)."""
        key = (deployment, version)
        found = self._children.get(key)
        if found is None:
            found = (
                self.requests.labels(deployment, version, "ok"),
                self.latency.labels(deployment, version),
                self.queue.labels(deployment, version),
                self.inflight.labels(deployment),
            )
            if len(self._children) > 1000:
                self._children.clear()
            self._children[key] = found
        return found

    def http(self, route: str, status: int) -> None:
        """One answered HTTP request, by route template and status."""
        key = (route, status)
        child = self._http.get(key)
        if child is None:
            child = self._http[key] = self.http_requests.labels(route, str(status))
        child.inc()

    def model_call(
        self,
        deployment: str,
        version: str,
        labels: np.ndarray,
        rows: int,
        requests: int,
        seconds: float,
        task: str,
    ) -> None:
        """One merged model call: its duration, size and what it predicted."""
        key = (deployment, version)
        found = self._calls.get(key)
        if found is None:
            found = self._calls[key] = (
                self.model.labels(deployment, version),
                self.batch.labels(deployment, version),
                self.batch_requests.labels(deployment, version),
                self.values.labels(deployment, version),
                {},
            )
        model, batch, batch_requests, values, classes = found
        model.observe(seconds)
        batch.observe(rows)
        batch_requests.observe(requests)
        if task == "regression":
            sample = labels[:: max(1, len(labels) // VALUE_SAMPLE)][:VALUE_SAMPLE]
            for v in np.asarray(sample, dtype=np.float64).tolist():
                values.observe(v)
            return
        if len(labels) == 1:
            kinds, counts = labels, np.ones(1, dtype=np.int64)
        else:
            kinds, counts = np.unique(labels, return_counts=True)
        for label, n in zip(kinds.tolist(), counts.tolist(), strict=True):
            child = classes.get(label)
            if child is None:
                child = classes[label] = self.predicted.labels(deployment, version, str(label))
            child.inc(n)

    def drift_result(self, found: dict[str, Any]) -> None:
        """Set the drift gauges from a drift result (per feature: PSI and the test's statistic)."""
        for f in found["features"]:
            self.drift.labels(found["deployment"], f["feature"], "psi").set(f["psi"])
            self.drift.labels(found["deployment"], f["feature"], f["test"]).set(f["statistic"])

    def quality_result(self, found: dict[str, Any]) -> None:
        """Set the live quality gauges from a quality result."""
        for version, q in found["versions"].items():
            for metric, value in q["live"].items():
                self.quality.labels(found["deployment"], version, metric).set(value)

    def render(self) -> bytes:
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return bytes(generate_latest(registry))
        return bytes(generate_latest(self.registry))

    @staticmethod
    def process_exited() -> None:
        """Tell the multiprocess files this worker is gone (its live gauges stop counting)."""
        if multiprocess_dir() is not None:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())
