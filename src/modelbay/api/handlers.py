"""The inference handlers: the one answer of each inference route, for every way in.

The HTTP protocol's fast path and the ASGI path both reach these through the front
(:meth:`modelbay.api.front.Front.answer`): the query string and the body are parsed
here, once, by one set of rules (:func:`query_params`, and the yes/no rule of
:func:`modelbay.serve.params.flag`). Each returns ``(status, content type, body, extra
headers)``; errors are raised as modelbay errors and mapped by :mod:`modelbay.api.errors`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import Response

from modelbay.api.access import Route
from modelbay.api.errors import error_response
from modelbay.api.v1_shapes import rows_from
from modelbay.errors import SchemaError
from modelbay.serve.codec import decode_request, encode_response
from modelbay.serve.dataplane import DataPlane
from modelbay.serve.params import flag

__all__ = ["Reply", "declared_only", "infer_v2", "parse_version", "predict_v1", "query_params"]

Reply = tuple[int, str, bytes, dict[str, str]]
JSON = "application/json"
_NONE: dict[str, str] = {}


async def declared_only() -> Response:
    """The FastAPI endpoint of an inference route: a declaration for OpenAPI. The front
    answers these routes before FastAPI; this answers only a bare FastAPI app."""
    return error_response(
        500,
        "inference routes are answered by modelbay's front: serve create_app(...) itself, "
        "not its .api alone",
    )


def parse_version(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit() or int(text) < 1:
        raise SchemaError(f"version {text!r} is not a version number (they start at 1)")
    return int(text)


def query_params(route: Route, query: bytes) -> dict[str, str]:
    """The query parameters of a request on ``route``; 400 for one the route does not take
    (a typo is not ignored)."""
    if not query:
        return _NONE
    found: dict[str, str] = {}
    for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if key not in route.query:
            takes = ", ".join(route.query) if route.query else "no query parameters"
            raise SchemaError(f"unknown query parameter {key!r}: {route.path} takes {takes}")
        found[key] = value
    return found


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


async def predict_v1(plane: DataPlane, name: str, body: bytes, query: dict[str, str]) -> Reply:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise SchemaError(f"the request body is not valid JSON: {exc}") from None
    rows = rows_from(doc)
    params = doc.get("parameters")
    if params is None:
        params = _NONE
    elif not isinstance(params, dict):
        raise SchemaError("'parameters' must be an object, e.g. {\"probabilities\": true}")
    asked = "probabilities" in query and flag("probabilities", query["probabilities"])
    proba = ("probabilities" in params and flag("probabilities", params["probabilities"])) or asked
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
    if result.novel:  # values training never saw, as v2 says them: unseen_categories, ...
        out["parameters"] = result.novel
    return 200, JSON, orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY), {}
