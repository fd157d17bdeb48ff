"""Reading tables (CSV, Parquet, DataFrames) and their content fingerprint."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pandas as pd

from modelbay.errors import DataError

__all__ = ["fingerprint", "from_parquet_bytes", "read_table", "to_parquet_bytes"]

TableSource = str | Path | pd.DataFrame


def read_table(source: TableSource, *, format: str | None = None) -> pd.DataFrame:
    """Read a CSV or Parquet file (by suffix or ``format``), or take a DataFrame as is."""
    if isinstance(source, pd.DataFrame):
        df = source.copy()
    else:
        path = Path(source)
        fmt = (format or path.suffix.lstrip(".")).lower()
        if not path.is_file():
            raise DataError(f"cannot read {str(path)!r}: no such file")
        try:
            if fmt in ("csv", "txt", "tsv"):
                df = pd.read_csv(path, sep="\t" if fmt == "tsv" else ",")
            elif fmt in ("parquet", "pq"):
                df = pd.read_parquet(path)
            else:
                raise DataError(
                    f"cannot read {str(path)!r}: unknown format {fmt!r}; use a .csv or .parquet file"
                )
        except DataError:
            raise
        except Exception as exc:  # pandas/pyarrow raise many types for unreadable files
            raise DataError(f"cannot read {str(path)!r} as {fmt}: {exc}") from exc
    return check_table(df)


def check_table(df: pd.DataFrame) -> pd.DataFrame:
    """Refuse tables that no model can use: no rows, no columns, duplicate or empty names."""
    if df.shape[1] == 0:
        raise DataError("the table has no columns")
    if df.shape[0] == 0:
        raise DataError("the table has no rows")
    names = [str(c) for c in df.columns]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataError(f"the table has duplicate column names: {', '.join(dupes)}")
    if any(not n.strip() for n in names):
        raise DataError("the table has a column with an empty name")
    df.columns = pd.Index(names)
    if df.isna().all().all():
        raise DataError("every value in the table is missing")
    return df.reset_index(drop=True)


def fingerprint(df: pd.DataFrame) -> str:
    """sha256 of a canonical form: column names, dtypes, then each column's value hashes.

    The value hashes are pandas' stable per-value hashes, so the fingerprint does not
    depend on how the table was stored (CSV, Parquet, memory) once it is read.
    """
    h = hashlib.sha256()
    h.update(f"modelbay-table-v1|{df.shape[0]}|{df.shape[1]}".encode())
    for name in df.columns:
        col = df[name]
        h.update(f"|{name}|{_dtype_name(col)}|".encode())
        values = pd.util.hash_pandas_object(col, index=False).to_numpy(dtype=np.uint64)
        h.update(values.tobytes())
    return h.hexdigest()


def _dtype_name(col: pd.Series) -> str:
    kind = col.dtype.kind
    if kind in "iu":
        return "int"
    if kind == "f":
        return "float"
    if kind == "b":
        return "bool"
    if kind == "M":
        return "datetime"
    return "object"


def to_parquet_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False, compression=None)  # the store compresses with zstd
    return buf.getvalue()


def from_parquet_bytes(data: bytes) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(data))
