"""Data drift of a deployment's inputs and predictions against the version's training data.

For a time window, the logged rows of the version serving now are compared with the
reference statistics registered with it: numeric columns (and text lengths) by the
population stability index over the training deciles and by a Kolmogorov-Smirnov
statistic against the training quantiles; categorical and boolean columns by PSI
and a chi-squared test over the training frequencies (a category never seen in
training counts as its own bin); datetime columns like numeric ones, on their instants
in seconds since 1970 (a version registered before dates had statistics is not
compared on them). Predictions are compared the same way. Only the
window's rows are read (the newest ``max_requests`` requests at most), and each
result is stored so it can be charted over time.

A feature is flagged when PSI >= 0.2 (the usual "significant shift"), or when its
test gives p < 0.001 with PSI >= 0.1 (a smaller but certain shift). With fewer than
``MIN_ROWS`` rows the statistics are reported but no feature is flagged: PSI over ten
bins is biased upwards on small samples.

Drift per feature needs tabular columns and their training statistics: for a graph
imported as it is (images, sequences: tensors, not columns) the answer says so
(``applicable`` false and the ``reason``), with or without logged requests.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import insert, select

from modelbay.data.profile import timestamps
from modelbay.errors import ModelbayError, NotFoundError
from modelbay.monitor.predlog import logged
from modelbay.registry.db import Database
from modelbay.registry.deployments import DeploymentCatalog
from modelbay.registry.models import ModelCatalog
from modelbay.registry.records import ModelVersion
from modelbay.registry.tables import DriftRow

__all__ = ["FeatureDrift", "drift_history", "measure_drift", "psi"]

PSI_DRIFT, PSI_MODERATE, P_DRIFT = 0.2, 0.1, 0.001
MIN_ROWS = 100
EPS = 1e-4
QUANTILES = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)


@dataclass
class FeatureDrift:
    feature: str
    kind: str
    psi: float
    test: str  # ks | chi2
    statistic: float
    p_value: float | None
    n_ref: int
    n_cur: int
    drifted: bool
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of two count vectors over the same bins."""
    e = np.maximum(expected / max(expected.sum(), 1), EPS)
    a = np.maximum(actual / max(actual.sum(), 1), EPS)
    return float(np.sum((a - e) * np.log(a / e)))


def _numeric(name: str, kind: str, ref: dict[str, Any], values: list[Any]) -> FeatureDrift | None:
    x = np.asarray([v for v in values if v is not None], dtype=np.float64)
    x = x[np.isfinite(x)]
    hist = ref.get("histogram")
    if x.size == 0 or not hist:
        return None
    edges = np.asarray(hist["edges"], dtype=np.float64)
    counts = np.asarray(hist["counts"], dtype=np.float64)
    cur = np.bincount(np.searchsorted(edges[1:-1], x, side="right"), minlength=counts.size)
    score = psi(counts, cur.astype(np.float64))
    # KS against the training quantiles (a piecewise-linear training CDF)
    qs = np.asarray([ref["quantiles"][str(q)] for q in QUANTILES], dtype=np.float64)
    probs = np.asarray(QUANTILES)
    points = np.sort(x)
    f_cur = np.arange(1, points.size + 1) / points.size
    f_ref = np.interp(points, qs, probs, left=0.0, right=1.0)
    d = float(max(np.max(np.abs(f_cur - f_ref)), np.max(np.abs(f_cur - 1 / points.size - f_ref))))
    n_ref = int(ref.get("count", counts.sum()))
    p = _ks_p(d, n_ref, points.size)
    drifted = score >= PSI_DRIFT or (p < P_DRIFT and score >= PSI_MODERATE)
    mean = float(ref.get("mean", float("nan")))
    detail = f"mean {mean:.4g} -> {float(x.mean()):.4g}"
    return FeatureDrift(name, kind, score, "ks", d, p, n_ref, int(points.size), drifted, detail)


def _ks_p(d: float, n: int, m: int) -> float:
    from scipy.stats import kstwobign

    en = math.sqrt(n * m / max(n + m, 1))
    return float(kstwobign.sf(en * d))


def _categorical(
    name: str, kind: str, ref: dict[str, Any], values: list[Any]
) -> FeatureDrift | None:
    from scipy.stats import chisquare

    freq = {str(k): float(v) for k, v in (ref.get("frequencies") or {}).items()}
    seen = [str(v) for v in values if v is not None]
    if not seen or not freq:
        return None
    known = set(freq)
    cur_counts: dict[str, float] = {}
    for v in seen:
        key = v if v in known else ("__other__" if "__other__" in known else f"new:{v}")
        cur_counts[key] = cur_counts.get(key, 0.0) + 1
    bins = sorted(known | set(cur_counts))
    expected = np.asarray([freq.get(b, 0.0) for b in bins])
    actual = np.asarray([cur_counts.get(b, 0.0) for b in bins])
    score = psi(expected, actual)
    share = np.maximum(expected / expected.sum(), EPS)
    share = share / share.sum()
    stat, p = chisquare(actual, share * actual.sum())
    new = sorted(b[4:] for b in bins if b.startswith("new:"))
    drifted = score >= PSI_DRIFT or (float(p) < P_DRIFT and score >= PSI_MODERATE)
    detail = f"new categories: {', '.join(new)}" if new else ""
    n_ref = int(ref.get("count", expected.sum()))
    return FeatureDrift(
        name, kind, score, "chi2", float(stat), float(p), n_ref, len(seen), drifted, detail
    )


def compare(ref: dict[str, Any], name: str, values: list[Any]) -> FeatureDrift | None:
    kind = ref.get("kind", "numeric")
    if kind == "numeric":
        return _numeric(name, kind, ref, values)
    if kind == "text":
        lengths = [len(str(v)) for v in values if v is not None]
        return _numeric(name, "text length", ref, lengths)
    if kind in ("categorical", "boolean"):
        return _categorical(name, kind, ref, values)
    if kind == "datetime":
        return _dates(name, ref, values)
    return None


def _dates(name: str, ref: dict[str, Any], values: list[Any]) -> FeatureDrift | None:
    """A date column as its instants in seconds; the detail in dates, not seconds."""
    seconds = timestamps([v for v in values if v is not None])
    found = _numeric(name, "datetime", ref, seconds[np.isfinite(seconds)].tolist())
    if found is not None and "mean" in ref:
        now = float(np.nanmean(seconds))
        found.detail = f"mean {_day(float(ref['mean']))} -> {_day(now)}"
    return found


def _day(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M")


def measure_drift(
    db: Database,
    models: ModelCatalog,
    deployment: str,
    window_s: float,
    *,
    max_requests: int = 5_000,
    store: bool = True,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Drift of ``deployment`` over the last ``window_s`` seconds; stored unless ``store=False``."""
    now = now or datetime.now(UTC)
    since = now - timedelta(seconds=window_s)
    with db.session() as s:
        found = logged(s, deployment, since, inputs=True, newest=max_requests)
    if not found:
        graph = _graph_version(db, models, deployment)
        if graph is not None:
            return _not_applicable(deployment, graph, window_s, now)
        raise NotFoundError(
            f"no logged requests for {deployment!r} in the last {window_s:g} s: nothing to compare"
        )
    model, version = found[-1].model, found[-1].version  # the version serving most recently
    mv = models.get(f"{model}:{version}")
    if mv.signature.tensor_inputs:
        return _not_applicable(deployment, mv, window_s, now)
    names = mv.signature.names
    columns: dict[str, list[Any]] = {n: [] for n in names}
    predictions: list[Any] = []
    requests = 0
    for request in found:
        if (request.model, request.version) != (model, version):
            continue
        requests += 1
        for row in request.inputs or []:  # values in the signature's order
            for name, value in zip(names, row, strict=False):
                columns[name].append(value)
        predictions.extend(request.outputs)
    results = _features(mv, columns, predictions)
    for r in results:
        if r.n_cur < MIN_ROWS and r.drifted:
            r.drifted = False
            r.detail = f"{r.detail}; only {r.n_cur} rows, no verdict below {MIN_ROWS}".lstrip("; ")
    if store:
        _store(db, deployment, version, window_s, now, results)
    return {
        "deployment": deployment,
        "model": model,
        "version": version,
        "window_s": window_s,
        "at": now.isoformat(),
        "requests": requests,
        "rows": len(predictions),
        "drifted": [r.feature for r in results if r.drifted],
        "features": [r.to_dict() for r in results],
        "applicable": True,
    }


def _graph_version(db: Database, models: ModelCatalog, deployment: str) -> ModelVersion | None:
    """The imported graph ``deployment`` serves (a deployment's model, or the model of that
    name), or None: with no logged requests, drift is still known not to apply to it."""
    found = DeploymentCatalog(db).find(deployment)
    try:
        mv = models.get(found.model if found is not None else deployment)
    except ModelbayError:
        return None
    return mv if mv.signature.tensor_inputs else None


def _not_applicable(
    deployment: str, mv: ModelVersion, window_s: float, now: datetime
) -> dict[str, Any]:
    inputs = ", ".join(t.describe() for t in mv.signature.tensor_inputs)
    return {
        "deployment": deployment,
        "model": mv.model,
        "version": mv.version,
        "window_s": window_s,
        "at": now.isoformat(),
        "requests": 0,
        "rows": 0,
        "drifted": [],
        "features": [],
        "applicable": False,
        "reason": (
            f"drift per feature does not apply to {mv.ref}: it is an imported graph whose "
            f"inputs are tensors ({inputs}), not tabular columns with training statistics; "
            "its metrics, prediction log and live quality from feedback do apply"
        ),
    }


def _features(
    mv: ModelVersion, columns: dict[str, list[Any]], predictions: list[Any]
) -> list[FeatureDrift]:
    ref = mv.reference_stats.get("features", {})
    out = []
    for col in mv.signature.inputs:
        if col.name in ref and col.name in columns:
            found = compare(ref[col.name], col.name, columns[col.name])
            if found is not None:
                out.append(found)
    pred_ref = mv.reference_stats.get("prediction")
    if pred_ref:
        found = compare(pred_ref, "__prediction__", predictions)
        if found is not None:
            out.append(found)
    return out


def _store(
    db: Database,
    deployment: str,
    version: int,
    window_s: float,
    now: datetime,
    results: list[FeatureDrift],
) -> None:
    rows = [
        {
            "at": now,
            "deployment": deployment,
            "version": version,
            "window_s": window_s,
            "feature": r.feature,
            "test": test,
            "statistic": value,
            "p_value": p,
            "n_ref": r.n_ref,
            "n_cur": r.n_cur,
            "drifted": r.drifted,
        }
        for r in results
        for test, value, p in (("psi", r.psi, None), (r.test, r.statistic, r.p_value))
    ]
    if rows:
        with db.engine.begin() as conn:
            conn.execute(insert(DriftRow), rows)


def drift_history(
    db: Database, deployment: str, since: datetime | None = None
) -> list[dict[str, Any]]:
    """Stored drift results of a deployment, oldest first (for charts)."""
    query = select(DriftRow).where(DriftRow.deployment == deployment).order_by(DriftRow.id)
    if since is not None:
        query = query.where(DriftRow.at >= since)
    with db.session() as s:
        return [
            {
                "at": r.at.isoformat(),
                "version": r.version,
                "feature": r.feature,
                "test": r.test,
                "statistic": r.statistic,
                "p_value": r.p_value,
                "n_cur": r.n_cur,
                "drifted": r.drifted,
            }
            for r in s.scalars(query)
        ]
