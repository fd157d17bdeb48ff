"""Feedback (ground truth by request id) and the live quality it gives, per version."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from modelbay.errors import NotFoundError, SchemaError
from modelbay.monitor.predlog import feedback_for, logged, logged_ids
from modelbay.registry.db import Database
from modelbay.registry.models import ModelCatalog
from modelbay.registry.tables import FeedbackRow

__all__ = ["FeedbackResult", "add_feedback", "aligned", "live_quality", "scores"]

MAX_FEEDBACK = 10_000
# how long ids not in the log yet are looked for again: a server's workers write the log every
# 0.5 s (``PredictionLog.interval_s``), so feedback sent right after its prediction may come
# before the prediction is written; four writes' time covers a loaded machine
LOG_WAIT_S = 2.0
LOG_POLL_S = 0.25


@dataclass(frozen=True)
class FeedbackResult:
    """What a feedback call did: ``stored`` items (those whose request is in the prediction
    log: ``matched``), and the request ids that are not in it (``unmatched``, not stored)."""

    stored: int
    matched: int
    unmatched: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"stored": self.stored, "matched": self.matched, "unmatched": list(self.unmatched)}


def add_feedback(
    db: Database,
    items: list[dict[str, Any]],
    *,
    flush: Callable[[], object] | None = None,
    wait_s: float = LOG_WAIT_S,
) -> FeedbackResult:
    """Store ground truth: ``[{"request_id": ..., "truth": value or [values per row]}]``.

    Late arrival is normal; a second answer for a request replaces the first. Truth is kept
    only for requests in the prediction log: it is scored against the logged prediction, so
    truth for an id that is not there (a typo, an id from another home, a request the log's
    sample left out) could never count, and is reported in ``unmatched`` instead of kept.
    The log is written off the request path, so ids not found are looked for again for up to
    ``wait_s`` seconds (``flush`` first writes this process's own queue). When no item
    matches, nothing is stored and :class:`NotFoundError` says so.
    """
    rows = _feedback_rows(items)
    wanted = {row["request_id"] for row in rows}
    found = _logged(db, wanted, flush, wait_s)
    kept = [row for row in rows if row["request_id"] in found]
    unmatched = list(dict.fromkeys(r["request_id"] for r in rows if r["request_id"] not in found))
    if not kept:
        shown = ", ".join(map(repr, unmatched[:10])) + (" ..." if len(unmatched) > 10 else "")
        raise NotFoundError(
            f"none of the {len(unmatched)} request id(s) is in the prediction log ({shown}); "
            "send the 'id' of a prediction's response, after the prediction, to the server "
            "(or home) that answered it; nothing was stored"
        )
    # one statement for the whole call (an upsert a row compiled 10,000 statements: seconds);
    # a request named twice in one call keeps its last answer, as across calls
    latest = list({row["request_id"]: row for row in kept}.values())
    stmt = (pg_insert if db.dialect == "postgresql" else sqlite_insert)(FeedbackRow)
    upsert = stmt.on_conflict_do_update(
        index_elements=["request_id"], set_={"truth": stmt.excluded.truth, "at": stmt.excluded.at}
    )
    with db.session() as s:
        s.execute(upsert, latest)
    return FeedbackResult(stored=len(kept), matched=len(kept), unmatched=unmatched)


def _feedback_rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items checked, as feedback rows."""
    if not items:
        raise SchemaError("send at least one feedback item: {'request_id': ..., 'truth': ...}")
    if len(items) > MAX_FEEDBACK:
        raise SchemaError(f"at most {MAX_FEEDBACK} feedback items per call, not {len(items)}")
    rows = []
    now = datetime.now(UTC)
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("request_id"), str):
            raise SchemaError(f"feedback[{i}] needs a 'request_id' (a string) and a 'truth'")
        if "truth" not in item:
            raise SchemaError(f"feedback[{i}] ({item['request_id']}) has no 'truth'")
        truth = item["truth"]
        values = truth if isinstance(truth, list) else [truth]
        if not all(v is None or isinstance(v, str | int | float | bool) for v in values):
            raise SchemaError(f"feedback[{i}]: 'truth' must be a value or a list of values")
        rows.append({"request_id": item["request_id"][:64], "at": now, "truth": values})
    return rows


def _logged(
    db: Database, wanted: set[str], flush: Callable[[], object] | None, wait_s: float
) -> set[str]:
    """The ids of ``wanted`` in the prediction log, looked for until all are found or
    ``wait_s`` has passed."""
    if flush is not None:
        flush()
    deadline = time.monotonic() + wait_s
    found: set[str] = set()
    while True:
        with db.session() as s:
            found |= logged_ids(s, wanted - found)
        if len(found) == len(wanted) or time.monotonic() >= deadline:
            return found
        time.sleep(LOG_POLL_S)


def aligned(truth: list[Any], outputs: list[Any], rows: int) -> list[Any]:
    """The truth of the logged rows: a large request is logged every k-th row."""
    if rows > len(outputs) > 0 and len(truth) == rows:
        return truth[:: math.ceil(rows / len(outputs))]
    return truth


def scores(task: str, truth: list[Any], predicted: list[Any]) -> dict[str, float]:
    """Accuracy and macro F1 (classification), RMSE and MAE (regression)."""
    if task == "regression":
        t = np.asarray(truth, dtype=np.float64)
        p = np.asarray(predicted, dtype=np.float64)
        return {
            "rmse": float(np.sqrt(np.mean((t - p) ** 2))),
            "mae": float(np.mean(np.abs(t - p))),
        }
    from sklearn.metrics import f1_score

    t_s = [str(v) for v in truth]
    p_s = [str(v) for v in predicted]
    return {
        "accuracy": float(np.mean([a == b for a, b in zip(t_s, p_s, strict=True)])),
        "f1_macro": float(f1_score(t_s, p_s, average="macro", zero_division=0)),
    }


def live_quality(
    db: Database,
    models: ModelCatalog,
    deployment: str,
    window_s: float,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Quality from feedback on requests of the last ``window_s`` seconds, per version,
    beside each version's offline holdout metrics."""
    now = now or datetime.now(UTC)
    since = now - timedelta(seconds=window_s)
    pairs: dict[tuple[str, int], tuple[list[Any], list[Any]]] = {}
    with db.session() as s:
        requests = logged(s, deployment, since)
        truths = feedback_for(s, requests, since)
    for r in requests:
        sent = truths.get(r.request_id)
        if sent is None:
            continue
        truth = aligned(sent, r.outputs, r.rows)
        if len(truth) != len(r.outputs):
            continue  # truth for a different number of rows: not comparable
        t, p = pairs.setdefault((r.model, r.version), ([], []))
        for a, b in zip(truth, r.outputs, strict=True):
            if a is not None:
                t.append(a)
                p.append(b)
    versions: dict[str, Any] = {}
    for (model, version), (t, p) in pairs.items():
        try:
            mv = models.get(f"{model}:{version}")
        except NotFoundError:
            continue
        versions[str(version)] = {
            "model": model,
            "rows": len(t),
            "live": scores(mv.task, t, p) if t and mv.task != "tensor" else {},
            "holdout": mv.metrics.get("holdout", {}),
        }
        if mv.task == "tensor":  # an imported graph with no task: no label to compare
            versions[str(version)]["note"] = (
                f"{mv.ref} derives no label from its outputs: import it with "
                "--task classification or --task regression to score feedback"
            )
    return {"deployment": deployment, "window_s": window_s, "versions": versions}
