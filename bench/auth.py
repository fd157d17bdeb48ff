"""What API keys cost: served requests/s with auth off and on, same model, same run.

    python bench/auth.py [--duration 5] [--rounds 3] [--connections 64]

Two ``modelbay serve`` processes run without keys (``--no-auth``; the second one is a
control: how far apart two identical servers measure in this run) and one with them,
over the same registry and model (the scaler + logistic-regression pipeline of
bench/serve.py). ``wrk`` sends 1-row v2 JSON requests at 64 connections to each in
turn, several rounds, alternating so that the machine's noise falls on both; the
medians are compared. With keys, three callers: a plain predict key, a key with a
model allow-list, and a key with a rate limit and a quota (both far above the load,
so every request is admitted but counted in the shared limit file). The gate's own
cost per request is also timed in process.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ab import ab_args as parse
from ab import alternate, median, one_model, server_cpus, table

from serve import BIN, free_port, pinned, server

ADMIN = "bench-admin-key-0123456789abcdef0123"


def main() -> None:
    args = parse(__doc__ or "", duration=5.0, rounds=3)
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        home, body, headers, env = one_model(tmp)
        # the prediction log off in all: its database writes are priced by bench/monitor.py
        env.update(MODELBAY_ADMIN_KEY=ADMIN, MODELBAY_LOG_SAMPLE="0")
        off_port, twin_port, on_port = free_port(), free_port(), free_port()
        serve = [*pinned([], server_cpus(args)), str(BIN / "modelbay"), "serve", "--port"]
        ready = "http://127.0.0.1:{}/v2/health/ready"
        with (
            server(
                [*serve, str(off_port), "--no-auth"],
                ready.format(off_port),
                tmp,
                env,
                tmp / "off.log",
            ),
            server(
                [*serve, str(twin_port), "--no-auth"],
                ready.format(twin_port),
                tmp,
                env,
                tmp / "twin.log",
            ),
            server([*serve, str(on_port)], ready.format(on_port), tmp, env, tmp / "on.log"),
        ):
            url = "http://127.0.0.1:{}/v2/models/logistic/infer"
            # the control: a second, identical server without keys shows how far two servers
            # that do the same work differ in this run (the bench's own resolution)
            callers = {
                "auth off": (url.format(off_port), {}),
                "auth off, a twin server (control)": (url.format(twin_port), {}),
            }
            for label, token in make_keys(f"http://127.0.0.1:{on_port}").items():
                callers[f"auth on, {label}"] = (
                    url.format(on_port),
                    {"Authorization": f"Bearer {token}"},
                )
            runs = alternate(callers, body, headers, args)
            gate_us = gate_cost(home)
        print(f"\n### API keys: 1-row v2 JSON, logistic pipeline, {args.connections} connections\n")
        table(runs, "auth off")
        report(runs, gate_us)


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


def report(runs: dict[str, list[dict[str, float]]], gate_us: dict[str, float]) -> None:
    base = median(runs, "auth off")
    per_request_us = 1e6 / base
    print(f"\n| gate, in process | us per request | share of a request ({per_request_us:.0f} us) |")
    print("| --- | ---: | ---: |")
    for label, us in gate_us.items():
        print(f"| {label} | {us:.1f} | {100 * us / per_request_us:.1f}% |")
    keyed = [k for k in runs if k.startswith("auth on")]
    worst = min(median(runs, k) for k in keyed)
    off = [base, median(runs, "auth off, a twin server (control)")]
    spread = 100 * (max(off) - min(off)) / max(off)
    print(
        f"\nauth costs {100 * (1 - worst / max(off)):.1f}% of throughput at worst against the faster "
        f"server without keys (target: under 5%); two identical servers without keys differ by "
        f"{spread:.1f}% in this run"
    )


if __name__ == "__main__":
    main()
