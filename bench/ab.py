"""A/B runs of served throughput: the same load on several callers in alternating rounds.

The machine is shared and noisy, so a comparison of configurations is made in one
run: ``wrk`` loads each caller in turn, the order rotates each round so that every
caller takes every place (a drift during a round falls on all of them alike), and
medians are compared. The server's own CPU time per request is measured beside.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from serve import build_models, clean_env, write_bodies, wrk

__all__ = [
    "Runs",
    "ab_args",
    "alternate",
    "load_cpus",
    "median",
    "one_model",
    "server_cpus",
    "table",
]

Runs = dict[str, list[dict[str, float]]]


def ab_args(doc: str, duration: float, rounds: int) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--duration", type=float, default=duration, help="seconds per wrk run")
    p.add_argument("--rounds", type=int, default=rounds)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="do not pin the servers to CPU 0 and wrk to CPU 1 (pinning keeps the "
        "scheduler's placement out of the comparison)",
    )
    args = p.parse_args()
    args.pin = args.pin and (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
    return args


def server_cpus(args: argparse.Namespace) -> str | None:
    return "0" if args.pin else None


def load_cpus(args: argparse.Namespace) -> str | None:
    return "1" if args.pin else None


def one_model(tmp: Path) -> tuple[Path, Path, dict[str, str], dict[str, str]]:
    """A home under ``tmp`` with bench/serve.py's models, the 1-row v2 JSON request (body
    file and headers), and this process's environment without MODELBAY_* but that home."""
    home = tmp / "home"
    _, x = build_models(home)
    body, headers = write_bodies(tmp, x)["v2-json"]["1"]
    env = clean_env()
    env["MODELBAY_HOME"] = str(home)
    env["PYTHONHASHSEED"] = (
        "0"  # the same hashing in every server: one less difference between them
    )
    return home, body, headers, env


def alternate(
    callers: dict[str, tuple[str, dict[str, str]]],
    body: Path,
    headers: dict[str, str],
    args: argparse.Namespace,
) -> Runs:
    """``callers``: label -> (URL, extra headers). Each answers once before it is loaded."""
    runs: Runs = {label: [] for label in callers}
    order = list(callers)
    for url, extra in callers.values():  # warm up: caches, lazily loaded models, the allocator
        wrk(url, body, {**headers, **extra}, args.connections, 2, load_cpus(args))
    servers = {_server_pid(url) for url, _ in callers.values()}
    for r in range(args.rounds):
        turn = order[r % len(order) :] + order[: r % len(order)]  # each caller in each place
        for label in turn if (r // len(order)) % 2 == 0 else turn[::-1]:
            url, extra = callers[label]
            check = httpx.post(url, content=body.read_bytes(), headers={**headers, **extra})
            assert check.status_code == 200, check.text
            pid = _server_pid(url)
            before = cpu_ticks(pid)
            with _only(pid, servers if args.pin else set()):
                result = wrk(
                    url,
                    body,
                    {**headers, **extra},
                    args.connections,
                    args.duration,
                    load_cpus(args),
                )
            served = max(1.0, result["rps"] * round(args.duration))
            used_s = (cpu_ticks(pid) - before) / os.sysconf("SC_CLK_TCK")
            result["cpu_us"] = used_s * 1e6 / served
            runs[label].append(result)
        print(f"round {r + 1}/{args.rounds} done", flush=True)
    return runs


@contextmanager
def _only(pid: int, servers: set[int]) -> Iterator[None]:
    """The other servers stopped (SIGSTOP to each one's process tree: a supervisor and its
    workers) while ``pid`` is measured: their timers and polls would otherwise run on the
    measured server's cores and be charged to it."""
    others = [q for p in servers if p != pid and p > 0 for q in tree(p)]
    for p in others:
        os.kill(p, signal.SIGSTOP)
    try:
        yield
    finally:
        for p in others:
            os.kill(p, signal.SIGCONT)


def _server_pid(url: str) -> int:
    """The process serving ``url`` (the one started with its port: with workers, their
    supervisor)."""
    port = url.split(":")[2].split("/")[0]
    out = subprocess.run(["pgrep", "-f", f"serve .*--port {port}"], capture_output=True, text=True)
    pids = [int(p) for p in out.stdout.split()]
    return min(pids) if pids else 0


def tree(pid: int) -> list[int]:
    """``pid`` and every process below it (a server's supervisor and its workers)."""
    found, stack = [], [pid]
    while stack:
        p = stack.pop()
        found.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            try:
                stack += [int(c) for c in task.read_text().split()]
            except OSError:
                continue
    return found


def cpu_ticks(pid: int) -> int:
    """User + system CPU ticks of a process and every process below it (all their threads):
    a server with workers is its supervisor and its workers."""
    total = 0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total


def median(runs: Runs, label: str, key: str = "rps") -> float:
    return statistics.median(r[key] for r in runs[label])


def table(runs: Runs, base: str, extra: dict[str, list[str]] | None = None) -> None:
    """A markdown table: each round's req/s, the median, p99, and the ratio to ``base``."""
    extra = extra or {}
    heads = list(next(iter(extra.values()))) if extra else []
    names = [h.split("=", 1)[0] for h in heads]
    print(
        "| caller | req/s (each round) | median req/s | p99 ms | vs "
        + base
        + " | server CPU us/request |"
        + "".join(f" {n} |" for n in names)
    )
    print("| --- | --- | ---: | ---: | ---: | ---: |" + " ---: |" * len(names))
    ref = median(runs, base)
    for label, rs in runs.items():
        each = ", ".join(f"{r['rps']:,.0f}" for r in rs)
        errors = sum(r["errors"] for r in rs)
        flag = f" ({errors:.0f} errors)" if errors else ""
        cells = "".join(f" {c.split('=', 1)[1]} |" for c in extra.get(label, []))
        print(
            f"| {label} | {each} | {median(runs, label):,.0f}{flag} | {median(runs, label, 'p99_ms'):.1f} "
            f"| {median(runs, label) / ref:.3f} | {median(runs, label, 'cpu_us'):.0f} |{cells}"
        )
