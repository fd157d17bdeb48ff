"""The floor under any Python inference server: a bare ASGI app under uvicorn that reads a
binary v2 request, runs the ONNX graph and answers the labels, and does nothing else.

No validation, no batching, no limits, no metrics, no log, no auth: what is left is the
HTTP server, the kernel's loopback and the model. ``bench/serve.py`` serves the same
graphs with it, as many worker processes as ``modelbay serve`` starts, to show how much of
the in-process rate any server of this kind keeps on this machine, and how much of that
modelbay keeps. Graphs come from ``BENCH_FLOOR_GRAPHS`` (JSON: model name -> .onnx path).
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import onnxruntime as ort

_sessions: dict[str, Any] = {}


def _session(name: str) -> Any:
    sess = _sessions.get(name)
    if sess is None:
        paths = json.loads(os.environ["BENCH_FLOOR_GRAPHS"])
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # one process a CPU, as modelbay serve runs
        options.inter_op_num_threads = 1
        sess = _sessions[name] = ort.InferenceSession(
            paths[name], options, providers=["CPUExecutionProvider"]
        )
    return sess


def answer(name: str, body: bytes, length: int) -> tuple[bytes, bytes]:
    """The JSON header and the raw labels that answer a binary v2 request of ``name``."""
    shape = json.loads(body[:length])["inputs"][0]["shape"]
    x = np.frombuffer(memoryview(body)[length:], dtype=np.float32).reshape(shape)
    sess = _session(name)
    labels = sess.run([sess.get_outputs()[0].name], {"input": x})[0].astype(np.int64)
    raw = labels.tobytes()
    head = json.dumps(
        {
            "model_name": name,
            "outputs": [
                {
                    "name": "predict",
                    "datatype": "INT64",
                    "shape": [len(labels)],
                    "parameters": {"binary_data_size": len(raw)},
                }
            ],
        }
    ).encode()
    return head, raw


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["method"] == "GET":  # the bench's readiness probe
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    chunks, more = [], True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    name = scope["path"].split("/")[3]  # /v2/models/{name}/infer
    length = int(dict(scope["headers"])[b"inference-header-content-length"])
    head, raw = answer(name, b"".join(chunks), length)
    headers = [
        (b"content-type", b"application/octet-stream"),
        (b"inference-header-content-length", str(len(head)).encode()),
        (b"content-length", str(len(head) + len(raw)).encode()),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": head + raw})
