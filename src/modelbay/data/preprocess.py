"""Preprocessing as a scikit-learn pipeline that lives inside the model.

Row-level cleaning (duplicates, rows dropped for missing values) happens once on
the table before it is split; everything that learns from data (imputers,
encoders, scalers) is a step of the model's pipeline, so it is fitted on the
training folds only and travels with the model to serving.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.experimental import enable_iterative_imputer  # noqa: F401  (makes IterativeImputer importable)
from sklearn.impute import IterativeImputer, SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    MinMaxScaler,
    Normalizer,
    OneHotEncoder,
    OrdinalEncoder,
    RobustScaler,
    StandardScaler,
)

from modelbay.data.schema import TableSchema
from modelbay.data.transformers import CategoricalCleaner, DatetimeFeatures, TextFeatures
from modelbay.errors import ValidationError

__all__ = ["CleaningReport", "Preprocessing", "build_preprocessor", "clean_rows"]

NumericImpute = Literal["mean", "median", "most_frequent", "constant", "iterative", "drop"]
CategoricalImpute = Literal["most_frequent", "constant", "drop"]
Encode = Literal["onehot", "ordinal"]
Scale = Literal["auto", "standard", "minmax", "robust", "none"]
Normalize = Literal["none", "l1", "l2"]

_CHOICES: dict[str, tuple[str, ...]] = {
    "impute_numeric": ("mean", "median", "most_frequent", "constant", "iterative", "drop"),
    "impute_categorical": ("most_frequent", "constant", "drop"),
    "encode": ("onehot", "ordinal"),
    "scale": ("auto", "standard", "minmax", "robust", "none"),
    "normalize": ("none", "l1", "l2"),
    "duplicates": ("drop", "keep"),
}


@dataclass(frozen=True)
class Preprocessing:
    """Every preprocessing choice; the defaults suit most tables.

    ``scale="auto"`` lets the algorithm decide (z-score for linear models, SVMs,
    MLPs and k-means; none for trees). ``max_categories`` bounds one-hot width
    (rarer categories share one column); unknown categories at predict time are
    encoded as all-zero (one-hot) or -1 (ordinal). Columns that identify rows
    (``customer_id``, a row number: see :mod:`modelbay.data.identifiers`) are left out
    with a warning; ``keep_columns`` keeps them, ``drop_columns`` leaves out any other.
    """

    impute_numeric: NumericImpute = "median"
    impute_categorical: CategoricalImpute = "constant"
    fill_value: float | None = None
    encode: Encode = "onehot"
    max_categories: int = 20
    scale: Scale = "auto"
    normalize: Normalize = "none"
    duplicates: Literal["drop", "keep"] = "drop"
    text_max_features: int = 500
    drop_columns: tuple[str, ...] = field(default_factory=tuple)
    keep_columns: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for name, choices in _CHOICES.items():
            value = getattr(self, name)
            if value not in choices:
                raise ValidationError(
                    f"preprocessing {name}={value!r} is not one of: {', '.join(choices)}"
                )
        if self.max_categories < 2:
            raise ValidationError("preprocessing max_categories must be at least 2")
        object.__setattr__(self, "drop_columns", tuple(self.drop_columns))
        object.__setattr__(self, "keep_columns", tuple(self.keep_columns))
        both = sorted(set(self.drop_columns) & set(self.keep_columns))
        if both:
            raise ValidationError(
                f"column(s) {', '.join(both)} are both dropped and kept: choose one"
            )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["drop_columns"] = list(self.drop_columns)
        data["keep_columns"] = list(self.keep_columns)
        return data

    @classmethod
    def from_any(cls, value: Preprocessing | dict[str, Any] | None) -> Preprocessing:
        if value is None:
            return cls()
        if isinstance(value, Preprocessing):
            return value
        unknown = set(value) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValidationError(
                f"unknown preprocessing option(s): {', '.join(sorted(unknown))}; "
                f"known: {', '.join(cls.__dataclass_fields__)}"
            )
        return cls(**value)

    def nullable(self, kind: str) -> bool:
        """Whether a fitted pipeline accepts missing values in a column of this kind."""
        if kind == "numeric":
            return self.impute_numeric != "drop"
        if kind in ("categorical", "boolean"):
            return self.impute_categorical != "drop"
        return True


@dataclass(frozen=True)
class CleaningReport:
    rows_in: int
    duplicates_removed: int
    missing_rows_removed: int
    rows_out: int


def clean_rows(
    df: pd.DataFrame, schema: TableSchema, features: list[str], config: Preprocessing
) -> tuple[pd.DataFrame, CleaningReport]:
    """Drop duplicate rows and, where asked, rows with missing feature values."""
    rows_in = len(df)
    dupes = 0
    if config.duplicates == "drop":
        before = len(df)
        df = df.drop_duplicates()
        dupes = before - len(df)
    drop_cols = [
        name
        for name in features
        if schema[name].kind in ("numeric", "categorical", "boolean")
        and not config.nullable(schema[name].kind)
    ]
    before = len(df)
    if drop_cols:
        df = df.dropna(subset=drop_cols)
    report = CleaningReport(rows_in, dupes, before - len(df), len(df))
    return df.reset_index(drop=True), report


_SCALERS = {"standard": StandardScaler, "minmax": MinMaxScaler, "robust": RobustScaler}


def build_preprocessor(
    schema: TableSchema, features: list[str], config: Preprocessing, *, scale: str
) -> Pipeline:
    """The feature pipeline for ``features``; ``scale`` is the resolved scaling choice.

    Steps that would do nothing are left out rather than written as ``"passthrough"``,
    so the pipeline stays convertible to ONNX.
    """
    by_kind: dict[str, list[str]] = {}
    for name in features:
        kind = schema[name].kind
        by_kind.setdefault("categorical" if kind == "boolean" else kind, []).append(name)
    parts: list[tuple[str, Any, list[str]]] = []
    if by_kind.get("numeric"):
        numeric = _steps(("impute", _numeric_imputer(config)), ("scale", _scaler(scale)))
        parts.append(("numeric", numeric, by_kind["numeric"]))
    if by_kind.get("datetime"):
        dates = _steps(
            ("parts", DatetimeFeatures()),
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("scale", _scaler(scale)),
        )
        parts.append(("datetime", dates, by_kind["datetime"]))
    if by_kind.get("categorical"):
        categorical = _steps(
            ("clean", CategoricalCleaner()),
            ("impute", _categorical_imputer(config)),
            ("encode", _encoder(config)),
        )
        parts.append(("categorical", categorical, by_kind["categorical"]))
    if by_kind.get("text"):
        parts.append(("text", TextFeatures(max_features=config.text_max_features), by_kind["text"]))
    steps: list[tuple[str, Any]] = [
        ("columns", ColumnTransformer(parts, remainder="drop", sparse_threshold=0.0))
    ]
    if config.normalize != "none":
        steps.append(("normalize", Normalizer(norm=config.normalize)))
    return Pipeline(steps)


def _steps(*steps: tuple[str, Any]) -> Any:
    """A pipeline of the steps that do something; "passthrough" if none does."""
    kept = [(name, step) for name, step in steps if step is not None]
    return Pipeline(kept) if kept else "passthrough"


def _scaler(scale: str) -> Any:
    return _SCALERS[scale]() if scale in _SCALERS else None


def _numeric_imputer(config: Preprocessing) -> Any:
    if config.impute_numeric == "drop":
        return None
    if config.impute_numeric == "iterative":
        return IterativeImputer(max_iter=10, random_state=0)
    fill = 0.0 if config.fill_value is None else config.fill_value
    return SimpleImputer(strategy=config.impute_numeric, fill_value=fill, keep_empty_features=True)


def _categorical_imputer(config: Preprocessing) -> Any:
    if config.impute_categorical == "drop":
        return None
    if config.impute_categorical == "constant":
        return SimpleImputer(
            strategy="constant", fill_value="__missing__", keep_empty_features=True
        )
    return SimpleImputer(strategy="most_frequent", keep_empty_features=True)


def _encoder(config: Preprocessing) -> Any:
    if config.encode == "ordinal":
        return OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    return OneHotEncoder(
        handle_unknown="infrequent_if_exist",
        max_categories=config.max_categories,
        sparse_output=False,
    )
