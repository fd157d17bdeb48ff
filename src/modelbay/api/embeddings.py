"""OpenAI-compatible embeddings: ``POST /v1/embeddings``, so the ``openai`` client works as is.

The body is OpenAI's: ``model`` (a deployment or model name), ``input`` (a string or a
list of strings), ``encoding_format`` (``float`` or ``base64``: little-endian float32,
as OpenAI sends it) and ``dimensions`` (taken only when it is the model's own width:
these models cannot shorten their vectors). ``usage`` counts the tokens the model
ran. Texts over the model's token limit are truncated, and the response lists them
under ``modelbay.truncated`` (a deployment with ``truncate: false`` refuses them).
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import orjson
from fastapi import APIRouter, Response

from modelbay.api.handlers import Reply, declared_only
from modelbay.errors import SchemaError
from modelbay.security.admission import Admission
from modelbay.serve.dataplane import DataPlane

__all__ = ["EMBEDDINGS_REQUEST", "embeddings_v1", "router"]


EMBEDDINGS_REQUEST = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["model", "input"],
                    "properties": {
                        "model": {"type": "string"},
                        "input": {
                            "oneOf": [
                                {"type": "string"},
                                {"type": "array", "items": {"type": "string"}},
                            ]
                        },
                        "encoding_format": {"type": "string", "enum": ["float", "base64"]},
                        "dimensions": {"type": "integer"},
                        "user": {"type": "string"},
                    },
                }
            }
        },
    }
}


def _request(body: bytes) -> tuple[str, list[Any], str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise SchemaError(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise SchemaError("the body must be a JSON object with 'model' and 'input'")
    model = doc.get("model")
    if not isinstance(model, str) or not model:
        raise SchemaError("'model' is required: the name of an embeddings model or deployment")
    if "input" not in doc:
        raise SchemaError("'input' is required: a string or a list of strings")
    raw = doc["input"]
    texts = [raw] if isinstance(raw, str) else raw
    if not isinstance(texts, list):
        raise SchemaError("'input' must be a string or a list of strings")
    fmt = doc.get("encoding_format") or "float"
    if fmt not in ("float", "base64"):
        raise SchemaError(f"encoding_format {fmt!r} is not one of: float, base64")
    return model, texts, fmt, doc.get("dimensions")


async def embeddings_v1(plane: DataPlane, admission: Admission, body: bytes) -> Reply:
    name, texts, fmt, dimensions = _request(body)
    await admission.check_model(name)  # the model is named in the body, not the path
    result = await plane.embed(name, texts)
    vectors = np.ascontiguousarray(result.outputs.predict, dtype=np.float32)
    dim = int(vectors.shape[1])
    if dimensions is not None and dimensions != dim:
        raise SchemaError(
            f"model {name!r} gives {dim}-dimensional vectors and cannot shorten them: "
            f"leave out 'dimensions' (or set it to {dim})"
        )
    extra = result.outputs.extra or {}
    tokens = int(extra["tokens"].sum()) if "tokens" in extra else 0
    if fmt == "base64":
        data: list[dict[str, Any]] = [
            {"object": "embedding", "index": i, "embedding": base64.b64encode(v.tobytes()).decode()}
            for i, v in enumerate(vectors.astype("<f4", copy=False))
        ]
    else:
        data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
    out: dict[str, Any] = {
        "object": "list",
        "data": data,
        "model": name,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        "id": result.request_id,
    }
    headers: dict[str, str] = {}
    if "truncated" in extra and extra["truncated"].any():
        cut = [int(i) for i in np.flatnonzero(extra["truncated"])]
        limit = result.served.version.signature.extra.get("max_tokens")
        out["modelbay"] = {"truncated": cut, "max_tokens": limit}
        headers["x-modelbay-truncated"] = str(len(cut))
    content = orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY)
    return 200, "application/json", content, headers


def router() -> APIRouter:
    """The route's declaration, for OpenAPI: the front answers it (:func:`embeddings_v1`)."""
    r = APIRouter(tags=["inference (OpenAI-compatible)"])

    @r.post("/v1/embeddings", openapi_extra=EMBEDDINGS_REQUEST)
    async def embeddings() -> Response:
        return await declared_only()

    return r
