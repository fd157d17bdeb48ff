"""The one table from domain errors to HTTP statuses, and the error body."""

from __future__ import annotations

import math
from typing import Any

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from modelbay.errors import (
    AccessError,
    ConfigError,
    ConflictError,
    DataError,
    Forbidden,
    LimitExceeded,
    ModelbayError,
    NotFoundError,
    RateLimited,
    SchemaError,
    StorageError,
    TrainingError,
    Unauthenticated,
    UnsafeArtifactError,
    ValidationError,
)
from modelbay.security.gate import current_principal

__all__ = [
    "ERROR_RESPONSES",
    "STATUS",
    "BodyTooLarge",
    "MethodNotAllowed",
    "RequestTimeout",
    "UnsupportedMediaType",
    "error_response",
    "headers_for",
    "install",
    "json_response",
    "message_for",
    "status_for",
]

STATUS: dict[type[ModelbayError], int] = {
    ModelbayError: 500,
    SchemaError: 400,
    DataError: 400,
    ValidationError: 422,
    UnsafeArtifactError: 422,
    TrainingError: 422,
    NotFoundError: 404,
    ConflictError: 409,
    ConfigError: 500,
    StorageError: 503,
    LimitExceeded: 413,
    AccessError: 403,
    Unauthenticated: 401,
    Forbidden: 403,
    RateLimited: 429,
}


class BodyTooLarge(LimitExceeded):
    """A request body over the configured limit (HTTP 413)."""


class UnsupportedMediaType(ModelbayError):
    """A request body of a content type the route does not take (HTTP 415)."""


class MethodNotAllowed(ModelbayError):
    """A known path called with a method it does not answer (HTTP 405)."""


class RequestTimeout(ModelbayError):
    """The request took longer than the server's limit (HTTP 504); the model keeps serving."""


STATUS[UnsupportedMediaType] = 415
STATUS[MethodNotAllowed] = 405
STATUS[RequestTimeout] = 504


def headers_for(exc: ModelbayError) -> dict[str, str]:
    """Extra response headers an error calls for (``Retry-After`` on 429, ``WWW-Authenticate`` on 401)."""
    if isinstance(exc, RateLimited):
        return {"retry-after": str(max(1, math.ceil(exc.retry_after)))}
    if isinstance(exc, Unauthenticated):
        return {"www-authenticate": 'Bearer realm="modelbay"'}
    return {}


def message_for(exc: ModelbayError) -> str:
    """The error's message as the calling key may read it: every face answers with this,
    never ``str(exc)``. A "does not exist" message lists only the names on the key's model
    allow-list, so a model the key may not see is never named (not even counted)."""
    if isinstance(exc, NotFoundError) and exc.names:
        return exc.shown(current_principal.get().sees)
    return str(exc)


def status_for(exc: ModelbayError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def json_response(data: object, status: int = 200) -> Response:
    return Response(
        orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status,
        media_type="application/json",
    )


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    response = json_response({"error": message}, status)
    response.headers.update(headers or {})
    return response


async def _modelbay_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ModelbayError)
    return error_response(status_for(exc), message_for(exc), headers_for(exc))


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return error_response(422, "; ".join(parts) or "invalid request")


async def _http_error(_: Request, exc: Exception) -> Response:
    """The framework's own errors (a body it cannot parse, ...) in the same ``error`` shape."""
    from starlette.exceptions import HTTPException

    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, str(exc.detail), dict(exc.headers or {}))


def install(app: object) -> None:
    from fastapi import FastAPI
    from starlette.exceptions import HTTPException

    assert isinstance(app, FastAPI)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(ModelbayError, _modelbay_error)
    app.add_exception_handler(RequestValidationError, _validation_error)


_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string", "description": "What went wrong and what to fix"}},
}
_WHY = {
    400: "The request does not match the model's signature or the protocol",
    401: "No API key, or one that is unknown, revoked or expired",
    403: "The key lacks the scope this route needs",
    404: "No such model, version, deployment or key (or one the key may not see)",
    405: "The path does not answer this method",
    409: "A conflicting change",
    413: "The body, rows, tensor or JSON nesting is over a limit",
    415: "The body's content type is not one this route takes",
    422: "A malformed argument",
    429: "The key's rate limit or quota is spent (see Retry-After)",
    500: "An internal error (see the server log)",
    503: "The registry or store is unavailable",
    504: "The request took longer than the server's limit",
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"description": why, "content": {"application/json": {"schema": _ERROR_SCHEMA}}}
    for code, why in _WHY.items()
}
