"""Data: read tables, fingerprint them, infer schemas, build preprocessing pipelines."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from modelbay.data.profile import profile_predictions, profile_table
from modelbay.data.schema import ColumnSchema, TableSchema, infer_schema
from modelbay.data.tables import fingerprint, read_table

if TYPE_CHECKING:
    from modelbay.data.preprocess import (
        CleaningReport,
        Preprocessing,
        build_preprocessor,
        clean_rows,
    )

__all__ = [
    "CleaningReport",
    "ColumnSchema",
    "Preprocessing",
    "TableSchema",
    "build_preprocessor",
    "clean_rows",
    "fingerprint",
    "infer_schema",
    "profile_predictions",
    "profile_table",
    "read_table",
]

# the preprocessing names import scikit-learn (over a second): only when asked for, so that the
# registry (which reads schemas) and the CLI start without it
_PREPROCESS = {"CleaningReport", "Preprocessing", "build_preprocessor", "clean_rows"}


def __getattr__(name: str) -> object:
    if name in _PREPROCESS:
        return getattr(import_module("modelbay.data.preprocess"), name)
    raise AttributeError(f"module 'modelbay.data' has no attribute {name!r}")
