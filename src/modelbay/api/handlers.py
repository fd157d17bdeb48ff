"""The inference handlers, shared by the FastAPI routes and the ASGI fast path.

Each takes the body bytes and returns ``(status, content type, body, extra headers)``;
errors are raised as modelbay errors and mapped by :mod:`modelbay.api.errors`.
"""

from __future__ import annotations

from typing import Any

import orjson

from modelbay.api.v1_shapes import rows_from
from modelbay.errors import SchemaError
from modelbay.serve.codec import decode_request, encode_response
from modelbay.serve.dataplane import DataPlane

__all__ = ["Reply", "infer_v2", "parse_version", "predict_v1"]

Reply = tuple[int, str, bytes, dict[str, str]]
JSON = "application/json"


def parse_version(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit() or int(text) < 1:
        raise SchemaError(f"version {text!r} is not a version number (they start at 1)")
    return int(text)


async def infer_v2(
    plane: DataPlane, name: str, version: int | None, body: bytes, header_length: str | None
) -> Reply:
    length = None
    if header_length is not None:
        if not header_length.isdigit():
            raise SchemaError("Inference-Header-Content-Length must be a whole number of bytes")
        length = int(header_length)
    req = decode_request(body, length)
    doc, tensors = await plane.infer(name, req, version)
    content, head = encode_response(doc, tensors, req.binary_outputs, req.all_binary)
    if head is None:
        return 200, JSON, content, {}
    return 200, "application/octet-stream", content, {"inference-header-content-length": str(head)}


async def predict_v1(plane: DataPlane, name: str, body: bytes, query_proba: bool) -> Reply:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise SchemaError(f"the request body is not valid JSON: {exc}") from None
    rows = rows_from(doc)
    params = doc.get("parameters") or {}
    proba = query_proba or (
        bool(params.get("probabilities")) if isinstance(params, dict) else False
    )
    result = await plane.predict_frame(name, rows, proba=proba)
    labels = result.outputs.predict
    out: dict[str, Any] = {
        "predictions": labels if labels.dtype.kind in "fib" else labels.tolist(),
        "model_name": name,
        "model_version": str(result.served.version.version),
        "id": result.request_id,
    }
    if proba and result.outputs.proba is not None:
        out["probabilities"] = result.outputs.proba
        out["classes"] = result.served.version.signature.output.classes
    return 200, JSON, orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY), {}
