"""Metrics by task: what cross-validation optimises and what a holdout reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn import metrics as skm

from modelbay.errors import ValidationError

__all__ = ["DEFAULT_METRIC", "METRICS", "Metric", "evaluate", "get_metric"]


@dataclass(frozen=True)
class Metric:
    name: str
    task: str
    greater_is_better: bool
    scorer: str | None  # scikit-learn scorer name used in cross-validation


METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric("accuracy", "classification", True, "accuracy"),
        Metric("f1_macro", "classification", True, "f1_macro"),
        Metric("roc_auc", "classification", True, "roc_auc_ovr"),
        Metric("log_loss", "classification", False, "neg_log_loss"),
        Metric("rmse", "regression", False, "neg_root_mean_squared_error"),
        Metric("mae", "regression", False, "neg_mean_absolute_error"),
        Metric("r2", "regression", True, "r2"),
        Metric("silhouette", "clustering", True, None),
    ]
}

DEFAULT_METRIC = {"classification": "f1_macro", "regression": "rmse", "clustering": "silhouette"}


def get_metric(name: str | None, task: str) -> Metric:
    metric = METRICS.get(name or DEFAULT_METRIC[task])
    if metric is None or metric.task != task:
        fits = [m.name for m in METRICS.values() if m.task == task]
        raise ValidationError(f"metric {name!r} does not fit {task}; use one of: {', '.join(fits)}")
    return metric


def evaluate(task: str, model: Any, X: Any, y: Any = None) -> dict[str, float | None]:
    """Every metric of the task, computed once on (held-out) rows."""
    if task == "clustering":
        labels = model.predict(X)
        transformed = model[:-1].transform(X) if len(model.steps) > 1 else X
        ok = 1 < len(np.unique(labels)) < len(labels)
        return {"silhouette": float(skm.silhouette_score(transformed, labels)) if ok else None}
    pred = model.predict(X)
    if task == "regression":
        return {
            "rmse": float(np.sqrt(skm.mean_squared_error(y, pred))),
            "mae": float(skm.mean_absolute_error(y, pred)),
            "r2": float(skm.r2_score(y, pred)),
        }
    out: dict[str, float | None] = {
        "accuracy": float(skm.accuracy_score(y, pred)),
        "f1_macro": float(skm.f1_score(y, pred, average="macro")),
        "roc_auc": None,
        "log_loss": None,
    }
    if hasattr(model, "predict_proba"):
        proba = model.predict_proba(X)
        classes = list(model.classes_)
        out["log_loss"] = float(skm.log_loss(y, proba, labels=classes))
        try:
            if len(classes) == 2:
                out["roc_auc"] = float(skm.roc_auc_score(np.asarray(y) == classes[1], proba[:, 1]))
            else:
                out["roc_auc"] = float(
                    skm.roc_auc_score(y, proba, multi_class="ovr", labels=classes)
                )
        except ValueError:  # a class absent from the holdout
            out["roc_auc"] = None
    return out
