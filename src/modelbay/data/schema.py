"""Schema inference: each column's kind, dtype, missing count and cardinality."""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import pandas as pd

__all__ = ["ColumnSchema", "Kind", "TableSchema", "infer_schema"]

Kind = Literal["numeric", "categorical", "boolean", "text", "datetime"]

_BOOL_WORDS = {"true", "false", "yes", "no", "t", "f", "y", "n"}


@dataclass(frozen=True)
class ColumnSchema:
    name: str
    kind: Kind
    dtype: str
    missing: int
    unique: int


@dataclass(frozen=True)
class TableSchema:
    rows: int
    columns: list[ColumnSchema] = field(default_factory=list)

    def __getitem__(self, name: str) -> ColumnSchema:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "columns": [asdict(c) for c in self.columns]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TableSchema:
        return cls(rows=data["rows"], columns=[ColumnSchema(**c) for c in data["columns"]])


def infer_kind(col: pd.Series) -> Kind:
    """Numeric, boolean, datetime, categorical or free text, from dtype and values."""
    dtype = col.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    values = col.dropna()
    if values.empty:
        return "categorical"
    as_str = values.astype(str)
    lowered = set(as_str.str.lower().unique()[:10])
    if len(lowered) <= 2 and lowered <= _BOOL_WORDS:
        return "boolean"
    if _looks_like_dates(as_str):
        return "datetime"
    unique = as_str.nunique()
    mean_words = as_str.head(1000).map(lambda s: len(s.split())).mean()
    if mean_words >= 3 and unique > max(20, 0.5 * len(as_str)):
        return "text"
    return "categorical"


def _looks_like_dates(values: pd.Series) -> bool:
    sample = values.head(200)
    if not sample.str.contains(r"\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{2,4}", regex=True).all():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() > 0.95)


def infer_schema(df: pd.DataFrame) -> TableSchema:
    return TableSchema(
        rows=int(df.shape[0]),
        columns=[
            ColumnSchema(
                name=str(name),
                kind=infer_kind(df[name]),
                dtype=str(df[name].dtype),
                missing=int(df[name].isna().sum()),
                unique=int(df[name].nunique(dropna=True)),
            )
            for name in df.columns
        ],
    )
