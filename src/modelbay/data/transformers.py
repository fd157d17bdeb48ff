"""modelbay's own scikit-learn transformers.

They live in the data stage so that a serving process can load a model without
any training code, and they are the only non-scikit-learn types that
``artifacts.formats`` trusts when it loads a skops artifact.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer

from modelbay.data.unseen import canon

__all__ = ["CategoricalCleaner", "DatetimeFeatures", "TextFeatures"]

_DATE_PARTS = ("year", "month", "day", "day_of_week", "hour")


def _frame(X: Any) -> pd.DataFrame:
    return X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)


class CategoricalCleaner(TransformerMixin, BaseEstimator):
    """Cast categorical columns to ``object`` strings with ``nan`` for missing values.

    Makes encoders see one consistent type whatever the input (numbers, booleans,
    pandas string or categorical dtypes), in training and at predict time alike.
    """

    def fit(self, X: Any, y: Any = None) -> CategoricalCleaner:
        self.n_features_in_ = _frame(X).shape[1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        df = _frame(X)
        out = np.empty(df.shape, dtype=object)
        for j, name in enumerate(df.columns):
            col = df[name]
            mask = col.isna().to_numpy()
            values = col.astype(object).to_numpy()
            out[:, j] = [np.nan if m else canon(v) for v, m in zip(values, mask, strict=True)]
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(input_features, dtype=object)


class DatetimeFeatures(TransformerMixin, BaseEstimator):
    """Expand datetime columns into numeric parts: year, month, day, day of week, hour."""

    def fit(self, X: Any, y: Any = None) -> DatetimeFeatures:
        self.n_features_in_ = _frame(X).shape[1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        df = _frame(X)
        parts = []
        for name in df.columns:
            ts = pd.to_datetime(df[name], errors="coerce", format="mixed", utc=True)
            for part in _DATE_PARTS:
                parts.append(getattr(ts.dt, part).astype("float64").to_numpy())
        return np.column_stack(parts) if parts else np.empty((len(df), 0))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        names = list(input_features) if input_features is not None else []
        return np.asarray([f"{n}_{p}" for n in names for p in _DATE_PARTS], dtype=object)


class TextFeatures(TransformerMixin, BaseEstimator):
    """TF-IDF of each free-text column (missing text counts as empty), dense output."""

    def __init__(self, max_features: int = 500) -> None:
        self.max_features = max_features

    def fit(self, X: Any, y: Any = None) -> TextFeatures:
        df = _frame(X)
        self.n_features_in_ = df.shape[1]
        self.vectorizers_ = [
            TfidfVectorizer(max_features=self.max_features, sublinear_tf=True).fit(
                df[name].fillna("").astype(str)
            )
            for name in df.columns
        ]
        return self

    def transform(self, X: Any) -> np.ndarray:
        df = _frame(X)
        blocks = [
            vec.transform(df[name].fillna("").astype(str))
            for vec, name in zip(self.vectorizers_, df.columns, strict=True)
        ]
        return np.asarray(sparse.hstack(blocks).todense())

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        names = list(input_features) if input_features is not None else []
        return np.asarray(
            [
                f"{n}__{w}"
                for n, vec in zip(names, self.vectorizers_, strict=True)
                for w in vec.get_feature_names_out()
            ],
            dtype=object,
        )
