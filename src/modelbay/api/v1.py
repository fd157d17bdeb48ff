"""A convenience JSON route in the TF Serving / MLflow shapes, for people who do not speak tensors."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from modelbay.api.body import read_body
from modelbay.api.handlers import predict_v1
from modelbay.serve.dataplane import DataPlane

__all__ = ["PREDICT_REQUEST", "router"]

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


def router(plane: DataPlane, max_body: int) -> APIRouter:
    r = APIRouter(tags=["inference (convenience)"])

    @r.post("/v1/models/{name}:predict", openapi_extra=PREDICT_REQUEST)
    async def predict(request: Request, name: str) -> Response:
        body = await read_body(request, max_body)
        proba = request.query_params.get("probabilities", "").lower() in ("1", "true", "yes")
        status, media, content, headers = await predict_v1(plane, name, body, proba)
        return Response(content, status_code=status, media_type=media, headers=headers)

    return r
