"""A convenience JSON route in the TF Serving / MLflow shapes, for people who do not speak tensors."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from modelbay.api.handlers import declared_only

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


def router() -> APIRouter:
    """The route's declaration, for OpenAPI: the front answers it
    (:func:`modelbay.api.handlers.predict_v1`)."""
    r = APIRouter(tags=["inference (convenience)"])

    @r.post("/v1/models/{name}:predict", openapi_extra=PREDICT_REQUEST)
    async def predict(
        name: str,
        probabilities: Annotated[
            bool | None,
            Query(description="Also return class probabilities: true/1/yes or false/0/no"),
        ] = None,
    ) -> Response:
        return await declared_only()

    return r
