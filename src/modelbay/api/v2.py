"""Open Inference Protocol v2 over REST (KServe, Triton, MLServer speak the same)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from modelbay.api.errors import json_response
from modelbay.api.handlers import declared_only, parse_version
from modelbay.serve.dataplane import DataPlane

__all__ = ["INFER_REQUEST", "router"]

_TENSOR = {
    "type": "object",
    "required": ["name", "shape", "datatype"],
    "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "datatype": {
            "type": "string",
            "enum": [
                "BOOL",
                "UINT8",
                "UINT16",
                "UINT32",
                "UINT64",
                "INT8",
                "INT16",
                "INT32",
                "INT64",
                "FP16",
                "FP32",
                "FP64",
                "BYTES",
            ],
        },
        "parameters": {"type": "object"},
        "data": {"type": "array"},
    },
}
INFER_REQUEST = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["inputs"],
                    "properties": {
                        "id": {"type": "string"},
                        "parameters": {"type": "object"},
                        "inputs": {"type": "array", "minItems": 1, "items": _TENSOR},
                        "outputs": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "parameters": {"type": "object"},
                                },
                            },
                        },
                    },
                }
            },
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def router(plane: DataPlane) -> APIRouter:
    r = APIRouter(tags=["inference (v2)"])

    @r.get("/v2/health/live")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @r.get("/v2/health/ready", response_model=None)
    async def ready() -> dict[str, bool] | Response:
        if await plane.ready():
            return {"ready": True}
        return json_response({"ready": False}, 503)

    # the protocol's text writes "GET v2", its OpenAPI file "/v2/": both answer, alike (the
    # other v2 paths are written without a trailing slash in both)
    @r.get("/v2/")
    @r.get("/v2")
    async def server_metadata() -> dict[str, Any]:
        return plane.server_metadata()

    @r.get("/v2/models/{name}")
    async def model_metadata(name: str) -> dict[str, Any]:
        return await plane.model_metadata(name)

    @r.get("/v2/models/{name}/versions/{version}")
    async def version_metadata(name: str, version: int) -> dict[str, Any]:
        return await plane.model_metadata(name, parse_version(str(version)))

    @r.get("/v2/models/{name}/ready")
    async def model_ready(name: str) -> dict[str, Any]:
        return {"name": name, "ready": await plane.model_ready(name)}

    @r.get("/v2/models/{name}/versions/{version}/ready")
    async def version_ready(name: str, version: int) -> dict[str, Any]:
        return {"name": name, "ready": await plane.model_ready(name, parse_version(str(version)))}

    # declarations for OpenAPI: the front answers them (modelbay.api.handlers.infer_v2)
    @r.post("/v2/models/{name}/infer", openapi_extra=INFER_REQUEST)
    async def infer_latest(name: str) -> Response:
        return await declared_only()

    @r.post("/v2/models/{name}/versions/{version}/infer", openapi_extra=INFER_REQUEST)
    async def infer_version(name: str, version: int) -> Response:
        return await declared_only()

    return r
