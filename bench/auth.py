"""What API keys cost: served requests/s with auth off and on, same model, same run.

    python bench/auth.py [--duration 5] [--rounds 3] [--connections 64]

One ``modelbay serve`` runs without keys (``--no-auth``) and one with them, over the
same registry and model (the scaler + logistic-regression pipeline of
bench/serve.py). ``wrk`` sends 1-row v2 JSON requests at 64 connections to each in
turn, several rounds, alternating so that the machine's noise falls on both; the
medians are compared. With keys, three callers: a plain predict key, a key with a
model allow-list, and a key with a rate limit and a quota (both far above the load,
so every request is admitted but counted in the shared limit file). The gate's own
cost per request is also timed in process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve import BIN, build_models, free_port, server, write_bodies, wrk

ADMIN = "bench-admin-key-0123456789abcdef0123"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--connections", type=int, default=64)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        home = tmp / "home"
        _, x = build_models(home)
        body, headers = write_bodies(tmp, x)["v2-json"]["1"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODELBAY_")}
        env.update(MODELBAY_HOME=str(home), MODELBAY_ADMIN_KEY=ADMIN)
        off_port, on_port = free_port(), free_port()
        serve = [str(BIN / "modelbay"), "serve", "--port"]
        with (
            server(
                [*serve, str(off_port), "--no-auth"],
                f"http://127.0.0.1:{off_port}/v2/health/ready",
                tmp,
                env,
                tmp / "off.log",
            ),
            server(
                [*serve, str(on_port)],
                f"http://127.0.0.1:{on_port}/v2/health/ready",
                tmp,
                env,
                tmp / "on.log",
            ),
        ):
            keys = make_keys(f"http://127.0.0.1:{on_port}")
            callers = {"auth off": (off_port, {})}
            for label, token in keys.items():
                callers[f"auth on, {label}"] = (on_port, {"Authorization": f"Bearer {token}"})
            runs: dict[str, list[dict[str, float]]] = {k: [] for k in callers}
            order = list(callers)
            for r in range(args.rounds):
                # alternate the order, so that a drift during a round falls on every caller
                for label in order if r % 2 == 0 else order[::-1]:
                    port, extra = callers[label]
                    url = f"http://127.0.0.1:{port}/v2/models/logistic/infer"
                    check = httpx.post(url, content=body.read_bytes(), headers={**headers, **extra})
                    assert check.status_code == 200, check.text
                    runs[label].append(
                        wrk(url, body, {**headers, **extra}, args.connections, args.duration)
                    )
                print(f"round {r + 1}/{args.rounds} done", flush=True)
            gate_us = gate_cost(home)
        report(runs, args.connections, gate_us)


def make_keys(url: str) -> dict[str, str]:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    specs = {
        "predict key": {"name": "bench-plain", "scopes": ["predict"]},
        "allow-listed key": {"name": "bench-listed", "scopes": ["predict"], "models": ["logistic"]},
        "rate-limited key": {
            "name": "bench-limited",
            "scopes": ["predict"],
            "rate": "1000000/s",
            "quota": "1000000000/month",
        },
    }
    out = {}
    for label, spec in specs.items():
        r = httpx.post(f"{url}/api/keys", json=spec, headers=admin)
        r.raise_for_status()
        out[label] = r.json()["key"]
    return out


def gate_cost(home: Path) -> dict[str, float]:
    """Microseconds per request spent in the gate (authenticate, authorize, admit), in process."""
    from modelbay import Bay
    from modelbay.security.gate import Gate
    from modelbay.security.keys import KeyCatalog
    from modelbay.security.limits import SharedLimits

    async def run() -> dict[str, float]:
        with Bay(home=home) as bay:
            plain = bay.keys.create("gate-plain", ["predict"])[1]
            limited = bay.keys.create(
                "gate-limited", ["predict"], rate="1000000/s", quota="1000000000/month"
            )[1]
            gate = Gate(
                KeyCatalog.of(bay), bay.db, limits=SharedLimits(home / "run" / "gate-bench.bin")
            )
            out = {}
            for label, token in (("predict key", plain), ("rate-limited key", limited)):
                await gate.authenticate(token)  # the first call fills the cache
                n, start = 20_000, time.perf_counter()
                for _ in range(n):
                    p = await gate.authenticate(token)
                    gate.authorize(p, ("predict",))
                    gate.admit(p, token)
                out[label] = (time.perf_counter() - start) / n * 1e6
            gate.forget()
            return out

    return asyncio.run(run())


def report(runs: dict[str, list[dict[str, float]]], conns: int, gate_us: dict[str, float]) -> None:
    base = statistics.median(r["rps"] for r in runs["auth off"])
    print(
        f"\n### API keys: 1-row v2 JSON, logistic pipeline, {conns} connections (median of rounds)\n"
    )
    print("| caller | req/s (each round) | median req/s | p99 ms | vs auth off |")
    print("| --- | --- | ---: | ---: | ---: |")
    for label, rs in runs.items():
        med = statistics.median(r["rps"] for r in rs)
        p99 = statistics.median(r["p99_ms"] for r in rs)
        each = ", ".join(f"{r['rps']:,.0f}" for r in rs)
        errors = sum(r["errors"] for r in rs)
        flag = f" ({errors:.0f} errors)" if errors else ""
        print(f"| {label} | {each} | {med:,.0f}{flag} | {p99:.1f} | {med / base:.3f} |")
    per_request_us = 1e6 / base
    print(f"\n| gate, in process | us per request | share of a request ({per_request_us:.0f} us) |")
    print("| --- | ---: | ---: |")
    for label, us in gate_us.items():
        print(f"| {label} | {us:.1f} | {100 * us / per_request_us:.1f}% |")
    worst = min(
        statistics.median(r["rps"] for r in rs) for k, rs in runs.items() if k != "auth off"
    )
    print(f"\nauth costs {100 * (1 - worst / base):.1f}% of throughput at worst (target: under 5%)")


if __name__ == "__main__":
    main()
