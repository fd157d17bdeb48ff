"""What the prediction log costs: served requests/s with logging off and at 100%, one run.

    python bench/monitor.py [--duration 4] [--rounds 6] [--connections 64]

Two ``modelbay serve`` processes over the same registry and model (the scaler +
logistic-regression pipeline of bench/serve.py), without API keys: one with
``MODELBAY_LOG_SAMPLE=0`` and one logging every request (inputs, outputs, version,
latency) to the registry's SQLite database. ``wrk`` sends 1-row v2 JSON requests at
64 connections to each in turn, alternating the order each round; medians are
compared. Metrics are on in both. The log's counters (written, dropped) are read
from each server's /metrics at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve import BIN, build_models, free_port, server, write_bodies, wrk


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=4.0)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--connections", type=int, default=64)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        home = tmp / "home"
        _, x = build_models(home)
        body, headers = write_bodies(tmp, x)["v2-json"]["1"]
        base = {k: v for k, v in os.environ.items() if not k.startswith("MODELBAY_")}
        base["MODELBAY_HOME"] = str(home)
        ports = {"logging off": free_port(), "logging 100%": free_port()}
        samples = {"logging off": "0", "logging 100%": "1"}
        cmd = [str(BIN / "modelbay"), "serve", "--no-auth", "--port"]
        servers = [
            server(
                [*cmd, str(port)],
                f"http://127.0.0.1:{port}/v2/health/ready",
                tmp,
                {**base, "MODELBAY_LOG_SAMPLE": samples[label]},
                tmp / f"{port}.log",
            )
            for label, port in ports.items()
        ]
        with servers[0], servers[1]:
            runs: dict[str, list[dict[str, float]]] = {k: [] for k in ports}
            order = list(ports)
            for r in range(args.rounds):
                for label in order if r % 2 == 0 else order[::-1]:
                    url = f"http://127.0.0.1:{ports[label]}/v2/models/logistic/infer"
                    assert (
                        httpx.post(url, content=body.read_bytes(), headers=headers).status_code
                        == 200
                    )
                    runs[label].append(wrk(url, body, headers, args.connections, args.duration))
                print(f"round {r + 1}/{args.rounds} done", flush=True)
            counters = {label: log_counters(port) for label, port in ports.items()}
        report(runs, counters, args.connections)


def log_counters(port: int) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    out = {"written": 0.0, "dropped": 0.0}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "modelbay_prediction_log_entries_total":
                out["written"] += s.value
            elif s.name == "modelbay_prediction_log_dropped_total":
                out["dropped"] += s.value
    return out


def report(
    runs: dict[str, list[dict[str, float]]], counters: dict[str, dict[str, float]], conns: int
) -> None:
    base = statistics.median(r["rps"] for r in runs["logging off"])
    print(f"\n### Prediction log: 1-row v2 JSON, logistic pipeline, {conns} connections\n")
    print(
        "| server | req/s (each round) | median req/s | p99 ms | vs off | log entries written | dropped |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for label, rs in runs.items():
        med = statistics.median(r["rps"] for r in rs)
        p99 = statistics.median(r["p99_ms"] for r in rs)
        each = ", ".join(f"{r['rps']:,.0f}" for r in rs)
        c = counters[label]
        print(
            f"| {label} | {each} | {med:,.0f} | {p99:.1f} | {med / base:.3f} | "
            f"{c['written']:,.0f} | {c['dropped']:,.0f} |"
        )
    on = statistics.median(r["rps"] for r in runs["logging 100%"])
    print(
        f"\nlogging every request costs {100 * (1 - on / base):.1f}% of throughput (target: under 10%)"
    )


if __name__ == "__main__":
    main()
