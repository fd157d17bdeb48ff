"""A convenience JSON route in the TF Serving / MLflow shapes, for people who do not speak tensors."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from modelbay.api.body import read_body
from modelbay.errors import SchemaError
from modelbay.serve.dataplane import DataPlane

__all__ = ["router"]

PREDICT_REQUEST = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "One of: instances (rows as objects or lists), columns + data, "
                    "dataframe_split {columns, data}, dataframe_records.",
                    "properties": {
                        "instances": {"type": "array"},
                        "columns": {"type": "array", "items": {"type": "string"}},
                        "data": {"type": "array", "items": {"type": "array"}},
                        "dataframe_split": {"type": "object"},
                        "dataframe_records": {"type": "array", "items": {"type": "object"}},
                        "parameters": {
                            "type": "object",
                            "properties": {"probabilities": {"type": "boolean"}},
                        },
                    },
                }
            }
        },
    }
}


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


def router(plane: DataPlane, max_body: int) -> APIRouter:
    r = APIRouter(tags=["inference (convenience)"])

    @r.post("/v1/models/{name}:predict", openapi_extra=PREDICT_REQUEST)
    async def predict(request: Request, name: str) -> Response:
        body = await read_body(request, max_body)
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise SchemaError(f"the request body is not valid JSON: {exc}") from None
        rows = rows_from(doc)
        params = doc.get("parameters") or {}
        proba = bool(params.get("probabilities")) if isinstance(params, dict) else False
        if request.query_params.get("probabilities", "").lower() in ("1", "true", "yes"):
            proba = True
        result = await plane.predict_frame(name, rows, proba=proba)
        out: dict[str, Any] = {
            "predictions": result.outputs.predict.tolist(),
            "model_name": name,
            "model_version": str(result.served.version.version),
        }
        if proba and result.outputs.proba is not None:
            out["probabilities"] = result.outputs.proba.tolist()
            out["classes"] = result.served.version.signature.output.classes
        return Response(
            orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json"
        )

    return r
