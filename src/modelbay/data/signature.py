"""A model's input/output signature, and validation of incoming rows against it.

It sits in the data stage because every later stage needs it: training writes it,
the registry stores it, serving validates requests with it (without training code).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from modelbay.errors import SchemaError

__all__ = ["ColumnSpec", "OutputSpec", "Signature"]

_NUMERIC_DTYPES = {"float64", "float32", "int64", "int32", "int16", "int8", "uint8"}


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: str  # numeric | categorical | boolean | text | datetime
    dtype: str  # the training column's pandas dtype
    nullable: bool


@dataclass(frozen=True)
class OutputSpec:
    task: str  # classification | regression | clustering
    name: str  # target column name ("cluster" for clustering)
    dtype: str
    classes: list[Any] | None = None


@dataclass(frozen=True)
class Signature:
    inputs: list[ColumnSpec]
    output: OutputSpec
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.inputs]

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": [asdict(c) for c in self.inputs],
            "output": asdict(self.output),
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Signature:
        return cls(
            inputs=[ColumnSpec(**c) for c in data["inputs"]],
            output=OutputSpec(**data["output"]),
            extra=data.get("extra", {}),
        )

    def validate(self, rows: Any, *, allow_extra: bool = False) -> pd.DataFrame:
        """Return ``rows`` as a DataFrame with the signature's columns, in order, coerced.

        Raises :class:`SchemaError` naming the column and row for missing or unexpected
        columns, values of the wrong type, NaN where the model cannot take it, or inf.
        """
        df = _as_frame(rows, self.names)
        if df.shape[0] == 0:
            raise SchemaError("no rows to predict")
        missing = [n for n in self.names if n not in df.columns]
        if missing:
            raise SchemaError(
                f"missing column(s): {', '.join(missing)}; expected: {', '.join(self.names)}"
            )
        extra = [str(c) for c in df.columns if c not in set(self.names)]
        if extra and not allow_extra:
            raise SchemaError(
                f"unexpected column(s): {', '.join(extra)}; expected: {', '.join(self.names)}"
            )
        out = {}
        for spec in self.inputs:
            out[spec.name] = _coerce(df[spec.name], spec)
        return pd.DataFrame(out, index=pd.RangeIndex(len(df)))


def _as_frame(rows: Any, names: list[str]) -> pd.DataFrame:
    if isinstance(rows, pd.DataFrame):
        return rows.reset_index(drop=True)
    if isinstance(rows, dict):
        rows = [rows]
    if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
        return pd.DataFrame.from_records(rows)
    arr = np.asarray(rows, dtype=object) if not isinstance(rows, np.ndarray) else rows
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != len(names):
        raise SchemaError(
            f"expected rows of {len(names)} values ({', '.join(names)}), got shape {tuple(arr.shape)}"
        )
    return pd.DataFrame(arr, columns=names)


def _coerce(col: pd.Series, spec: ColumnSpec) -> pd.Series:
    missing = col.isna().to_numpy()
    if missing.any() and not spec.nullable:
        row = int(np.argmax(missing))
        raise SchemaError(
            f"column {spec.name!r} has a missing value in row {row}; this model needs a value"
        )
    if spec.kind != "numeric":
        return col
    if pd.api.types.is_bool_dtype(col.dtype):
        raise SchemaError(f"column {spec.name!r} expected a number, got true/false values")
    converted = pd.to_numeric(col, errors="coerce").astype("float64")
    bad_mask = converted.isna().to_numpy() & ~missing
    if bad_mask.any():
        row = int(np.argmax(bad_mask))
        raise SchemaError(
            f"column {spec.name!r} expected {spec.dtype if spec.dtype in _NUMERIC_DTYPES else 'a number'}, "
            f"got {col.iloc[row]!r} in row {row}"
        )
    inf = np.isinf(converted.to_numpy())
    if inf.any():
        row = int(np.argmax(inf))
        raise SchemaError(f"column {spec.name!r} has an infinite value in row {row}")
    return converted
