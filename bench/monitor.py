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

import sys
import tempfile
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ab import ab_args as parse
from ab import alternate, median, one_model, server_cpus, table

from serve import BIN, free_port, pinned, server


def main() -> None:
    args = parse(__doc__ or "", duration=4.0, rounds=6)
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        _, body, headers, base = one_model(tmp)
        ports = {"logging off": free_port(), "logging 100%": free_port()}
        samples = {"logging off": "0", "logging 100%": "1"}
        cmd = [
            *pinned([], server_cpus(args)),
            str(BIN / "modelbay"),
            "serve",
            "--no-auth",
            "--port",
        ]
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
            url = "http://127.0.0.1:{}/v2/models/logistic/infer"
            callers = {label: (url.format(port), {}) for label, port in ports.items()}
            runs = alternate(callers, body, headers, args)
            counters = {label: log_counters(port) for label, port in ports.items()}
        print(
            f"\n### Prediction log: 1-row v2 JSON, logistic pipeline, {args.connections} connections\n"
        )
        extra = {
            label: [f"log entries written={c['written']:,.0f}", f"dropped={c['dropped']:,.0f}"]
            for label, c in counters.items()
        }
        table(runs, "logging off", extra)
        on, off = median(runs, "logging 100%"), median(runs, "logging off")
        print(
            f"\nlogging every request costs {100 * (1 - on / off):.1f}% of throughput (target: under 10%)"
        )


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


if __name__ == "__main__":
    main()
