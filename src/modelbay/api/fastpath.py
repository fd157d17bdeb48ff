"""The ASGI front of the server: the two inference routes skip the framework's stack.

FastAPI's per-request machinery (routing, dependency solving, its middleware stack)
cost about half of a 1-row inference here. Inference requests are matched by path
in front of FastAPI and answered by the same handlers the FastAPI routes use; every
other request (health, metadata, management, docs) goes to FastAPI.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from modelbay.api.errors import BodyTooLarge, status_for
from modelbay.api.handlers import Reply, infer_v2, parse_version, predict_v1
from modelbay.errors import ModelbayError
from modelbay.serve.dataplane import DataPlane

__all__ = ["FastPath"]

log = logging.getLogger("modelbay.api")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_V2 = re.compile(r"^/v2/models/([^/]+)(?:/versions/([^/]+))?/infer$")
_V1 = re.compile(r"^/v1/models/([^/]+):predict$")


class FastPath:
    """``FastPath(fastapi_app, plane, max_body)``: an ASGI app; ``.api`` is the FastAPI app."""

    def __init__(self, api: ASGIApp, plane: DataPlane, max_body: int) -> None:
        self.api = api
        self.plane = plane
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"]
            v2 = _V2.match(path)
            if v2 is not None:
                await self._answer(scope, receive, send, v2, self._v2)
                return
            v1 = _V1.match(path)
            if v1 is not None:
                await self._answer(scope, receive, send, v1, self._v1)
                return
        await self.api(scope, receive, send)

    async def _v2(
        self, m: re.Match[str], body: bytes, headers: dict[bytes, bytes], query: bytes
    ) -> Reply:
        header = headers.get(b"inference-header-content-length")
        return await infer_v2(
            self.plane,
            m.group(1),
            parse_version(m.group(2)),
            body,
            header.decode("latin-1") if header is not None else None,
        )

    async def _v1(
        self, m: re.Match[str], body: bytes, headers: dict[bytes, bytes], query: bytes
    ) -> Reply:
        proba = b"probabilities=true" in query.lower() or b"probabilities=1" in query
        return await predict_v1(self.plane, m.group(1), body, proba)

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        match: re.Match[str],
        handler: Callable[[re.Match[str], bytes, dict[bytes, bytes], bytes], Awaitable[Reply]],
    ) -> None:
        headers = dict(scope["headers"])
        try:
            body = await self._body(receive, headers)
            status, media, content, extra = await handler(
                match, body, headers, scope.get("query_string", b"")
            )
        except ModelbayError as exc:
            status, media, extra = status_for(exc), "application/json", {}
            content = orjson.dumps({"error": str(exc)})
        except Exception:
            log.exception("inference failed")
            status, media, extra = 500, "application/json", {}
            content = orjson.dumps({"error": "internal error while predicting; see the server log"})
        out = [(b"content-type", media.encode()), (b"content-length", str(len(content)).encode())]
        out += [(k.encode(), v.encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": content})

    async def _body(self, receive: Receive, headers: dict[bytes, bytes]) -> bytes:
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            raise BodyTooLarge(
                f"the request body ({int(declared)} bytes) is over the limit of {self.max_body} bytes"
            )
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise BodyTooLarge(f"the request body is over the limit of {self.max_body} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)
