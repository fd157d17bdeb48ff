"""What a server's data plane and deployment manager report, turned into metrics and log entries."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd

from modelbay.monitor.metrics import Child, Metrics
from modelbay.monitor.predlog import LoggedRequest, PredictionLog
from modelbay.registry.audit import current_actor
from modelbay.serve.dataplane import PlaneHooks, Prediction
from modelbay.serve.manager import Served
from modelbay.serve.runtimes import Outputs

__all__ = ["ServingMonitor"]


class ServingMonitor(PlaneHooks):
    """Counts, times and logs every inference; the manager's hooks report loads and calls."""

    def __init__(
        self,
        metrics: Metrics,
        predlog: PredictionLog | None = None,
        max_rows: int = 100,
        rows_per_s: float = 5_000,
    ) -> None:
        self.metrics = metrics
        self.predlog = predlog
        self.max_rows = max(1, max_rows)  # rows logged per request; larger ones are strided
        # Rows logged per second, beyond one a request: a token bucket that strides large
        # requests further under load, so that the log's cost follows the request rate,
        # not the rows sent (every request still logs at least one row).
        self.rows_per_s = max(1.0, float(rows_per_s))
        self._tokens = self.rows_per_s
        self._refilled = time.monotonic()
        self._inflight: dict[str, Child] = {}  # per deployment, looked up once

    def begin(self, name: str) -> None:
        child = self._inflight.get(name)
        if child is None:
            child = self._inflight[name] = self.metrics.inflight.labels(name)
        child.value += 1

    def end(
        self,
        name: str,
        prediction: Prediction | None,
        error: BaseException | None,
        seconds: float,
    ) -> None:
        child = self._inflight.get(name)
        if child is not None:
            child.value -= 1
        if prediction is None:
            outcome = type(error).__name__ if error is not None else "unknown"
            self.metrics.requests.labels(name, "", outcome).inc()
            return
        served = prediction.served
        version = served.version
        ok, latency, queue = self.metrics.endpoint(name, version.version)
        ok.value += 1
        latency.observe(seconds)
        queue.observe(prediction.batch.queue_s)
        if prediction.novel:
            self.metrics.novel(name, version.version, prediction.novel)
        if self.predlog is not None and prediction.rows is not None:
            rows, labels = prediction.rows, prediction.outputs.predict
            extra = prediction.outputs.extra
            if labels.ndim != 1:
                if extra is not None and "tokens" in extra:
                    labels = extra["tokens"]  # embeddings: log token counts, not vectors
                else:  # an imported graph's tensor output: too large to log
                    labels = np.full(len(labels), None, dtype=object)
            total = len(labels)
            keep = self._budget(total)
            if total > keep:  # every k-th row: a fair sample, still in step with feedback
                k = math.ceil(total / keep)  # of this form, quality.aligned finds k again
                # copies: a view would keep the whole request body and batch alive in the queue
                rows = rows.iloc[::k] if isinstance(rows, pd.DataFrame) else rows[::k].copy()
                labels = labels[::k].copy()
            self.predlog.record(
                LoggedRequest(
                    prediction.request_id,
                    time.time(),
                    name,
                    version.model,
                    version.version,
                    current_actor.get() or "anonymous",
                    seconds,
                    rows,
                    version.signature.names,
                    labels,
                    total,
                )
            )

    def _budget(self, total: int) -> int:
        """How many of a request's ``total`` rows to log, and take them from the bucket."""
        if total == 1:
            self._tokens -= 1.0
            return 1
        now = time.monotonic()
        rate = self.rows_per_s
        self._tokens = min(rate, self._tokens + (now - self._refilled) * rate)
        self._refilled = now
        keep = max(1, min(total, self.max_rows, int(self._tokens)))
        self._tokens -= keep
        return keep

    def model_call(
        self, served: Served, outputs: Outputs, rows: int, requests: int, seconds: float
    ) -> None:
        self.metrics.model_call(
            served.name,
            served.version.version,
            outputs.predict,
            rows,
            requests,
            seconds,
            served.version.task,
        )

    def loaded(self, served: Served) -> None:
        v = str(served.version.version)
        self.metrics.load.labels(served.name, v).set(served.load_s)
        self.metrics.warmup.labels(served.name, v).set(served.warmup_s)
