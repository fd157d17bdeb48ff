"""What each layer of modelbay's inference path costs a 1,000-row binary v2 request, in process.

    python bench/layers.py [--rounds 40] [--log | --no-log]

The server's own code runs as under ``modelbay serve`` (the app, its lifespan, the HTTP
protocol, the prediction log and metrics), on bench/serve.py's logistic pipeline, but
the model's answer is computed once and then reused: what is left is the Python around
the model. Each row of the table calls the path from one layer down, over and over, on
one event loop; it prints the fastest and the first-quartile round (this machine's
noise only slows a round down) and what the layer adds to the one below it. The last
row is bench/floor_raw.py's protocol on the same request: a bare httptools server's
whole cost outside the model. Time, not CPU: the log's writer thread takes its turns
on the same interpreter, so its share shows up in the layers that record.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve import build_models, write_bodies


def reuse_answers() -> None:
    """``InferenceSession.run`` computes each (session, outputs) answer once, then reuses it."""
    run = ort.InferenceSession.run
    answers: dict[tuple[int, tuple[str, ...]], Any] = {}

    def cached(self: Any, names: Any, feed: Any, options: Any = None) -> Any:
        key = (id(self), tuple(names or ()))
        if key not in answers:
            answers[key] = run(self, names, feed, options)
        return answers[key]

    ort.InferenceSession.run = cached  # type: ignore[method-assign]


class Transport(asyncio.Transport):
    """What the protocol writes to, kept; a connection that stays open."""

    def __init__(self) -> None:
        super().__init__()
        self.out: list[bytes] = []

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def write(self, data: Any) -> None:
        self.out.append(bytes(data))

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def request_headers(body: bytes, head: int | None) -> dict[bytes, bytes]:
    """The headers of the v2 request ``body``: binary with its JSON part ``head`` bytes long,
    or JSON (``head`` None)."""
    if head is None:
        return {
            b"host": b"bench",
            b"content-type": b"application/json",
            b"content-length": str(len(body)).encode(),
        }
    return {
        b"host": b"bench",
        b"content-type": b"application/octet-stream",
        b"inference-header-content-length": str(head).encode(),
        b"content-length": str(len(body)).encode(),
    }


def http_request(body: bytes, head: int | None) -> bytes:
    """The whole HTTP/1.1 request, as a client sends it to both protocols."""
    lines = b"".join(b"%s: %s\r\n" % kv for kv in request_headers(body, head).items())
    return b"POST /v2/models/logistic/infer HTTP/1.1\r\n" + lines + b"\r\n" + body


async def timed(fn: Callable[[], Awaitable[Any]], rounds: int, per: int = 500) -> list[float]:
    for _ in range(per * 2):
        await fn()
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(per):
            await fn()
        out.append((time.perf_counter() - start) / per * 1e6)
    return sorted(out)


async def layers(home: Path, body: bytes, head: int | None, rounds: int, log: bool) -> list[Any]:
    import uvicorn

    from modelbay.api.access import match
    from modelbay.api.app import create_app
    from modelbay.api.handlers import infer_v2
    from modelbay.api.protocol import InferenceProtocol
    from modelbay.serve.codec import decode_request
    from modelbay.settings import Settings

    # two workers on two CPUs: one model thread a worker, calls inline
    app = create_app(Settings(home=home, auth=False, workers=2, log_sample=1.0 if log else 0.0))
    config = uvicorn.Config(
        app, port=0, http=InferenceProtocol, loop="uvloop", log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    plane = app.plane
    route, params, _ = match("POST", "/v2/models/logistic/infer")
    assert route is not None
    headers = request_headers(body, head)
    request = http_request(body, head)
    protocol = InferenceProtocol(config, server.server_state, {}, asyncio.get_running_loop())
    transport = Transport()
    protocol.connection_made(transport)

    async def http() -> None:
        protocol.data_received(request)
        while not transport.out:  # answered inline, or by a task that carries it on
            await asyncio.sleep(0)
        assert transport.out[0].startswith(b"HTTP/1.1 200"), transport.out[0][:300]
        transport.out.clear()

    decoded = decode_request(body, head)
    served = await plane.manager.get("logistic")
    block = served.version.signature.validate_block(
        decoded.inputs[0].data.reshape(decoded.inputs[0].shape)
    )

    async def predict() -> None:
        served.runtime.predict(block)

    steps: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("HTTP protocol (bytes in, bytes out)", http),
        ("front: access, limits, checks", lambda: app.answer(route, params, headers, body, b"")),
        (
            "v2 handler: decode, encode",
            lambda: infer_v2(plane, "logistic", None, body, None if head is None else str(head)),
        ),
        ("data plane: validation, hooks, log", lambda: plane.infer("logistic", decoded, None)),
        ("batcher", lambda: served.batcher.submit(block, proba=False)),
        ("runtime (the model's answer reused)", predict),
    ]
    out = [(label, await timed(fn, rounds)) for label, fn in steps]
    protocol.connection_lost(None)  # the server waits for its connections when it stops
    server.should_exit = True
    await asyncio.wait_for(serving, 10)
    return out


def floor(body: bytes, head: int | None, graph: str, rounds: int) -> list[float]:
    os.environ["BENCH_FLOOR_GRAPHS"] = json.dumps({"logistic": graph})
    from floor_raw import Protocol

    request = http_request(body, head)
    transport = Transport()
    protocol = Protocol()
    protocol.connection_made(transport)

    async def one() -> None:
        protocol.data_received(request)
        transport.out.clear()

    return asyncio.run(timed(one, rounds))


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--rounds", type=int, default=40, help="rounds of 500 requests a layer")
    p.add_argument("--log", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--body", choices=["v2-binary", "v2-json"], default="v2-binary")
    args = p.parse_args()
    import uvloop

    from modelbay.registry.home import Registry

    reuse_answers()
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        home = tmp / "home"
        models, x = build_models(home)
        path, headers = write_bodies(tmp, x)[args.body]["1000"]
        declared = headers.get("Inference-Header-Content-Length")
        body, head = path.read_bytes(), None if declared is None else int(declared)
        graph = tmp / "logistic.onnx"
        with Registry(home=home) as reg:
            graph.write_bytes(reg.models.load_object(models["logistic"].version, "onnx"))
        rows = uvloop.run(layers(home, body, head, args.rounds, args.log))
        if head is not None:  # the bare floor speaks the binary extension only
            rows.append(
                (
                    "floor without ASGI (bench/floor_raw.py)",
                    floor(body, head, str(graph), args.rounds),
                )
            )
    print(
        f"\n### The Python around the model, 1,000-row {args.body} request (log {'on' if args.log else 'off'})\n"
    )
    print(
        "| from this layer down | us a request (fastest round) | first quartile | the layer adds |"
    )
    print("| --- | ---: | ---: | ---: |")
    stack = rows[:-1] if head is not None else rows
    for i, (label, times) in enumerate(stack):
        below = stack[i + 1][1][0] if i + 1 < len(stack) else 0.0
        print(
            f"| {label} | {times[0]:.1f} | {times[len(times) // 4]:.1f} | {times[0] - below:.1f} |"
        )
    if head is not None:
        label, times = rows[-1]
        print(f"| {label} | {times[0]:.1f} | {times[len(times) // 4]:.1f} | |")


if __name__ == "__main__":
    main()
