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
from itertools import chain
from typing import Any

import numpy as np
import orjson
import pandas as pd
from sqlalchemy import ColumnElement, and_, delete, func, select
from sqlalchemy.orm import Session

from modelbay.monitor.metrics import Metrics
from modelbay.registry.db import Database
from modelbay.registry.tables import FeedbackRow, PredictionRow

__all__ = ["LoggedRequest", "PredictionLog", "in_window", "logged_rows", "rows_of"]

CHUNK = 200  # rows per INSERT statement (11 parameters each; SQLite allows 32,766)

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
    rows: Any  # the validated rows: a float block or a DataFrame (logged as lists of values)
    names: list[str]
    labels: np.ndarray
    total: int = 0  # rows in the request (0: as many as logged); more than logged when strided


def rows_of(rows: Any, names: list[str]) -> list[list[Any]]:
    """Rows as lists in the signature's column order, with JSON-safe values (NaN: None)."""
    if isinstance(rows, np.ndarray):
        if rows.dtype == object:  # texts: one string column
            return list(rows.reshape(len(rows), -1).tolist())
        return [[None if v != v else v for v in row] for row in rows.astype(np.float64).tolist()]
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    frame = frame[[n for n in names if n in frame.columns]]
    values = frame.astype(object).where(frame.notna(), None).to_numpy().tolist()
    return [[_plain(v) for v in row] for row in values]


def _inputs(rows: Any, names: list[str]) -> tuple[str | None, bytes | None]:
    """(JSON rows, None) for a frame; (None, little-endian float64 bytes) for a numeric block,
    which costs nothing to encode or decode."""
    if isinstance(rows, np.ndarray) and rows.dtype != object:
        return None, np.ascontiguousarray(rows, dtype="<f8").tobytes()
    return orjson.dumps(rows_of(rows, names), default=str).decode(), None


def logged_rows(inputs: list[Any] | None, block: bytes | None, width: int) -> list[list[Any]]:
    """The rows a log entry holds, as lists of values in the signature's column order."""
    if block is not None:
        values = np.frombuffer(block, dtype="<f8").reshape(-1, max(width, 1))
        return [[None if v != v else v for v in row] for row in values.tolist()]
    return list(inputs or [])


def _times(entries: list[LoggedRequest], pg: bool) -> list[Any]:
    """Every entry's time as the driver takes it: a datetime for PostgreSQL, else the text
    SQLAlchemy stores in SQLite (each second's text formatted once)."""
    if pg:
        return [datetime.fromtimestamp(e.at, UTC) for e in entries]
    seconds: dict[int, str] = {}
    out = []
    for e in entries:
        whole = int(e.at)
        text = seconds.get(whole)
        if text is None:
            text = seconds[whole] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(whole))
        out.append(f"{text}.{int((e.at - whole) * 1e6):06d}")
    return out


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
        batch: int = 2000,
        interval_s: float = 0.5,
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
        if len(self._queue) == self.batch:  # once, as it fills: the writer drains it all
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
                self._next_trim = time.monotonic() + 600
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
                self._insert(entries)
            except Exception as exc:
                self._drop(len(entries), "database")
                log.warning("prediction log: dropped %d entries: %s", len(entries), exc)
                continue
            done += len(entries)
            self.written += len(entries)
            if self.metrics is not None:
                self.metrics.logged.inc(len(entries))
        return done

    def _insert(self, entries: list[LoggedRequest]) -> None:
        """Multi-row INSERTs of rows serialized by orjson, straight to the driver.

        The ORM's per-row work, and then a driver call per row (each one releasing and
        taking back the GIL), slowed the requests being served; one statement of
        ``CHUNK`` rows needs one driver call.
        """
        pg = self.db.dialect == "postgresql"
        mark = "%s" if pg else "?"
        json_mark = f"{mark}::json" if pg else mark
        row_marks = f"({', '.join([mark] * 8)}, {json_mark}, {mark}, {json_mark})"
        head = (
            "INSERT INTO prediction_log (request_id, at, deployment, model, version, actor, "
            "latency_ms, rows, inputs, inputs_f64, outputs) VALUES "
        )
        with self.db.engine.begin() as conn:
            # a statement's parameters are built just before it runs: the writer holds the
            # GIL while it builds them and lets go while the driver runs the statement, so
            # the event loop never waits for more than one chunk's worth
            for start in range(0, len(entries), CHUNK):
                part = entries[start : start + CHUNK]
                chunk = _block_params(part, pg) or _entry_params(part, pg)
                sql = head + ", ".join([row_marks] * len(chunk))
                conn.exec_driver_sql(sql, tuple(chain.from_iterable(chunk)))

    def trim(self) -> int:
        """Remove entries older than the retention, then the oldest past ``max_rows``."""
        cutoff = datetime.now(UTC) - timedelta(days=self.retention_days)
        with self.db.session() as s:
            # the log has no index on time: look only below the id where the cutoff falls
            below = _first_id(s, cutoff + timedelta(seconds=FLUSH_MARGIN_S))
            old = delete(PredictionRow).where(PredictionRow.id < below, PredictionRow.at < cutoff)
            removed = _count(s.execute(old))
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


def _entry_params(entries: list[LoggedRequest], pg: bool) -> list[tuple[Any, ...]]:
    """The INSERT parameters of any entries, one at a time."""
    params: list[tuple[Any, ...]] = []
    for e, when in zip(entries, _times(entries, pg), strict=True):
        labels = e.labels
        outputs = (
            orjson.dumps(np.ascontiguousarray(labels), option=orjson.OPT_SERIALIZE_NUMPY)
            if labels.dtype.kind in "fiub"
            else orjson.dumps([_plain(v) for v in labels])
        )
        params.append(_row(e, when, len(labels), *_inputs(e.rows, e.names), outputs))
    return params


def _block_params(entries: list[LoggedRequest], pg: bool) -> list[tuple[Any, ...]] | None:
    """The INSERT parameters of entries whose rows are float blocks of one width and whose
    labels are numbers (every numeric model), or None for others.

    The writer holds the GIL that the event loop needs while it builds these, so what it
    does per entry is what logging costs a request: here the rows and labels of all the
    entries (a statement's worth) are converted in two numpy calls, and each entry only
    slices them.
    """
    if not all(isinstance(e.rows, np.ndarray) for e in entries):
        return None  # frames are logged as JSON rows, in the signature's column order
    try:
        block = np.concatenate([e.rows for e in entries])
        labels = np.concatenate([e.labels for e in entries])
    except (ValueError, TypeError, AttributeError):
        return None  # mixed widths or dimensions: one at a time
    if (
        block.ndim != 2
        or block.dtype.kind != "f"
        or labels.ndim != 1
        or labels.dtype.kind not in "iuf"
    ):
        return None
    raw = np.ascontiguousarray(block, dtype="<f8").tobytes()
    row_bytes = 8 * block.shape[1]
    values = labels.tolist()
    dumps = orjson.dumps
    params: list[tuple[Any, ...]] = []
    at, done = 0, 0
    for e, when in zip(entries, _times(entries, pg), strict=True):
        n = len(e.labels)
        blob = raw[at : at + n * row_bytes]
        params.append(_row(e, when, n, None, blob, dumps(values[done : done + n])))
        at += n * row_bytes
        done += n
    return params


def _row(
    e: LoggedRequest, when: Any, n: int, inputs: str | None, blob: bytes | None, outputs: bytes
) -> tuple[Any, ...]:
    """One entry's INSERT parameters, in the statement's column order."""
    return (
        e.request_id,
        when,
        e.deployment,
        e.model,
        e.version,
        e.actor,
        e.latency_s * 1000.0,
        e.total or n,
        inputs,
        blob,
        outputs.decode(),
    )


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


FLUSH_MARGIN_S = 60.0  # how far out of order entries of several writers may be in id order


def in_window(deployment: str, since: datetime, session: Session) -> ColumnElement[bool]:
    """The condition "this deployment's entries since ``since``", found without an index on
    time: ids grow with time (up to the writers' flush delays), so the first id of the
    window is found by a binary search over the primary key, and the rest is a range scan.
    A further index cost about a microsecond per logged request."""
    first = _first_id(session, since - timedelta(seconds=FLUSH_MARGIN_S))
    return and_(
        PredictionRow.id >= first,
        PredictionRow.deployment == deployment,
        PredictionRow.at >= since,
    )


def _first_id(s: Session, since: datetime) -> int:
    lo = s.scalar(select(func.min(PredictionRow.id)))
    hi = s.scalar(select(func.max(PredictionRow.id)))
    if lo is None or hi is None:
        return 0
    hi += 1
    while lo < hi:
        mid = (lo + hi) // 2
        at = s.scalar(
            select(PredictionRow.at)
            .where(PredictionRow.id >= mid)
            .order_by(PredictionRow.id)
            .limit(1)
        )
        if at is None or at >= since:
            hi = mid
        else:
            lo = mid + 1
    return int(lo)
