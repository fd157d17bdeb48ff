"""The floor without ASGI: an asyncio protocol on uvloop that parses HTTP/1.1 with
httptools (what uvicorn parses with), runs the ONNX graph and writes the answer.

``python bench/floor_raw.py PORT WORKERS``: one process a worker, each with its own
SO_REUSEPORT socket. Graphs come from ``BENCH_FLOOR_GRAPHS`` as for ``floor_app.py``.
Keep-alive only, no limits, no errors handled: a measuring stick, not a server. Beside
``floor_app.py`` it shows what the ASGI layer itself costs a request.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from typing import Any

import httptools
import uvloop
from floor_app import answer


class Protocol(asyncio.Protocol):
    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.headers: dict[bytes, bytes] = {}
        self.body: list[bytes] = []

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.parser.get_method() == b"GET":
            self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        else:
            name = self.url.split(b"/")[3].decode()
            length = int(self.headers[b"inference-header-content-length"])
            head, raw = answer(name, b"".join(self.body), length)
            self.transport.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n"
                b"inference-header-content-length: %d\r\ncontent-length: %d\r\n\r\n"
                % (len(head), len(head) + len(raw))
                + head
                + raw
            )
        self.url, self.headers, self.body = b"", {}, []


def serve(port: int) -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    loop = uvloop.new_event_loop()
    loop.run_until_complete(loop.create_server(Protocol, sock=sock))
    loop.run_forever()


if __name__ == "__main__":
    port, workers = int(sys.argv[1]), int(sys.argv[2])
    for _ in range(workers - 1):
        if os.fork() == 0:
            break
    serve(port)
