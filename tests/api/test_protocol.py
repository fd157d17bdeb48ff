"""The HTTP protocol of ``modelbay serve`` on a real socket: inference answered below ASGI
must keep HTTP/1.1's rules (pipelining order, keep-alive, Connection: close, HTTP/1.0,
chunked bodies, Expect: 100-continue, size limits) and give the same answers and errors
as the general ASGI path."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import uvicorn

from modelbay import Bay, Settings
from modelbay.api.app import create_app
from modelbay.api.protocol import FastCycle, InferenceProtocol, _CarryOn
from modelbay.monitor.predlog import logged
from modelbay.serve.codec import binary_request
from tests.e2e.servers import free_port

Response = tuple[int, dict[str, str], bytes]


@contextmanager
def serving(settings: Settings) -> Iterator[tuple[int, uvicorn.Server]]:
    """A uvicorn server with modelbay's protocol in a thread of this process (so that a
    test can see which path a connection's request took)."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        http=InferenceProtocol,
        loop="uvloop",
        log_level="warning",
        timeout_keep_alive=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield port, server
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def server(own_serve_home: Path) -> Iterator[tuple[int, uvicorn.Server]]:
    settings = Settings(
        home=own_serve_home, auth=False, max_body_mb=1, max_json_depth=8, request_timeout_s=5
    )
    with serving(settings) as s:
        yield s


@pytest.fixture(scope="module")
def rows(serve_data: dict[str, pd.DataFrame]) -> np.ndarray:
    return serve_data["bc-logistic"].to_numpy()


def binary(rows: np.ndarray, *, proba: bool = False) -> tuple[bytes, str]:
    """A v2 request with binary tensors: the body and its JSON header's length."""
    body, head = binary_request(rows, proba=proba)
    return body, str(head)


def infer_binary(path: str, body: bytes, head: str, **extra: str) -> bytes:
    return infer(
        path, body, "application/octet-stream", **{"Inference-Header-Content-Length": head}, **extra
    )


def as_json(rows: np.ndarray) -> bytes:
    tensor = {"name": "x", "shape": list(rows.shape), "datatype": "FP64"}
    return json.dumps({"inputs": [{**tensor, "data": rows.ravel().tolist()}]}).encode()


def request(
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    *,
    method: str = "POST",
    version: str = "1.1",
) -> bytes:
    head = [f"{method} {path} HTTP/{version}", "Host: 127.0.0.1"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body is not None and "Transfer-Encoding" not in (headers or {}):
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + (body or b"")


def infer(path: str, body: bytes, media: str = "application/json", **extra: str) -> bytes:
    return request(path, body, {"Content-Type": media, **extra})


class Conn:
    """A raw HTTP/1.1 client connection that reads responses one by one."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(1 << 16)
        self.buf += chunk
        return bool(chunk)

    def read(self) -> Response:
        while b"\r\n\r\n" not in self.buf:
            assert self._fill(), f"connection closed before a response: {self.buf!r}"
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(self.buf) < length:
            assert self._fill(), "connection closed inside a response body"
        body, self.buf = self.buf[:length], self.buf[length:]
        return status, headers, body

    def closed(self, wait: float = 0.5) -> bool:
        """Whether the server closes the connection within ``wait`` seconds."""
        self.sock.settimeout(wait)
        try:
            return self.sock.recv(1) == b""
        except TimeoutError:
            return False
        finally:
            self.sock.settimeout(10)

    def close(self) -> None:
        self.sock.close()


@contextmanager
def connect(port: int) -> Iterator[Conn]:
    c = Conn(port)
    try:
        yield c
    finally:
        c.close()


def cycle_kind(server: uvicorn.Server) -> set[str]:
    """The kind of the latest request's cycle on each open connection."""
    return {type(p.cycle).__name__ for p in server.server_state.connections}  # type: ignore[attr-defined]


def labels(response: Response) -> np.ndarray:
    status, headers, body = response
    assert status == 200, body
    if "inference-header-content-length" in headers:
        n = int(headers["inference-header-content-length"])
        out = json.loads(body[:n])["outputs"][0]
        assert out["datatype"] == "INT64", out
        return np.frombuffer(body[n:], "<i8")
    return np.asarray(json.loads(body)["outputs"][0]["data"])


def test_inference_takes_the_fast_path_and_equals_the_general_one(
    server: tuple[int, uvicorn.Server], own_bay: Bay, rows: np.ndarray
) -> None:
    port, srv = server
    expected = np.asarray(own_bay.load("bc-logistic").predict(rows))
    body, head = binary(rows)
    with connect(port) as c:
        c.send(infer_binary("/v2/models/bc-logistic/infer", body, head))
        fast = c.read()
        assert cycle_kind(srv) == {"FastCycle"}
        # a percent-encoded path goes through uvicorn's ASGI path to the same model
        c.send(infer_binary("/v2/models/bc%2Dlogistic/infer", body, head))
        general = c.read()
        assert cycle_kind(srv) == {"RequestResponseCycle"}
    assert fast[0] == general[0] == 200
    n = int(fast[1]["inference-header-content-length"])
    heads = [json.loads(r[2][:n]) for r in (fast, general)]
    assert heads[0].pop("id") != heads[1].pop("id")  # each request gets its own id
    assert heads[0] == heads[1] and fast[2][n:] == general[2][n:]
    assert fast[1]["content-type"] == general[1]["content-type"] == "application/octet-stream"
    assert "date" in fast[1] and "server" in fast[1]  # uvicorn's default headers
    np.testing.assert_array_equal(labels(fast), expected)
    # JSON tensors, the convenience route and the versioned route
    with connect(port) as c:
        c.send(infer("/v2/models/bc-logistic/infer", as_json(rows[:5])))
        np.testing.assert_array_equal(labels(c.read()), expected[:5])
        c.send(infer("/v2/models/bc-logistic/versions/1/infer", as_json(rows[:5])))
        np.testing.assert_array_equal(labels(c.read()), expected[:5])
        instances = json.dumps({"instances": rows[:3].tolist()}).encode()
        c.send(infer("/v1/models/bc-logistic:predict?probabilities=true", instances))
        status, _, out = c.read()
        doc = json.loads(out)
        assert status == 200 and doc["predictions"] == expected[:3].tolist(), doc
        assert len(doc["probabilities"]) == 3
        assert cycle_kind(srv) == {"FastCycle"}


def test_pipelined_requests_are_answered_in_order(
    server: tuple[int, uvicorn.Server], own_bay: Bay, rows: np.ndarray
) -> None:
    port, _ = server
    expected = np.asarray(own_bay.load("bc-logistic").predict(rows))
    sizes = [200, 1, 37, 5, 120]
    parts = []
    for i, n in enumerate(sizes):
        parts.append(infer("/v2/models/bc-logistic/infer", as_json(rows[:n])))
        if i == 1:
            parts.append(request("/v2/health/ready", method="GET"))  # the general path between
        if i == 3:
            parts.append(infer("/v2/models/nope/infer", as_json(rows[:1])))
    with connect(port) as c:
        c.send(b"".join(parts))  # all at once: the server must answer them one by one
        got = [c.read() for _ in parts]
        for i, n in enumerate(sizes[:2]):
            np.testing.assert_array_equal(labels(got[i]), expected[:n])
        assert got[2][0] == 200 and json.loads(got[2][2]) == {"ready": True}
        np.testing.assert_array_equal(labels(got[3]), expected[:37])
        np.testing.assert_array_equal(labels(got[4]), expected[:5])
        assert got[5][0] == 404 and "nope" in json.loads(got[5][2])["error"]
        np.testing.assert_array_equal(labels(got[6]), expected[:120])
        # the connection is still good after the pipeline
        c.send(infer("/v2/models/bc-logistic/infer", as_json(rows[:2])))
        np.testing.assert_array_equal(labels(c.read()), expected[:2])
        # a pipelined request whose body is still on its way when its turn comes: it waits
        first = infer("/v2/models/bc-logistic/infer", as_json(rows[:3]))
        second = infer("/v2/models/bc-logistic/infer", as_json(rows[:50]))
        cut = second.index(b"\r\n\r\n") + 100
        c.send(first + second[:cut])
        np.testing.assert_array_equal(labels(c.read()), expected[:3])
        time.sleep(0.2)  # the second one's task has started and waits for the rest
        c.send(second[cut:])
        np.testing.assert_array_equal(labels(c.read()), expected[:50])


def test_connection_rules(server: tuple[int, uvicorn.Server], rows: np.ndarray) -> None:
    port, _ = server
    body = as_json(rows[:3])
    # keep-alive: many requests on one connection
    with connect(port) as c:
        for _ in range(20):
            c.send(infer("/v2/models/bc-logistic/infer", body))
            status, headers, _ = c.read()
            assert status == 200 and "connection" not in headers
        assert not c.closed()
    # Connection: close is answered, then the connection ends
    with connect(port) as c:
        c.send(infer("/v2/models/bc-logistic/infer", body, Connection="close"))
        status, headers, _ = c.read()
        assert status == 200 and headers["connection"] == "close"
        assert c.closed()
    # HTTP/1.0 without keep-alive: the same
    with connect(port) as c:
        c.send(request("/v2/models/bc-logistic/infer", body, version="1.0"))
        status, headers, _ = c.read()
        assert status == 200 and headers["connection"] == "close"
        assert c.closed()
    # an idle connection ends after the keep-alive time (2 s here); one in use, for longer
    # than that in all, does not (the timer counts from the last answer)
    with connect(port) as c:
        for _ in range(5):
            c.send(infer("/v2/models/bc-logistic/infer", body))
            assert c.read()[0] == 200
            time.sleep(0.6)
        c.send(infer("/v2/models/bc-logistic/infer", body))
        assert c.read()[0] == 200
        started = time.monotonic()
        assert c.closed(wait=6)
        assert 1.9 < time.monotonic() - started < 4


def test_bodies_in_pieces_chunked_and_after_100_continue(
    server: tuple[int, uvicorn.Server], own_bay: Bay, rows: np.ndarray
) -> None:
    port, srv = server
    expected = np.asarray(own_bay.load("bc-logistic").predict(rows))
    body = as_json(rows)
    with connect(port) as c:
        whole = infer("/v2/models/bc-logistic/infer", body)
        for i in range(0, len(whole), 7000):  # the body arrives in many reads
            c.send(whole[i : i + 7000])
            time.sleep(0.002)
        np.testing.assert_array_equal(labels(c.read()), expected)
        chunked = b"".join(
            b"%x\r\n%s\r\n" % (len(body[i : i + 5000]), body[i : i + 5000])
            for i in range(0, len(body), 5000)
        )
        c.send(
            request(
                "/v2/models/bc-logistic/infer",
                chunked + b"0\r\n\r\n",
                {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
            )
        )
        np.testing.assert_array_equal(labels(c.read()), expected)
        assert cycle_kind(srv) == {"FastCycle"}
        # Expect: 100-continue: the server says go on, then answers
        head = request(
            "/v2/models/bc-logistic/infer",
            None,
            {
                "Content-Type": "application/json",
                "Content-Length": str(len(body)),
                "Expect": "100-continue",
            },
        )
        c.send(head)
        status, _, _ = c.read()
        assert status == 100
        c.send(body)
        np.testing.assert_array_equal(labels(c.read()), expected)


def test_bad_requests_get_their_4xx_and_the_server_keeps_serving(
    server: tuple[int, uvicorn.Server], rows: np.ndarray
) -> None:
    port, _ = server
    path = "/v2/models/bc-logistic/infer"
    cases = [
        (infer(path, b'{"inputs": [{"name": "x"'), 400, "JSON"),
        (infer(path, b"[" * 50 + b"]" * 50), 413, "deep"),
        (infer(path, as_json(rows[:1]), "text/plain"), 415, "Content-Type"),
        (infer(path, as_json(rows[:1])[:-1] + b', "x": NaN}'), 400, ""),
        (infer("/v2/models/nope/infer", as_json(rows[:1])), 404, "nope"),
        (
            infer(
                path,
                b'{"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", '
                b'"data": [1, 2, 3]}]}',
            ),
            400,
            "[n, 30]",
        ),
        (infer(path, b"x" * (1 << 20 + 1)), 413, "limit"),
    ]
    with connect(port) as c:
        for raw, status, words in cases:
            c.send(raw)
            got, _, out = c.read()
            assert got == status, (raw[:80], out)
            assert words in json.loads(out)["error"], out
        # a body over the limit without a Content-Length: 413 at once, then close
        c.send(
            request(
                path, None, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
            )
        )
        piece = b"%x\r\n%s\r\n" % (1 << 16, b"1" * (1 << 16))
        try:
            for _ in range(40):  # 2.5 MB, over the 1 MB limit
                c.send(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading and closed: also right
        got, headers, out = c.read()
        assert got == 413 and headers["connection"] == "close", out
    # a client that goes away in the middle of a body loses only its own request
    with connect(port) as c:
        c.send(infer(path, as_json(rows))[:5000])
    with connect(port) as c:
        c.send(infer(path, as_json(rows[:2])))
        assert c.read()[0] == 200


def test_the_fast_path_keeps_keys_and_time_limits(
    own_serve_home: Path, own_bay: Bay, rows: np.ndarray
) -> None:
    key = own_bay.keys.create("protocol-predict", ["predict"])[1]
    own_bay.deployments.put(
        "slow-forest-p", "bc-forest", max_batch=1, config={"runtime": "sklearn"}
    )
    settings = Settings(home=own_serve_home, auth=True, request_timeout_s=0.15)
    body = as_json(rows[:2])
    try:
        with serving(settings) as (port, srv), connect(port) as c:
            c.send(infer("/v2/models/bc-logistic/infer", body))
            status, headers, out = c.read()
            assert status == 401 and "www-authenticate" in headers, out
            c.send(infer("/v2/models/bc-logistic/infer", body, Authorization="Bearer nope"))
            assert c.read()[0] == 401
            c.send(infer("/v2/models/bc-logistic/infer", body, Authorization=f"Bearer {key}"))
            assert c.read()[0] == 200
            assert cycle_kind(srv) == {"FastCycle"}
            # labels and probabilities of 100,000 rows (the most a request may hold) through
            # a 250-tree forest in scikit-learn: 0.6 s or more here, so a late sweep still
            # finds it running (for labels alone, 0.3 s, a full suite once saw an answer)
            big, head = binary(np.tile(rows, (200, 1))[:100_000], proba=True)  # 12 MB: fits
            auth = {"Authorization": f"Bearer {key}"}
            for _ in range(50):  # the first load may itself take longer than the limit
                c.send(infer("/v2/models/slow-forest-p/infer", body, **auth))
                if c.read()[0] == 200:
                    break
            sent = time.perf_counter()
            c.send(infer_binary("/v2/models/slow-forest-p/infer", big, head, **auth))
            status, _, out = c.read()
            took = time.perf_counter() - sent
            assert status == 504, f"{status} after {took:.3f} s: {out[:300]!r}"
            assert "longer than 0.15 s" in json.loads(out)["error"]
            c.send(infer("/v2/models/slow-forest-p/infer", body, **auth))
            assert c.read()[0] == 200
    finally:
        own_bay.deployments.delete("slow-forest-p")


def test_with_keys_off_the_fast_path_logs_its_requests_as_anonymous(
    own_serve_home: Path, own_bay: Bay, rows: np.ndarray
) -> None:
    """Keys off, the fast path checks and sets no principal (each request's context holds
    the anonymous default): the request is still answered and logged, as "anonymous"."""
    since = datetime.now(UTC)
    settings = Settings(home=own_serve_home, auth=False, log_sample=1.0)
    with serving(settings) as (port, srv), connect(port) as c:
        c.send(infer_binary("/v2/models/bc-logistic/infer", *binary(rows[:3])))
        assert len(labels(c.read())) == 3
        assert cycle_kind(srv) == {"FastCycle"}
    # the server flushed its log on the way out
    with own_bay.db.session() as s:
        found = [e for e in logged(s, "bc-logistic", since) if e.rows == 3]
    assert [e.actor for e in found] == ["anonymous"]


def test_a_request_in_flight_at_shutdown_is_answered(
    own_serve_home: Path, rows: np.ndarray
) -> None:
    settings = Settings(home=own_serve_home, auth=False)
    with serving(settings) as (port, srv), connect(port) as c:
        c.send(infer("/v2/models/bc-logistic/infer", as_json(rows[:2])))
        assert c.read()[0] == 200
        # headers now, the body after shutdown has begun: still answered, then closed
        whole = infer("/v2/models/bc-logistic/infer", as_json(rows[:2]))
        cut = whole.index(b"\r\n\r\n") + 10
        c.send(whole[:cut])
        time.sleep(0.2)
        cycles = [p.cycle for p in srv.server_state.connections]
        assert [type(x) for x in cycles] == [FastCycle] and not cycles[0].response_complete  # type: ignore[attr-defined]
        srv.should_exit = True
        time.sleep(0.3)
        c.send(whole[cut:])
        status, headers, _ = c.read()
        assert status == 200 and headers["connection"] == "close"


def test_a_body_that_does_not_arrive_in_time_gets_504(
    own_serve_home: Path, rows: np.ndarray
) -> None:
    """The request time limit covers reading the body, as on the ASGI path: a client that
    stops half way (or trickles) is answered 504 and the connection closes."""
    settings = Settings(home=own_serve_home, auth=False, request_timeout_s=0.5)
    whole = infer("/v2/models/bc-logistic/infer", as_json(rows[:5]))
    cut = whole.index(b"\r\n\r\n") + 20
    with serving(settings) as (port, _):
        with connect(port) as c:
            started = time.monotonic()
            c.send(whole[:cut])
            status, headers, out = c.read()
            waited = time.monotonic() - started
            assert status == 504 and "did not arrive within 0.5 s" in json.loads(out)["error"]
            assert headers["connection"] == "close" and c.closed()
            assert 0.4 < waited < 3
        with connect(port) as c:  # pipelined: the late body of the second request
            c.send(whole + whole[:cut])
            assert c.read()[0] == 200
            assert c.read()[0] == 504
        with connect(port) as c:  # the server keeps serving, and a whole body is not late
            c.send(whole)
            assert c.read()[0] == 200


def test_an_inline_request_is_answered_without_a_task_and_a_waiting_one_carries_on(
    own_serve_home: Path, own_bay: Bay, rows: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one CPU per worker (model calls inline) a request is answered within the read
    that completed it: no asyncio task is made for it. A request that has to wait (here the
    first one, which loads the model) goes on in a task and gets the same answer."""
    expected = np.asarray(own_bay.load("bc-logistic").predict(rows))
    body, head = binary(rows)
    made: list[str] = []

    def counting(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        made.append(getattr(coro, "__qualname__", type(coro).__name__))
        return asyncio.Task(coro, loop=loop, **kwargs)

    cpus = max(1, len(os.sched_getaffinity(0)))
    with serving(Settings(home=own_serve_home, auth=False, workers=cpus)) as (port, srv):
        loop = srv.servers[0].get_loop()
        loop.call_soon_threadsafe(loop.set_task_factory, counting)
        time.sleep(0.1)
        with connect(port) as c:
            c.send(infer_binary("/v2/models/bc-logistic/infer", body, head))
            np.testing.assert_array_equal(labels(c.read()), expected)  # loads: waits
            assert "_CarryOn" in made, made
            made.clear()
            for _ in range(5):  # the first calls go to a thread, until one is timed
                c.send(infer_binary("/v2/models/bc-logistic/infer", body, head))
                np.testing.assert_array_equal(labels(c.read()), expected)
            made.clear()
            for _ in range(20):
                c.send(infer_binary("/v2/models/bc-logistic/infer", body, head))
                np.testing.assert_array_equal(labels(c.read()), expected)
            c.send(infer("/v2/models/bc-logistic/infer", b"{"))  # an error, also in place
            assert c.read()[0] == 400
            assert cycle_kind(srv) == {"FastCycle"}
        assert not [m for m in made if "run_asgi" in m or "_CarryOn" in m], made


def test_carry_on_finishes_a_coroutine_as_its_task_would() -> None:
    """The rest of a coroutine whose first step ran outside a task: its result, errors,
    and a cancellation (while it waits on a future, or thrown in) reach it as in a task."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        log: list[str] = []

        async def work(fut: asyncio.Future[int]) -> int:
            log.append("start")
            try:
                value = await fut
                await asyncio.sleep(0)  # a bare yield, then a timer
                await asyncio.sleep(0.01)
                return value + 1
            except asyncio.CancelledError:
                log.append("cancelled")
                raise
            finally:
                log.append(f"task={asyncio.current_task() is not None}")

        def started(fut: asyncio.Future[int]) -> asyncio.Task[None]:
            step = work(fut)
            waiting = step.send(None)  # outside a task, as the protocol does
            assert waiting is fut
            return loop.create_task(_CarryOn(step, waiting))

        fut: asyncio.Future[int] = loop.create_future()
        task = started(fut)
        loop.call_later(0.01, fut.set_result, 41)
        assert await task == 42 and log == ["start", "task=True"]

        log.clear()
        fut = loop.create_future()
        task = started(fut)
        await asyncio.sleep(0.01)
        task.cancel()  # while it waits on the future
        with pytest.raises(asyncio.CancelledError):
            await task
        assert log == ["start", "cancelled", "task=True"]

        log.clear()
        fut = loop.create_future()
        task = started(fut)
        task.cancel()  # before its first turn: thrown into it
        with pytest.raises(asyncio.CancelledError):
            await task
        assert log == ["start", "cancelled", "task=True"]

        async def failing(fut: asyncio.Future[int]) -> None:
            await fut
            raise ValueError("bad")

        fut = loop.create_future()
        step = failing(fut)
        task = loop.create_task(_CarryOn(step, step.send(None)))
        fut.set_result(0)
        with pytest.raises(ValueError, match="bad"):
            await task

    asyncio.run(main())


def test_the_fast_path_writes_uvicorns_access_log_line(
    server: tuple[int, uvicorn.Server], rows: np.ndarray
) -> None:
    port, _ = server
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    access = logging.getLogger("uvicorn.access")
    handler, level = Keep(), access.level
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    try:
        with connect(port) as c:
            c.send(infer("/v2/models/bc-logistic/infer", as_json(rows[:2])))
            assert c.read()[0] == 200
            client = c.sock.getsockname()
    finally:
        access.removeHandler(handler)
        access.setLevel(level)
    want = f'{client[0]}:{client[1]} - "POST /v2/models/{{name}}/infer HTTP/1.1" 200'
    assert lines == [want], lines


def test_urls_taking_turns_on_one_connection_each_reach_their_own_route(
    server: tuple[int, uvicorn.Server], rows: np.ndarray
) -> None:
    """The protocol remembers the last URL's route: another URL (another model, a version,
    a query) must not be answered by it."""
    port, _ = server
    body = as_json(rows[:3])
    paths = [
        ("/v2/models/bc-logistic/infer", "bc-logistic", None),
        ("/v2/models/bc-forest/infer", "bc-forest", None),
        ("/v2/models/bc-logistic/versions/1/infer", "bc-logistic", "1"),
        ("/v2/models/bc-forest/infer", "bc-forest", None),
        ("/v2/models/bc-forest/versions/9/infer", None, None),  # no such version: 404
    ]
    with connect(port) as c:
        for _ in range(2):
            for path, model, version in paths:
                c.send(infer(path, body))
                status, _, out = c.read()
                doc = json.loads(out)
                if model is None:
                    assert status == 404, doc
                    continue
                assert status == 200 and doc["model_name"] == model, doc
                if version is not None:
                    assert doc["model_version"] == version
        instances = json.dumps({"instances": rows[:2].tolist()}).encode()
        for query, has_proba in (
            ("?probabilities=true", True),
            ("", False),
            ("?probabilities=true", True),
        ):
            c.send(infer(f"/v1/models/bc-logistic:predict{query}", instances))
            status, _, out = c.read()
            assert status == 200 and ("probabilities" in json.loads(out)) == has_proba


@pytest.fixture
def own_bay(own_serve_home: Path) -> Iterator[Bay]:
    """The module's own copy of the serving home (what this module writes, no other reads)."""
    with Bay(home=own_serve_home) as bay:
        yield bay
