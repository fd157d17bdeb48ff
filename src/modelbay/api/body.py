"""Reading request bodies with a size limit, without holding more than the limit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import Request

from modelbay.api.errors import BodyTooLarge

__all__ = ["read_body", "read_limited"]

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


async def read_limited(receive: Receive, declared: bytes | str | None, limit: int) -> bytes:
    """The whole body from an ASGI ``receive``, refused (413) as soon as it is known to be
    over ``limit`` bytes: by its declared Content-Length before reading, else while reading."""
    if declared is not None:
        text = declared.decode("latin-1") if isinstance(declared, bytes) else declared
        if text.isdigit() and int(text) > limit:
            raise BodyTooLarge(
                f"the request body ({int(text)} bytes) is over the limit of {limit} bytes"
            )
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"the request body is over the limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def read_body(request: Request, limit: int) -> bytes:
    """:func:`read_limited` for a FastAPI route."""
    return await read_limited(request.receive, request.headers.get("content-length"), limit)
