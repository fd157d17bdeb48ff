"""The prediction log: a sample of requests, written in batches off the request path.

``record`` only appends to a bounded in-memory queue (a few hundred nanoseconds);
a background thread turns queued requests into rows and inserts them in batches.
When the queue is full, or the database fails, entries are dropped and counted
(``modelbay_prediction_log_dropped_total``): a request never waits for the log.
Old entries are removed by age and by count.
"""

from __future__ import annotations

import collections
import logging
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, func, insert, select

from modelbay.monitor.metrics import Metrics
from modelbay.registry.db import Database
from modelbay.registry.tables import FeedbackRow, PredictionRow

__all__ = ["LoggedRequest", "PredictionLog", "columns_of"]

log = logging.getLogger("modelbay.monitor")


@dataclass(slots=True)
class LoggedRequest:
    request_id: str
    at: float  # POSIX time
    deployment: str
    model: str
    version: int
    actor: str
    latency_s: float
    rows: Any  # the validated rows: a float block or a DataFrame
    names: list[str]
    labels: np.ndarray


def columns_of(rows: Any, names: list[str]) -> dict[str, list[Any]]:
    """Rows as ``{column: [values]}`` with JSON-safe values (NaN becomes None)."""
    if isinstance(rows, np.ndarray):
        block = rows.astype(np.float64, copy=False)
        out: dict[str, list[Any]] = {}
        for i, name in enumerate(names):
            col = block[:, i]
            out[name] = [None if v != v else float(v) for v in col.tolist()]
        return out
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    result: dict[str, list[Any]] = {}
    for name in frame.columns:
        values = frame[name].astype(object).where(frame[name].notna(), None).tolist()
        result[str(name)] = [_plain(v) for v in values]
    return result


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, pd.Timestamp | datetime):
        return v.isoformat()
    return v


class PredictionLog:
    def __init__(
        self,
        db: Database,
        metrics: Metrics | None = None,
        *,
        sample: float = 1.0,
        capacity: int = 10_000,
        batch: int = 500,
        interval_s: float = 0.25,
        retention_days: float = 30.0,
        max_rows: int = 1_000_000,
    ) -> None:
        self.db = db
        self.metrics = metrics
        self.sample = sample
        self.capacity = capacity
        self.batch = batch
        self.interval_s = interval_s
        self.retention_days = retention_days
        self.max_rows = max_rows
        self._queue: collections.deque[LoggedRequest] = collections.deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0
        self.written = 0
        self._next_trim = 0.0

    # -- the request path ------------------------------------------------------------------
    def record(self, entry: LoggedRequest) -> bool:
        """Queue a request for the log (or not, by the sample rate); never blocks."""
        if self.sample < 1.0 and random.random() >= self.sample:
            return False
        if len(self._queue) >= self.capacity:
            self._drop(1, "queue_full")
            return False
        self._queue.append(entry)
        if len(self._queue) >= self.batch:
            self._wake.set()
        return True

    def _drop(self, n: int, reason: str) -> None:
        self.dropped += n
        if self.metrics is not None:
            self.metrics.dropped.labels(reason).inc(n)

    # -- the writer --------------------------------------------------------------------------
    def start(self) -> PredictionLog:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="modelbay-predlog", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            self.flush()
            if time.monotonic() >= self._next_trim:
                self._next_trim = time.monotonic() + 60
                try:
                    self.trim()
                except Exception:
                    log.exception("trimming the prediction log failed")
        self.flush()

    def flush(self) -> int:
        """Write what is queued, in batches; returns the entries written."""
        done = 0
        while self._queue:
            entries = [self._queue.popleft() for _ in range(min(self.batch, len(self._queue)))]
            try:
                rows = [self._row(e) for e in entries]
                with self.db.engine.begin() as conn:
                    conn.execute(insert(PredictionRow), rows)
            except Exception as exc:
                self._drop(len(entries), "database")
                log.warning("prediction log: dropped %d entries: %s", len(entries), exc)
                continue
            done += len(entries)
            self.written += len(entries)
            if self.metrics is not None:
                self.metrics.logged.inc(len(entries))
        return done

    @staticmethod
    def _row(e: LoggedRequest) -> dict[str, Any]:
        labels = e.labels
        outputs = labels.tolist() if labels.dtype.kind in "fiub" else [_plain(v) for v in labels]
        return {
            "request_id": e.request_id,
            "at": datetime.fromtimestamp(e.at, UTC),
            "deployment": e.deployment,
            "model": e.model,
            "version": e.version,
            "actor": e.actor,
            "latency_ms": e.latency_s * 1000.0,
            "rows": len(labels),
            "inputs": columns_of(e.rows, e.names),
            "outputs": outputs,
        }

    def trim(self) -> int:
        """Remove entries older than the retention, then the oldest past ``max_rows``."""
        cutoff = datetime.now(UTC) - timedelta(days=self.retention_days)
        with self.db.session() as s:
            removed = _count(s.execute(delete(PredictionRow).where(PredictionRow.at < cutoff)))
            count = s.scalar(select(func.count()).select_from(PredictionRow)) or 0
            if count > self.max_rows:
                edge = s.scalar(
                    select(PredictionRow.id)
                    .order_by(PredictionRow.id.desc())
                    .offset(self.max_rows)
                    .limit(1)
                )
                if edge is not None:
                    removed += _count(
                        s.execute(delete(PredictionRow).where(PredictionRow.id <= edge))
                    )
            s.execute(delete(FeedbackRow).where(FeedbackRow.at < cutoff))
        return int(removed or 0)


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
