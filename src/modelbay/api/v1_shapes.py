"""The row shapes the convenience route accepts (TF Serving and MLflow scoring shapes)."""

from __future__ import annotations

from typing import Any

from modelbay.errors import SchemaError

__all__ = ["rows_from"]


def rows_from(doc: Any) -> Any:
    """Rows from any of the accepted shapes, as a list of dicts or a 2-D list."""
    if not isinstance(doc, dict):
        raise SchemaError("the body must be a JSON object with 'instances' or 'columns' + 'data'")
    if "dataframe_split" in doc:
        doc = doc["dataframe_split"]
        if not isinstance(doc, dict):
            raise SchemaError("'dataframe_split' must be an object with 'columns' and 'data'")
    if "instances" in doc or "dataframe_records" in doc:
        rows = doc.get("instances", doc.get("dataframe_records"))
        if not isinstance(rows, list) or not rows:
            raise SchemaError("'instances' must be a non-empty list of rows")
        if all(isinstance(r, dict) for r in rows) or all(isinstance(r, list) for r in rows):
            return rows
        raise SchemaError("'instances' must be all objects (column: value) or all lists")
    if "columns" in doc and "data" in doc:
        columns, data = doc["columns"], doc["data"]
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise SchemaError("'columns' must be a list of column names")
        if not isinstance(data, list) or not data or not all(isinstance(r, list) for r in data):
            raise SchemaError("'data' must be a non-empty list of rows (lists)")
        for i, r in enumerate(data):
            if len(r) != len(columns):
                raise SchemaError(f"row {i} has {len(r)} values for {len(columns)} columns")
        return [dict(zip(columns, r, strict=True)) for r in data]
    raise SchemaError(
        "give rows as 'instances', 'dataframe_records', 'columns' + 'data', or 'dataframe_split'"
    )
