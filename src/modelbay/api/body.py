"""Reading request bodies with a size limit, without holding more than the limit."""

from __future__ import annotations

from fastapi import Request

from modelbay.api.errors import BodyTooLarge

__all__ = ["read_body"]


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(
            f"the request body ({int(declared)} bytes) is over the limit of {limit} bytes"
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"the request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
