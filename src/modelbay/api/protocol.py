"""HTTP/1.1 for ``modelbay serve``: uvicorn's httptools protocol, with the inference routes
answered below ASGI.

A POST to an inference route (``/v2/models/{name}[/versions/{v}]/infer``,
``/v1/models/{name}:predict``, ``/v1/embeddings``) is read whole by the protocol and
handed to :meth:`modelbay.api.front.Front.answer`, which runs the same access checks,
limits and time limit as the ASGI path; the reply is written to the socket in one
piece. Everything else (every other route, and the rare inference request that needs
the general path: ``Expect: 100-continue``, a percent-encoded path, a declared body
over the limit) goes through uvicorn's ASGI machinery unchanged.

Why: with a 1,000-row binary request, the ASGI layer itself (a scope, message dicts,
an event per body chunk, two copies of the body, header checks, two socket writes)
cost about a third of the throughput of a bare HTTP server running the same graph
(``bench/serve.py``'s two floors). The fast path keeps what HTTP needs and drops the
rest.

A request is answered within the read that completed it, without an asyncio task: most
never wait (the model call is inline), and a task per request (its creation, a turn of
the loop, the server's task set) cost about 5 us of a 1,000-row inference. One that
must wait goes on in a task from where it stopped (:class:`_CarryOn`), which takes over
its time limit. The keep-alive timer is armed once an idle spell, not once a request,
and a connection remembers the route of its last URL.

It keeps uvicorn's connection rules: pipelined requests are answered in order (a
request waits in uvicorn's pipeline while an earlier one is answered), keep-alive and
its timer, ``Connection: close`` and HTTP/1.0, graceful shutdown (a request in flight
is answered with ``Connection: close``; its task is in the server's task set), a
client that goes away (nothing is written). The request time limit covers a body still
arriving, as on the ASGI path: the front's one sweeping timer (``Deadlines.watch``)
answers 504 and closes the connection when it is late. It depends on the protocol's internals,
so ``pyproject.toml`` bounds uvicorn's version, and ``tests/api/test_protocol.py``
pins the behaviour on a real socket.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Coroutine, Generator
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from modelbay.api.access import Route, match
from modelbay.api.errors import BodyTooLarge, RequestTimeout
from modelbay.api.front import INTERNAL_ERROR, Front
from modelbay.api.handlers import Reply

__all__ = ["FastCycle", "InferenceProtocol"]

log = logging.getLogger("modelbay.api")


class InferenceProtocol(HttpToolsProtocol):
    """Pass as uvicorn's ``http`` (``"modelbay.api.protocol:InferenceProtocol"``)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        # the front under uvicorn's wrappers (proxy headers); None: everything on ASGI
        front = self.app
        while not isinstance(front, Front) and hasattr(front, "app"):
            front = front.app
        general = config.root_path or config.limit_concurrency is not None
        self.front: Front | None = front if isinstance(front, Front) and not general else None
        self._parsing = False  # in the parser's callbacks
        self._ready: FastCycle | None = None  # a request to answer once the parser is done
        self._idle_since: float | None = None  # when the last answer left, if nothing came
        # the last URL on the fast path, and its route, parameters and query
        self._last: tuple[bytes, Route, dict[str, str], bytes] | None = None

    def data_received(self, data: bytes) -> None:
        self._parsing = True
        try:
            super().data_received(data)
        finally:
            self._parsing = False
        ready = self._ready
        if ready is not None:
            self._ready = None
            self._run_now(ready)
        cycle = self.cycle
        if (
            type(cycle) is FastCycle
            and cycle.more_body
            and not (cycle.started or cycle.queued or cycle.watched or cycle.too_large)
        ):
            # the body is still on its way: the request's time limit runs from now on, as
            # it does on the ASGI path while a body is read
            cycle.watched = True
            cycle.front.deadlines.watch(cycle, lambda: self._late(cycle), self.loop)

    # -- keep-alive: one timer an idle spell, not one a request ------------------------------
    # uvicorn arms a timer when an answer is sent and cancels it when data comes: 2 us of
    # every request. Here the timer, once armed, stays; when it fires it closes the
    # connection if it has been idle for the whole keep-alive time, else waits the rest.
    def _unset_keepalive_if_required(self) -> None:
        self._idle_since = None  # data came: not idle

    def on_response_complete(self) -> None:  # uvicorn's, with the timer above
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._idle_since = None
            self._start_asgi_task(cycle, app)
            return
        self._idle_since = self.loop.time()
        if self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self._keep_alive_due
            )

    def _keep_alive_due(self) -> None:
        self.timeout_keep_alive_task = None
        since = self._idle_since
        if since is None:
            return  # a request is being read or answered: its answer arms the timer again
        left = since + self.timeout_keep_alive - self.loop.time()
        if left > 0.001:
            self.timeout_keep_alive_task = self.loop.call_later(left, self._keep_alive_due)
        else:
            self.timeout_keep_alive_handler()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None

    def _late(self, cycle: FastCycle) -> None:
        """The request time limit passed before its body arrived: 504, and close."""
        if cycle.expire():
            self._go(cycle)

    # -- parser callbacks ------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        # uvicorn's, but the ASGI scope is made only for a request on the general path
        self.url = b""
        self.expect_100_continue = False
        self.headers = []

    def on_headers_complete(self) -> None:
        cycle = self._fast_cycle()
        if cycle is None:
            self.scope = {  # type: ignore[typeddict-item]  # as uvicorn's on_message_begin
                "type": "http",
                "asgi": {"version": self.asgi_version, "spec_version": "2.3"},
                "http_version": "1.1",
                "server": self.server,
                "client": self.client,
                "scheme": self.scheme,  # type: ignore[typeddict-item]
                "root_path": self.root_path,
                "headers": self.headers,
                "state": self.app_state.copy(),
            }
            super().on_headers_complete()
            return
        existing = self.cycle
        self.cycle = cycle  # type: ignore[assignment]  # uvicorn reads the same fields
        if existing is not None and not existing.response_complete:
            # pipelined behind a request still being answered: wait in uvicorn's queue
            cycle.queued = True
            self.flow.pause_reading()
            self.pipeline.appendleft((cycle, self.app))  # type: ignore[arg-type]

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if type(cycle) is not FastCycle:
            super().on_body(body)
            return
        if cycle.response_complete or cycle.too_large or cycle.late:
            return
        cycle.size += len(body)
        if cycle.size > cycle.limit:
            # answer 413 now and close: the rest of the body is not read
            cycle.too_large, cycle.keep_alive = True, False
            cycle.chunks.clear()
            self._go(cycle)
            return
        cycle.chunks.append(body)

    def on_message_complete(self) -> None:
        cycle = self.cycle
        if type(cycle) is not FastCycle:
            super().on_message_complete()
            return
        if cycle.response_complete or cycle.too_large or cycle.late:
            return
        cycle.more_body = False
        self._go(cycle)

    def _go(self, cycle: FastCycle) -> None:
        """The cycle can be answered now: stop its body timer, then wake its task or start it
        (unless it waits in the pipeline, which starts it in turn)."""
        if cycle.watched:
            cycle.front.deadlines.unwatch(cycle)
        if cycle.started:
            cycle.message_event.set()
        elif not cycle.queued:
            self._start_asgi_task(cycle, self.app)

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        if type(cycle) is FastCycle:
            cycle.started = True
            if self._parsing:  # answered as soon as the parser has taken in the data
                self._ready = cycle
                return
        super()._start_asgi_task(cycle, app)  # its task runs from the next loop turn on

    def _run_now(self, cycle: FastCycle) -> None:
        """Answer ``cycle`` here, without a task, as far as it goes without waiting.

        An asyncio task per request cost about 5 us of a 1,000-row inference in process (its
        creation, a turn of the loop before it runs, and the server's task set). A request
        whose model call is inline never waits, and is answered in this one step. One that
        must wait (a model thread, a queued batch, a model to load) goes on in a task, in
        the same context, and that task takes over its time limit.
        """
        if self.transport.is_closing():
            return  # the parser refused what followed (400) and closed: as a task would find
        context = (
            contextvars.Context() if self.config.reset_contextvars else contextvars.copy_context()
        )
        step = cycle.run_asgi(self.app)
        try:
            waiting = context.run(step.send, None)
        except StopIteration:
            return
        task: asyncio.Task[None] = self.loop.create_task(_CarryOn(step, waiting), context=context)
        cycle.front.deadlines.adopt(task)
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    def _fast_cycle(self) -> FastCycle | None:
        """A cycle of the fast path for the request whose headers just arrived, or None."""
        front = self.front
        parser = self.parser
        if (
            front is None
            or self.expect_100_continue
            or parser.get_method() != b"POST"
            or parser.should_upgrade()
        ):
            return None
        target, last = self.url, self._last
        if last is not None and target == last[0]:  # a keep-alive client asks the same URL
            _, route, params, query = last
        else:
            url = httptools.parse_url(target)
            raw_path = url.path
            if b"%" in raw_path:
                return None
            found, params, _ = match("POST", raw_path.decode("ascii"))
            if found is None or found.fast is None or found.upload:
                return None
            route, query = found, url.query or b""
            self._last = (target, route, params, query)
        headers = dict(self.headers)
        declared = headers.get(b"content-length")
        limit = front.limits.max_body
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return None  # the general path answers 413 without reading the body
        return FastCycle(
            front,
            route,
            params,  # shared by the requests of one URL: read, never changed
            headers,
            query,
            limit,
            self,
            keep_alive=parser.get_http_version() != "1.0" and parser.should_keep_alive(),
        )


class FastCycle:
    """One request on the fast path: uvicorn's protocol reads the same fields it reads of
    its own ``RequestResponseCycle`` (response_complete, disconnected, keep_alive,
    message_event, run_asgi)."""

    __slots__ = (
        "access_log",
        "chunks",
        "client",
        "default_headers",
        "disconnected",
        "flow",
        "front",
        "headers",
        "keep_alive",
        "late",
        "limit",
        "message_event",
        "more_body",
        "on_response",
        "params",
        "query",
        "queued",
        "response_complete",
        "route",
        "size",
        "started",
        "too_large",
        "transport",
        "watched",
    )

    def __init__(
        self,
        front: Front,
        route: Route,
        params: dict[str, str],
        headers: dict[bytes, bytes],
        query: bytes,
        limit: int,
        protocol: InferenceProtocol,
        *,
        keep_alive: bool,
    ) -> None:
        self.front = front
        self.route = route
        self.params = params
        self.headers = headers
        self.query = query
        self.limit = limit
        self.transport = protocol.transport
        self.flow = protocol.flow
        self.client = protocol.client
        self.default_headers = protocol.server_state.default_headers
        self.access_log = protocol.access_log
        self.on_response = protocol.on_response_complete
        self.message_event: asyncio.Event | _Idle = _IDLE  # an Event once the task waits
        self.keep_alive = keep_alive
        self.chunks: list[bytes] = []
        self.size = 0
        self.more_body = True
        self.too_large = False
        self.late = False  # the time limit passed while the body was arriving
        self.watched = False  # under the time limit while the body arrives
        self.queued = False
        self.started = False
        self.disconnected = False
        self.response_complete = False

    def expire(self) -> bool:
        """Mark the request late if its body is still arriving (it is answered 504 and the
        connection closes); whether it was."""
        if self.response_complete or self.disconnected or not self.more_body:
            return False
        self.late, self.keep_alive = True, False
        self.chunks.clear()
        return True

    def _late(self) -> None:
        """The time limit passed while this started request waited for its body."""
        if self.expire():
            self.message_event.set()

    async def run_asgi(self, app: Any) -> None:
        """Named as uvicorn's cycle method, which the protocol starts; ``app`` is unused."""
        try:
            while self.more_body and not (self.too_large or self.late or self.disconnected):
                # queued behind a pipelined request: the body may still be on its way
                event = self.message_event = asyncio.Event()
                if not self.watched:
                    self.watched = True
                    self.front.deadlines.watch(self, self._late, asyncio.get_running_loop())
                self.flow.resume_reading()
                await event.wait()
            if self.watched:
                self.front.deadlines.unwatch(self)
            if self.disconnected:
                return
            if self.late:
                limit = self.front.limits.timeout_s
                reply = self.front.refuse(
                    self.route,
                    RequestTimeout(
                        f"the request body did not arrive within {limit:g} s; send it whole "
                        "(MODELBAY_REQUEST_TIMEOUT_S sets the limit)"
                    ),
                )
            elif self.too_large:
                reply = self.front.refuse(
                    self.route,
                    BodyTooLarge(f"the request body is over the limit of {self.limit} bytes"),
                )
            else:
                chunks = self.chunks
                body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                self.chunks = []
                reply = await self.front.answer(
                    self.route, self.params, self.headers, body, self.query
                )
            await self._write(reply)
        except Exception:
            log.exception("request failed")
            if not self.response_complete and not self.disconnected:
                self.keep_alive = False
                await self._write(INTERNAL_ERROR)
        except BaseException:  # cancelled (a shutdown past its grace): no half answer
            if not self.response_complete:
                self.transport.close()
            raise
        finally:
            self.on_response = _nothing

    async def _write(self, reply: Reply) -> None:
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.disconnected:
            return
        status, media, content, extra = reply
        if self.access_log:
            logging.getLogger("uvicorn.access").info(
                '%s - "POST %s HTTP/1.1" %d',
                "{}:{}".format(*self.client) if self.client else "",  # as uvicorn writes it
                self.route.path,
                status,
            )
        parts = [STATUS_LINE[status], _head(self.default_headers)]
        parts.append(b"content-type: %s\r\ncontent-length: %d\r\n" % (media.encode(), len(content)))
        # extra headers are modelbay's own (Retry-After, Inference-Header-Content-Length, …)
        parts += [b"%s: %s\r\n" % (k.encode(), v.encode("latin-1")) for k, v in extra.items()]
        if not self.keep_alive:
            parts.append(b"connection: close\r\n")
        parts += (b"\r\n", content)
        self.transport.write(b"".join(parts))  # one write: one syscall
        self.response_complete = True
        if not self.keep_alive:
            self.transport.close()
        self.on_response()


class _CarryOn(Coroutine[Any, Any, Any]):
    """The rest of ``step``, a coroutine whose first step ran outside a task (see
    :meth:`InferenceProtocol._run_now`) and stopped on ``waiting``. Given to a task, it hands
    the task ``waiting`` first, then passes on what the task sends or throws, as if the task
    had run ``step`` from its start (a cancellation before the task's first turn reaches
    ``step`` where it stopped)."""

    __slots__ = ("step", "waiting")

    def __init__(self, step: Coroutine[Any, Any, Any], waiting: Any) -> None:
        self.step, self.waiting = step, waiting

    def send(self, value: Any) -> Any:
        waiting = self.waiting
        if waiting is not _GIVEN:
            self.waiting = _GIVEN
            return waiting
        return self.step.send(value)

    def throw(self, exc: Any, *args: Any) -> Any:
        self.waiting = _GIVEN
        return self.step.throw(exc, *args)

    def close(self) -> None:
        self.step.close()

    def __next__(self) -> Any:
        return self.send(None)

    def __iter__(self) -> _CarryOn:
        return self

    def __await__(self) -> Generator[Any, None, None]:
        return self  # an iterator with send and throw


_GIVEN = object()


def _nothing() -> None:
    pass


class _Idle:
    """The message event of a cycle whose task is not waiting: setting it does nothing (the
    common case, a body read whole before the task starts, needs no asyncio.Event)."""

    def set(self) -> None:
        pass


_IDLE = _Idle()


_defaults: tuple[list[tuple[bytes, bytes]] | None, bytes] = (None, b"")


def _head(default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """uvicorn's default headers (server, date) as bytes; uvicorn replaces the list when
    the date changes (once a second), so the bytes are kept for the list in use."""
    global _defaults
    if _defaults[0] is not default_headers:
        _defaults = (default_headers, b"".join(b"%s: %s\r\n" % kv for kv in default_headers))
    return _defaults[1]
