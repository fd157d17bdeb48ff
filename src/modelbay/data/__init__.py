"""Data: read tables, fingerprint them, infer schemas, build preprocessing pipelines."""

from modelbay.data.preprocess import CleaningReport, Preprocessing, build_preprocessor, clean_rows
from modelbay.data.profile import profile_predictions, profile_table
from modelbay.data.schema import ColumnSchema, TableSchema, infer_schema
from modelbay.data.tables import fingerprint, read_table

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
