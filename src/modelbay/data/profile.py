"""Reference statistics of training data, kept with a model version for drift detection.

Numeric columns keep quantiles and a histogram over ten quantile bins (the bins a
PSI computation reuses); categorical and boolean columns keep category
frequencies (top 50, the rest as ``__other__``); text columns the distribution of
their lengths; datetime columns that of their instants, as seconds since 1970 UTC (the
numeric statistics above, ``"of": "timestamp"``, beside ``min`` and ``max``), which is
what drift compares. Predictions keep class frequencies or a value histogram.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from modelbay.data.schema import TableSchema

__all__ = ["profile_predictions", "profile_table", "profile_texts", "timestamps"]

QUANTILES = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)
TOP_CATEGORIES = 50


def _numeric(values: pd.Series) -> dict[str, Any]:
    x = pd.to_numeric(values, errors="coerce").astype("float64")
    x = x[np.isfinite(x)]
    out: dict[str, Any] = {"count": int(x.size)}
    if x.empty:
        return out
    qs = np.quantile(x, QUANTILES)
    edges = np.unique(np.quantile(x, np.linspace(0, 1, 11)))
    if edges.size < 2:
        edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
    inner = edges[1:-1]
    counts = np.bincount(np.searchsorted(inner, x, side="right"), minlength=edges.size - 1)
    out.update(
        mean=float(x.mean()),
        std=float(x.std(ddof=0)),
        quantiles={str(q): float(v) for q, v in zip(QUANTILES, qs, strict=True)},
        histogram={"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]},
    )
    return out


def _categorical(values: pd.Series) -> dict[str, Any]:
    counts = values.dropna().astype(str).value_counts()
    top = counts.head(TOP_CATEGORIES)
    freq = {str(k): int(v) for k, v in top.items()}
    other = int(counts.iloc[TOP_CATEGORIES:].sum())
    if other:
        freq["__other__"] = other
    return {"count": int(counts.sum()), "frequencies": freq}


def profile_table(df: pd.DataFrame, schema: TableSchema) -> dict[str, Any]:
    features: dict[str, Any] = {}
    for name in df.columns:
        kind = schema[name].kind
        col = df[name]
        stats: dict[str, Any] = {"kind": kind, "missing": int(col.isna().sum())}
        if kind == "numeric":
            stats.update(_numeric(col))
        elif kind in ("categorical", "boolean"):
            stats.update(_categorical(col))
        elif kind == "text":
            stats.update(profile_texts(col))
        elif kind == "datetime":
            seconds = timestamps(col)
            stats.update(_numeric(pd.Series(seconds)), of="timestamp")
            ts = pd.to_datetime(seconds[np.isfinite(seconds)], unit="s", utc=True)
            stats["min"] = ts.min().isoformat() if len(ts) else None
            stats["max"] = ts.max().isoformat() if len(ts) else None
        features[str(name)] = stats
    return {"rows": len(df), "features": features}


def timestamps(values: Any) -> np.ndarray:
    """Dates (strings, datetimes) as float seconds since 1970 UTC, NaN where none parses:
    the model's own parse (``DatetimeFeatures``), so drift sees the dates it saw."""
    with warnings.catch_warnings():  # pandas warns of numbers it will read otherwise one day
        warnings.simplefilter("ignore")
        ts = pd.to_datetime(
            pd.Series(values, dtype=object), errors="coerce", format="mixed", utc=True
        )
    ns = ts.to_numpy(dtype="datetime64[ns]").astype("int64").astype("float64")
    ns[ts.isna().to_numpy()] = np.nan
    return ns / 1e9


def profile_texts(values: pd.Series) -> dict[str, Any]:
    """A text column's summary for drift: the distribution of its lengths in characters."""
    lengths = values.dropna().astype(str).str.len()
    return {**_numeric(lengths), "of": "length"}


def profile_predictions(pred: Any, task: str) -> dict[str, Any]:
    values = pd.Series(np.asarray(pred).ravel())
    if task == "regression":
        return {"kind": "numeric", **_numeric(values)}
    return {"kind": "categorical", **_categorical(values)}
