"""The one table from domain errors to HTTP statuses, and the error body."""

from __future__ import annotations

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from modelbay.errors import (
    ConfigError,
    ConflictError,
    DataError,
    ModelbayError,
    NotFoundError,
    SchemaError,
    StorageError,
    TrainingError,
    UnsafeArtifactError,
    ValidationError,
)

__all__ = ["STATUS", "BodyTooLarge", "error_response", "install", "json_response", "status_for"]

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
}


class BodyTooLarge(ModelbayError):
    """A request body over the configured limit (HTTP 413)."""


STATUS[BodyTooLarge] = 413


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


def error_response(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


async def _modelbay_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ModelbayError)
    return error_response(status_for(exc), str(exc))


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return error_response(422, "; ".join(parts) or "invalid request")


def install(app: object) -> None:
    from fastapi import FastAPI

    assert isinstance(app, FastAPI)
    app.add_exception_handler(ModelbayError, _modelbay_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
