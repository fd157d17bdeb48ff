"""A closed-loop gRPC load generator (a separate process), on Triton's own async client.

    python bench/grpc_load.py --target 127.0.0.1:8001 --model forest --rows 1 --conns 64 --seconds 5

Prints one JSON line: req/s, p50 and p99 in ms, errors. It is itself Python, so at
high request rates it can be the limit: read its figures as a lower bound.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import numpy as np
import tritonclient.grpc.aio as tga
from sklearn.datasets import load_breast_cancer


async def main(target: str, model: str, rows: int, conns: int, seconds: float) -> dict[str, float]:
    x = load_breast_cancer().data.astype(np.float32)
    batch = x[np.random.default_rng(0).integers(0, len(x), rows)]
    client = tga.InferenceServerClient(target)
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        inp = tga.InferInput("input-0", list(batch.shape), "FP32")
        inp.set_data_from_numpy(batch)
        out = [tga.InferRequestedOutput("predict")]
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            try:
                await client.infer(model, [inp], outputs=out)
                latencies.append(time.perf_counter() - t0)
            except Exception:
                errors += 1

    start = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(conns)])
    elapsed = time.perf_counter() - start
    await client.close()
    lat = np.array(latencies) * 1000
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": float(np.percentile(lat, 50)) if len(lat) else float("nan"),
        "p99_ms": float(np.percentile(lat, 99)) if len(lat) else float("nan"),
        "errors": float(errors),
        "timeouts": 0.0,
    }


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--target", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--rows", type=int, default=1)
    p.add_argument("--conns", type=int, default=1)
    p.add_argument("--seconds", type=float, default=5.0)
    a = p.parse_args()
    print(json.dumps(asyncio.run(main(a.target, a.model, a.rows, a.conns, a.seconds))))
