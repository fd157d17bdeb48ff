"""The ASGI front of the server: access, limits and the inference hot path, before FastAPI.

Every HTTP request passes here first. The front finds the request's route in the
access table (:mod:`modelbay.api.access`), admits it through the server's one
admission step (:class:`modelbay.security.admission.Admission`: key, scope, model
allow-list, limits; the gRPC face calls the same), refuses bodies that are too large,
too deep or of the wrong type, and bounds the request's time. The inference routes
are then answered here, by their one handler each (:mod:`modelbay.api.handlers`);
FastAPI only declares them for OpenAPI (its per-request machinery cost about half of
a 1-row inference). Every other route goes on to FastAPI with the body already read.

Under ``modelbay serve`` the inference routes do not even reach ASGI: the HTTP
protocol (:mod:`modelbay.api.protocol`) reads their bodies and calls :meth:`Front.answer`;
the ASGI path reads the body and calls the same :meth:`Front._inference`, so both
answer alike, byte for byte (``tests/api/test_one_path.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from modelbay.api.access import Route, match
from modelbay.api.body import read_limited
from modelbay.api.deadlines import Deadlines
from modelbay.api.embeddings import embeddings_v1
from modelbay.api.errors import (
    MethodNotAllowed,
    RequestTimeout,
    UnsupportedMediaType,
    headers_for,
    message_for,
    status_for,
)
from modelbay.api.handlers import Reply, infer_v2, parse_version, predict_v1, query_params
from modelbay.api.limits import check_json_depth
from modelbay.errors import ModelbayError, NotFoundError
from modelbay.serve.dataplane import DataPlane
from modelbay.server import Server

__all__ = ["INTERNAL_ERROR", "Front", "Limits", "error_reply"]

log = logging.getLogger("modelbay.api")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_NO_QUERY: dict[str, str] = {}  # read, never written


class Limits:
    def __init__(
        self, *, max_body: int, max_upload: int, max_json_depth: int, timeout_s: float
    ) -> None:
        self.max_body = max_body
        self.max_upload = max_upload
        self.max_json_depth = max_json_depth
        self.timeout_s = timeout_s


class Front:
    """``Front(fastapi_app, server, limits)``: an ASGI app over the serving core ``server``;
    ``.api`` is the FastAPI app behind it."""

    def __init__(self, api: ASGIApp, server: Server, limits: Limits) -> None:
        self.api = api
        self.server = server
        self.limits = limits
        self.deadlines = Deadlines(limits.timeout_s)
        # the parts the hot path uses, looked up once (each lookup was a call a request)
        self.plane: DataPlane = server.plane
        self.admission = server.admission
        self.count: Callable[[str, int], None] = server.metrics.http  # (route, status)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.api(scope, receive, send)
            return
        started = False
        status = 0

        async def tracked(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started, status = True, int(message["status"])
            await send(message)

        try:
            reply = await self.guarded(self._handle(scope, receive, tracked))
            if reply is not None and not started:  # else too late: the response has begun
                await _reply(tracked, reply)
        finally:
            if status:
                self.count(scope.get("modelbay.route", "unmatched"), status)

    async def answer(
        self,
        route: Route,
        params: dict[str, str],
        headers: dict[bytes, bytes],
        body: bytes,
        query: bytes,
    ) -> Reply:
        """The reply to a request on an inference route whose whole body is in hand: what
        the HTTP protocol (:mod:`modelbay.api.protocol`) calls, below ASGI. The same
        checks, limits and errors as :meth:`__call__`; the body's size is the caller's."""
        reply = await self.guarded(self._inference(route, params, headers, body, query))
        assert reply is not None  # _inference always replies
        self.count(route.path, reply[0])
        return reply

    def refuse(self, route: Route, exc: ModelbayError) -> Reply:
        """The error reply to a request refused before it reached :meth:`answer`."""
        self.count(route.path, status_for(exc))
        return error_reply(exc)

    async def guarded(self, work: Awaitable[Reply | None]) -> Reply | None:
        """``work`` under the request time limit; an error becomes its error reply."""
        # no task: the HTTP protocol runs the request's first step itself (see
        # modelbay.api.protocol); a task that carries it on later adopts the deadline
        task = asyncio.current_task()
        self.deadlines.enter(task)
        try:
            return await work
        except asyncio.CancelledError:
            # past its time limit, or cancelled for another reason (a shutdown)
            current = task or asyncio.current_task()
            if current is None or not self.deadlines.leave(current) or current.uncancel() > 0:
                raise
            return error_reply(
                RequestTimeout(
                    f"the request took longer than {self.limits.timeout_s:g} s and was "
                    "stopped; the model keeps serving (MODELBAY_REQUEST_TIMEOUT_S sets the limit)"
                )
            )
        except ModelbayError as exc:
            return error_reply(exc)
        except Exception:
            log.exception("request failed")
            return INTERNAL_ERROR
        finally:
            self.deadlines.leave(task)  # the error answer is not timed

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> Reply | None:
        """The reply of an inference route; None when the request went on to FastAPI."""
        method, path = scope["method"], scope["path"]
        route, params, known = match(method, path)
        scope["modelbay.route"] = route.path if route is not None else "unmatched"
        if route is None:
            if known:
                raise MethodNotAllowed(f"{path} does not answer {method}")
            raise NotFoundError(f"no route {path}; the API is described at /docs")
        headers = dict(scope["headers"])
        if method not in _BODY_METHODS:
            await self._admit(route, params, headers)
            await self.api(scope, receive, send)
            return None
        limit = self.limits.max_upload if route.upload else self.limits.max_body
        if route.fast is not None:
            # as the protocol's fast path: the body first, then the same steps
            body = await read_limited(receive, headers.get(b"content-length"), limit)
            query = scope.get("query_string", b"")
            return await self._inference(route, params, headers, body, query)
        await self._admit(route, params, headers)
        media = self._check_media(route, headers)
        body = await read_limited(receive, headers.get(b"content-length"), limit)
        self._check_depth(route, headers, body, media)
        await self.api(scope, _replay(body), send)
        return None

    async def _inference(
        self,
        route: Route,
        params: dict[str, str],
        headers: dict[bytes, bytes],
        body: bytes,
        query: bytes,
    ) -> Reply:
        """The one answer of an inference route whose body is in hand: admission, media type,
        JSON depth, then the route's handler."""
        if self.admission.enabled:
            # keys off, an inference call is the anonymous admin: nothing to check, and the
            # prediction log reads the unset actor as anonymous (a coroutine less a request)
            await self._admit(route, params, headers)
        media = self._check_media(route, headers)
        self._check_depth(route, headers, body, media)
        return await self._fast(route, params, body, headers, query)

    # -- access --------------------------------------------------------------------------------
    async def _admit(
        self, route: Route, params: dict[str, str], headers: dict[bytes, bytes]
    ) -> None:
        if route.public:
            return
        await self.admission.admit(
            route.needs,
            f"{route.method} {route.path}",
            authorization=headers.get(b"authorization"),
            api_key=headers.get(b"x-api-key"),
            model=params[route.model] if route.model is not None else None,
            new_name=route.new_name,
        )

    # -- bodies -----------------------------------------------------------------------------------
    def _check_media(self, route: Route, headers: dict[bytes, bytes]) -> str:
        """The request's media type (empty when none is declared); 415 if the route takes
        another."""
        declared = headers.get(b"content-type")
        media = declared.split(b";")[0].strip().decode("latin-1").lower() if declared else ""
        if media and route.body and media not in route.body:
            raise UnsupportedMediaType(
                f"this route takes {' or '.join(route.body)}, not {media!r}: "
                "set the Content-Type header"
            )
        return media

    def _check_depth(
        self, route: Route, headers: dict[bytes, bytes], body: bytes, media: str
    ) -> None:
        # the JSON part: the header of a binary v2 request, else a JSON body
        binary_head = headers.get(b"inference-header-content-length")
        if route.fast == "v2" and binary_head is not None:
            check_json_depth(
                body[: int(binary_head)] if binary_head.isdigit() else body,
                self.limits.max_json_depth,
            )
        elif (media or (route.body[0] if route.body else "")) == "application/json":
            check_json_depth(body, self.limits.max_json_depth)

    async def _fast(
        self,
        route: Route,
        params: dict[str, str],
        body: bytes,
        headers: dict[bytes, bytes],
        query_string: bytes,
    ) -> Reply:
        # every route's query string by its one parser (a route that takes none refuses any);
        # an empty one, the usual, is not parsed at all
        query = query_params(route, query_string) if query_string else _NO_QUERY
        if route.fast == "embeddings":
            return await embeddings_v1(self.plane, self.admission, body)
        name = params["name"]
        if route.fast == "v2":
            header = headers.get(b"inference-header-content-length")
            return await infer_v2(
                self.plane,
                name,
                parse_version(params.get("version")),
                body,
                header.decode("latin-1") if header is not None else None,
            )
        return await predict_v1(self.plane, name, body, query)


def _replay(body: bytes) -> Receive:
    """A ``receive`` that hands FastAPI the body the front has read, then waits."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # as a real client that stays connected
        return {"type": "http.disconnect"}

    return receive


async def _reply(send: Send, reply: Reply) -> None:
    status, media, content, extra = reply
    out = [(b"content-type", media.encode()), (b"content-length", str(len(content)).encode())]
    out += [(k.encode(), v.encode()) for k, v in extra.items()]
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": content})


INTERNAL_ERROR: Reply = (
    500,
    "application/json",
    b'{"error":"internal error; see the server log"}',
    {},
)


def error_reply(exc: ModelbayError) -> Reply:
    content = orjson.dumps({"error": message_for(exc)})
    return status_for(exc), "application/json", content, headers_for(exc)
