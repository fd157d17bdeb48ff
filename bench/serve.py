"""Served throughput and latency against the in-process limit and against other servers.

    python bench/serve.py [--duration 5] [--competitors mlflow,bentoml,mlserver]
                          [--only PART,...] [--baseline REV] [--paired-rounds 5]

Models: a scaler + logistic-regression pipeline and a 100-tree random forest,
trained by modelbay on breast cancer (569 x 30). The run measures, on this machine:

1. the in-process limits: the model's own ``predict`` (scikit-learn, and the ONNX
   graph) on 1 row (calls/s) and on 1,000-row batches (rows/s), each the best of three
   runs at the start of the benchmark and three at its end (noise only slows a run);
2. ``modelbay serve`` (default settings: a worker process per CPU) under ``wrk`` on 127.0.0.1:
   1-row requests at 1, 8 and 64 connections (req/s, p50, p99) and 1,000-row requests
   at 8 connections (rows/s), through v2 REST JSON, v2 REST binary tensors and the
   convenience route; and over gRPC with ``bench/grpc_load.py`` (Triton's async client
   in its own process: a Python client, so its figures are a lower bound);
3. the floors, through the binary route: the same graphs behind a bare ASGI app under
   uvicorn (``bench/floor_app.py``: no checks, batching, metrics or log) and behind a bare
   httptools protocol without ASGI (``bench/floor_raw.py``), as many workers each: what
   any Python server of either kind keeps of the in-process rate here; and the naive JSON
   floor, a plain Flask app under ``gunicorn -w N`` (``bench/floor_flask.py``: ``json.loads``,
   the scikit-learn model's ``predict``, ``jsonify``), sent modelbay's v2 JSON bodies;
4. paired rounds for the 1,000-row binary target: ``modelbay serve`` and the floor
   without ASGI both up, and in each round the in-process ONNX rate, then each server
   under the same load, a few seconds apart; the ratio of each round, and their median.
   This machine's speed swings by half within minutes, so a served figure set against
   a limit measured minutes earlier (or the best limit of the run) says as much about
   the minute as about the server; a ratio of figures seconds apart says less of it;
5. no regression (``bench/baseline.py``): the server of an earlier commit (``--baseline
   REV``, by default the one before issue 20's serving core) checked out into a temporary
   git worktree, and this checkout's, paired rounds of 1-row v2 JSON requests at 64
   connections and 1,000-row binary requests at 8, new/old each round and the median;
6. the same load against MLflow's scoring server, BentoML and MLServer serving the
   same fitted model, each installed into its own environment under
   ``bench/.envs`` (created on first run) and started with its default settings.

``--only floors,baseline`` runs some parts alone (the competitors take minutes); a part
brings what its targets are set against (floors and competitors: modelbay's own runs).
The other servers and the Flask floor get the model as a joblib file written by this
script (their own formats load pickles; modelbay never does). Ratios are what to read: the machine is
shared and noisy, and wrk itself takes one of the two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from modelbay.serve.codec import binary_request

HERE = Path(__file__).resolve().parent
ENVS = HERE / ".envs"
BIN = Path(sys.executable).parent
PACKAGES = {
    "mlflow": ["mlflow", "scikit-learn"],
    "bentoml": ["bentoml", "scikit-learn"],
    # MLServer 1.7's inference pool dies at start with uvloop >= 0.21 ("no current event loop")
    "mlserver": ["mlserver", "mlserver-sklearn", "scikit-learn", "uvloop<0.21"],
}
BIG = 1000


# -- helpers -------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rate(fn: Callable[[], object], seconds: float = 1.0, rounds: int = 3) -> float:
    """Calls per second of ``fn``: the best of ``rounds`` runs of ``seconds`` in all. Other
    work on a shared machine only ever slows a run down, so the best run is the nearest
    to what the machine can do (and the hardest limit to compare a server with)."""
    fn()
    best = 0.0
    for _ in range(rounds):
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / rounds:
            fn()
            n += 1
        best = max(best, n / (time.perf_counter() - start))
    return best


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def clean_env() -> dict[str, str]:
    """This process's environment without its MODELBAY_* settings, for a server to start in."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MODELBAY_")}


@contextmanager
def server(
    argv: list[str], ready: str, cwd: Path, env: dict[str, str], log: Path
) -> Iterator[None]:
    with open(log, "w") as out:
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            wait_ready(ready, proc)
            yield
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


LUA = """
wrk.method = "POST"
local f = io.open("{body}", "rb")
wrk.body = f:read("*a")
f:close()
{headers}
"""


def pinned(argv: list[str], cpus: str | None) -> list[str]:
    """``argv`` run on the CPUs ``cpus`` (taskset) with address-space randomisation off
    (setarch -R: every server gets the same memory layout), or as is when ``cpus`` is None."""
    if not cpus:
        return argv
    fixed = ["setarch", platform.machine(), "-R"] if shutil.which("setarch") else []
    return [*fixed, "taskset", "-c", cpus, *argv]


def wrk(
    url: str,
    body: Path,
    headers: dict[str, str],
    conns: int,
    seconds: float,
    cpus: str | None = None,
) -> dict[str, float]:
    """POST one body file with ``headers`` at ``conns`` connections for ``seconds``."""
    script = body.with_suffix(".lua")
    lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
    script.write_text(LUA.format(body=body, headers=lines))
    return run_wrk(url, script, conns, seconds, cpus)


def run_wrk(
    url: str, script: Path, conns: int, seconds: float, cpus: str | None = None
) -> dict[str, float]:
    """wrk with a Lua script: req/s, p50 and p99 latency, non-2xx answers and time-outs.
    ``cpus``: pin wrk there (one thread a CPU)."""
    threads = min(len(cpus.split(",")) if cpus else 2, conns)
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{conns}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    proc = subprocess.run(
        pinned(argv, cpus),
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    out = proc.stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None:
        raise RuntimeError(f"wrk failed on {url}: {proc.stderr or out}")
    rps = float(found.group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: .*timeout (\d+)", out)
    return {
        "rps": rps,
        "p50_ms": _ms(out, "50%"),
        "p99_ms": _ms(out, "99%"),
        "errors": float(errors.group(1)) if errors else 0.0,
        "timeouts": float(sock.group(1)) if sock else 0.0,
    }


def _ms(text: str, pct: str) -> float:
    m = re.search(rf"{re.escape(pct)}\s+([\d.]+)(us|ms|s)\b", text)
    if not m:
        return float("nan")
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def ensure_env(name: str) -> Path:
    env = ENVS / name
    python = env / "bin" / "python"
    if not python.exists():
        print(f"creating the {name} benchmark environment (once) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PACKAGES[name]], check=True)
    return env


# -- what is served -----------------------------------------------------------------------
def build_models(home: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    from sklearn.datasets import load_breast_cancer

    from modelbay import Bay

    frame = load_breast_cancer(as_frame=True).frame
    with Bay(home=home) as bay:
        bay.train(frame, "target", name="logistic", algorithm="logistic_regression", trials=1, cv=2)
        bay.train(
            frame,
            "target",
            name="forest",
            algorithm="random_forest",
            trials=1,
            cv=2,
            params={"n_estimators": 100},
        )
        models = {n: bay.load(n) for n in ("logistic", "forest")}
    return models, frame.drop(columns="target")


def write_bodies(tmp: Path, x: pd.DataFrame) -> dict[str, dict[str, tuple[Path, dict[str, str]]]]:
    """Request bodies per protocol, for 1 row and for BIG rows."""
    rng = np.random.default_rng(0)
    big = x.iloc[rng.integers(0, len(x), BIG)].to_numpy()
    one = x.head(1).to_numpy()
    out: dict[str, dict[str, tuple[Path, dict[str, str]]]] = {}
    for label, rows in (("1", one), (str(BIG), big)):
        json_h = {"Content-Type": "application/json"}
        v2 = {
            "inputs": [
                {
                    "name": "input-0",
                    "shape": list(rows.shape),
                    "datatype": "FP64",
                    "data": rows.ravel().tolist(),
                }
            ]
        }
        binary, head_length = binary_request(rows)
        bodies = {
            "v2-json": (v2, json_h),
            "v2-binary": (
                binary,
                {
                    "Content-Type": "application/octet-stream",
                    "Inference-Header-Content-Length": str(head_length),
                },
            ),
            "v1": ({"instances": rows.tolist()}, json_h),
            "mlflow": (
                {"dataframe_split": {"columns": list(x.columns), "data": rows.tolist()}},
                json_h,
            ),
            "bentoml": ({"input": rows.tolist()}, json_h),
            "mlserver": (v2, json_h),
        }
        for proto, (body, headers) in bodies.items():
            path = tmp / f"{proto}-{label}.body"
            path.write_bytes(body if isinstance(body, bytes) else json.dumps(body).encode())
            out.setdefault(proto, {})[label] = (path, headers)
    return out


def limits_of(model: Any, sess: Any, one: pd.DataFrame, big: pd.DataFrame) -> dict[str, float]:
    x1, xb = one.to_numpy(np.float32), big.to_numpy(np.float32)
    return {
        "sklearn_1row_calls_s": rate(lambda: model.predict(one)),
        "sklearn_rows_s": BIG * rate(lambda: model.predict(big)),
        "onnx_1row_calls_s": rate(lambda: sess.run(None, {"input": x1})),
        "onnx_rows_s": BIG * rate(lambda: sess.run(None, {"input": xb})),
    }


def in_process(models: dict[str, Any], x: pd.DataFrame, home: Path) -> dict[str, dict[str, float]]:
    import onnxruntime as ort

    from modelbay.registry.home import Registry

    rng = np.random.default_rng(0)
    big = x.iloc[rng.integers(0, len(x), BIG)].reset_index(drop=True)
    out = {}
    for name, predictor in models.items():
        one = x.head(1)
        v = predictor.version
        with Registry(home=home) as reg:
            graph = reg.models.load_object(v, "onnx")
        sess = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
        out[name] = limits_of(predictor.model, sess, one, big)
    return out


# -- the servers ---------------------------------------------------------------------------
def measure(
    url: Callable[[str], str],
    bodies: dict[str, tuple[Path, dict[str, str]]],
    models: list[str],
    conns: list[int],
    seconds: float,
) -> dict[str, dict[str, dict[str, float]]]:
    res: dict[str, dict[str, dict[str, float]]] = {}
    for m in models:
        path, headers = bodies["1"]
        check = httpx.post(url(m), content=path.read_bytes(), headers=headers, timeout=30)
        if check.status_code != 200:
            raise RuntimeError(f"{url(m)} answered {check.status_code}: {check.text[:300]}")
        # a second on fresh connections first: a server of several worker processes loads
        # a model in each on its first request there, and that is not what is measured
        wrk(url(m), path, headers, 16, 1)
        res[m] = {}
        for c in conns:
            res[m][f"1row@{c}"] = wrk(url(m), path, headers, c, seconds)
        big_path, big_headers = bodies[str(BIG)]
        r = wrk(url(m), big_path, big_headers, 8, seconds)
        r["rows_s"] = r["rps"] * BIG
        res[m][f"{BIG}rows@8"] = r
    return res


def grpc_measure(
    target: str, models: list[str], conns: list[int], seconds: float
) -> dict[str, Any]:
    """The same shape of figures as ``measure``, from bench/grpc_load.py in its own process."""

    def run(model: str, rows: int, c: int) -> dict[str, float]:
        argv = [
            sys.executable,
            str(HERE / "grpc_load.py"),
            "--target",
            target,
            "--model",
            model,
            "--rows",
            str(rows),
            "--conns",
            str(c),
            "--seconds",
            str(seconds),
        ]
        out = subprocess.run(
            argv, capture_output=True, text=True, timeout=seconds + 120, check=True
        )
        return dict(json.loads(out.stdout.strip().splitlines()[-1]))

    res: dict[str, Any] = {}
    for m in models:
        res[m] = {f"1row@{c}": run(m, 1, c) for c in conns}
        big = run(m, BIG, 8)
        big["rows_s"] = big["rps"] * BIG
        res[m][f"{BIG}rows@8"] = big
    return res


def modelbay_runs(
    home: Path, bodies: Any, conns: list[int], seconds: float, tmp: Path
) -> dict[str, Any]:
    port, grpc_port = free_port(), free_port()
    env = clean_env()
    env["MODELBAY_HOME"] = str(home)
    out = {}
    argv = [str(BIN / "modelbay"), "serve", "--port", str(port), "--grpc-port", str(grpc_port)]
    argv.append("--no-auth")  # like the servers it is compared with; bench/auth.py prices keys
    ready = f"http://127.0.0.1:{port}/v2/health/ready"
    with server(argv, ready, tmp, env, tmp / "modelbay.log"):
        base = f"http://127.0.0.1:{port}"
        routes = {
            "v2-json": lambda m: f"{base}/v2/models/{m}/infer",
            "v2-binary": lambda m: f"{base}/v2/models/{m}/infer",
            "v1": lambda m: f"{base}/v1/models/{m}:predict",
        }
        for proto, url in routes.items():
            out[f"modelbay {proto}"] = measure(
                url, bodies[proto], ["logistic", "forest"], conns, seconds
            )
        out["modelbay grpc (python client)"] = grpc_measure(
            f"127.0.0.1:{grpc_port}", ["logistic", "forest"], conns, seconds
        )
    return out


FLOOR = "floor: uvicorn + ONNX Runtime, nothing else"
FLOOR_RAW = "floor without ASGI: httptools protocol + ONNX Runtime"
FLOOR_FLASK = "floor: Flask + gunicorn, scikit-learn, v2 JSON"


def write_graphs(home: Path, models: dict[str, Any], tmp: Path) -> dict[str, str]:
    """The registered ONNX graph of each model, written to ``tmp``: model name -> path."""
    from modelbay.registry.home import Registry

    graphs = {}
    with Registry(home=home) as reg:
        for name, predictor in models.items():
            path = tmp / f"{name}.onnx"
            path.write_bytes(reg.models.load_object(predictor.version, "onnx"))
            graphs[name] = str(path)
    return graphs


def floor_runs(
    home: Path, models: dict[str, Any], bodies: Any, conns: list[int], seconds: float, tmp: Path
) -> dict[str, Any]:
    """The same graphs behind ``bench/floor_app.py`` (no checks, batching, metrics or log)
    under uvicorn, and behind ``bench/floor_raw.py`` (the same without ASGI), each with as
    many workers as ``modelbay serve`` starts: what is left is HTTP and the model."""
    from modelbay.settings import auto_workers

    env = clean_env()
    env["BENCH_FLOOR_GRAPHS"] = json.dumps(write_graphs(home, models, tmp))
    workers = str(auto_workers())
    binary = {"1": bodies["v2-binary"]["1"], str(BIG): bodies["v2-binary"][str(BIG)]}
    out = {}
    for label in (FLOOR, FLOOR_RAW):
        port = str(free_port())
        if label == FLOOR:
            argv = [str(BIN / "uvicorn"), "floor_app:app", "--app-dir", str(HERE), "--port", port]
            argv += ["--workers", workers, "--no-access-log", "--log-level", "warning"]
        else:
            argv = [sys.executable, str(HERE / "floor_raw.py"), port, workers]
        url = f"http://127.0.0.1:{port}/v2/models/{{}}/infer"
        with server(argv, f"http://127.0.0.1:{port}/", tmp, env, tmp / "floor.log"):
            out[label] = measure(url.format, binary, list(models), conns, seconds)
    return out


def flask_floor(
    files: dict[str, Path], bodies: Any, conns: list[int], seconds: float, tmp: Path
) -> dict[str, Any]:
    """The naive JSON floor: ``bench/floor_flask.py`` (``json.loads``, the scikit-learn
    model's ``predict``, ``jsonify``) under ``gunicorn -w N``, N as many workers as
    ``modelbay serve`` starts (one a CPU), gunicorn's defaults otherwise; sent the same v2
    JSON bodies as modelbay's JSON route."""
    from modelbay.settings import auto_workers

    env = clean_env()
    env["BENCH_FLASK_MODELS"] = json.dumps({name: str(path) for name, path in files.items()})
    port = free_port()
    argv = [str(BIN / "gunicorn"), "-w", str(auto_workers()), "-b", f"127.0.0.1:{port}"]
    argv += ["--chdir", str(HERE), "floor_flask:create_app()"]
    url = f"http://127.0.0.1:{port}/v2/models/{{}}/infer"
    with server(argv, f"http://127.0.0.1:{port}/", tmp, env, tmp / "floor-flask.log"):
        return {FLOOR_FLASK: measure(url.format, bodies["v2-json"], list(files), conns, seconds)}


def alternating(
    urls: dict[str, str],
    body: tuple[Path, dict[str, str]],
    conns: int,
    rounds: int,
    seconds: float,
    each_round: Callable[[], object] | None = None,
) -> dict[str, list[dict[str, float]]]:
    """``rounds`` rounds of the same wrk load (``body``: file and headers) on each of
    ``urls`` (label -> URL), seconds apart, the order reversed every other round so that a
    drift within a round falls on each alike; ``each_round`` is called at each round's
    start. Every server stays up, idle while another is loaded."""
    path, headers = body
    out: dict[str, list[dict[str, float]]] = {label: [] for label in urls}
    for r in range(rounds):
        if each_round is not None:
            each_round()
        for label in list(urls) if r % 2 == 0 else list(urls)[::-1]:
            out[label].append(wrk(urls[label], path, headers, conns, seconds))
    return out


def paired_rounds(
    home: Path, models: dict[str, Any], bodies: Any, rounds: int, seconds: float, tmp: Path
) -> dict[str, dict[str, list[float]]]:
    """For each model, ``rounds`` rounds of: the in-process ONNX rows/s on 1,000-row
    batches, then ``modelbay serve`` and the floor without ASGI under the 1,000-row binary
    load (their order alternating), each server idle while the other is loaded."""
    import onnxruntime as ort

    from modelbay.settings import auto_workers

    graphs = write_graphs(home, models, tmp)
    sessions = {
        name: ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        for name, path in graphs.items()
    }
    env = clean_env()
    env["MODELBAY_HOME"] = str(home)
    env["BENCH_FLOOR_GRAPHS"] = json.dumps(graphs)
    ours, floor = free_port(), free_port()
    mine = [str(BIN / "modelbay"), "serve", "--port", str(ours), "--no-auth"]
    bare = [sys.executable, str(HERE / "floor_raw.py"), str(floor), str(auto_workers())]
    urls = {
        "modelbay": f"http://127.0.0.1:{ours}/v2/models/{{}}/infer",
        "floor": f"http://127.0.0.1:{floor}/v2/models/{{}}/infer",
    }
    path, headers = bodies["v2-binary"][str(BIG)]
    raw = path.read_bytes()[int(headers["Inference-Header-Content-Length"]) :]
    x = np.frombuffer(raw, "<f4").reshape(BIG, -1).copy()  # the rows the requests carry
    out: dict[str, dict[str, list[float]]] = {}
    with (
        server(mine, f"http://127.0.0.1:{ours}/v2/health/ready", tmp, env, tmp / "paired.log"),
        server(bare, f"http://127.0.0.1:{floor}/", tmp, env, tmp / "paired-floor.log"),
    ):
        for name, sess in sessions.items():
            for url in urls.values():  # each worker loads the model on its first request
                wrk(url.format(name), path, headers, 16, 1)
            limit: list[float] = []
            runs = alternating(
                {who: url.format(name) for who, url in urls.items()},
                (path, headers),
                8,
                rounds,
                seconds,
                lambda s=sess, f={"input": x}, into=limit: into.append(
                    BIG * rate(lambda: s.run(None, f))
                ),
            )
            out[name] = {"limit": limit} | {
                who: [got["rps"] * BIG for got in got_runs] for who, got_runs in runs.items()
            }
    return out


def paired_report(paired: dict[str, dict[str, list[float]]]) -> None:
    print(f"\n### Paired rounds: {BIG:,}-row binary requests against the in-process ONNX rate\n")
    print(
        "| model | round | in-process rows/s | modelbay rows/s | floor without ASGI rows/s | modelbay / in-process | floor / in-process | modelbay / floor |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for m, res in paired.items():
        for i, (lim, ours, bare) in enumerate(
            zip(res["limit"], res["modelbay"], res["floor"], strict=True)
        ):
            print(
                f"| {m} | {i + 1} | {lim:,.0f} | {ours:,.0f} | {bare:,.0f} | "
                f"{ours / lim:.0%} | {bare / lim:.0%} | {ours / bare:.0%} |"
            )
    print()
    for m, res in paired.items():
        ratios = sorted(o / lim for o, lim in zip(res["modelbay"], res["limit"], strict=True))
        floors = sorted(b / lim for b, lim in zip(res["floor"], res["limit"], strict=True))
        print(
            f"- {m}, {BIG:,}-row binary rows/s vs in-process ONNX rows/s, paired: median "
            f"{statistics.median(ratios):.0%} of {len(ratios)} rounds ({ratios[0]:.0%} to "
            f"{ratios[-1]:.0%}; target >= 50%); the floor without ASGI: median "
            f"{statistics.median(floors):.0%}"
        )


def export(models: dict[str, Any], tmp: Path) -> dict[str, Path]:
    """The same fitted models, as joblib files the other servers can load (bench only)."""
    import joblib

    from modelbay.optimize.onnx import positional_copy

    paths = {}
    for name, predictor in models.items():
        path = tmp / f"{name}.joblib"
        joblib.dump(positional_copy(predictor.model, predictor.signature.names), path)
        paths[name] = path
    return paths


def competitor(
    name: str, files: dict[str, Path], bodies: Any, conns: list[int], seconds: float, tmp: Path
) -> dict[str, Any]:
    env_dir = ensure_env(name)
    py, tool = env_dir / "bin" / "python", env_dir / "bin" / name
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELBAY_", "VIRTUAL_ENV"))}
    env["PATH"] = f"{env_dir / 'bin'}:{env.get('PATH', '')}"
    results: dict[str, Any] = {}
    for model, file in files.items():
        work = tmp / f"{name}-{model}"
        work.mkdir()
        port = free_port()
        if name == "mlflow":
            subprocess.run(
                [
                    str(py),
                    "-c",
                    # MLflow 3 saves with skops and wants the reviewed types named
                    "import joblib, sys, mlflow.sklearn, skops.io as sio; "
                    "m = joblib.load(sys.argv[1]); mlflow.sklearn.save_model(m, sys.argv[2], "
                    "skops_trusted_types=sio.get_untrusted_types(data=sio.dumps(m)))",
                    str(file),
                    str(work / "model"),
                ],
                check=True,
                env=env,
                capture_output=True,
            )
            argv = [
                str(tool),
                "models",
                "serve",
                "-m",
                str(work / "model"),
                "--env-manager",
                "local",
                "--host",
                "127.0.0.1",
                "-p",
                str(port),
            ]
            ready, url = f"http://127.0.0.1:{port}/ping", f"http://127.0.0.1:{port}/invocations"
        elif name == "bentoml":
            (work / "service.py").write_text(
                textwrap.dedent(f"""
                import bentoml, joblib, numpy as np

                @bentoml.service
                class Model:
                    def __init__(self) -> None:
                        self.model = joblib.load({str(file)!r})

                    @bentoml.api(batchable=True)
                    def predict(self, input: np.ndarray) -> np.ndarray:
                        return self.model.predict(input)
            """)
            )
            argv = [str(tool), "serve", "service:Model", "--host", "127.0.0.1", "--port", str(port)]
            ready, url = f"http://127.0.0.1:{port}/readyz", f"http://127.0.0.1:{port}/predict"
        else:
            shutil.copy(file, work / "model.joblib")
            (work / "model-settings.json").write_text(
                json.dumps(
                    {
                        "name": model,
                        "implementation": "mlserver_sklearn.SKLearnModel",
                        "parameters": {"uri": "./model.joblib"},
                    }
                )
            )
            (work / "settings.json").write_text(
                json.dumps(
                    {
                        "host": "127.0.0.1",
                        "http_port": port,
                        "grpc_port": free_port(),
                        "metrics_port": free_port(),
                    }
                )
            )
            argv = [str(tool), "start", str(work)]
            ready = f"http://127.0.0.1:{port}/v2/models/{model}/ready"
            url = f"http://127.0.0.1:{port}/v2/models/{model}/infer"
        with server(argv, ready, work, env, work / "server.log"):
            results.update(measure(lambda _m, u=url: u, bodies[name], [model], conns, seconds))
    return {name: results}


# -- report --------------------------------------------------------------------------------
def report(limits: dict[str, Any], served: dict[str, Any], conns: list[int]) -> None:
    print(
        "\n### In-process limits (this machine, this run: best of 3 runs at the start and 3 at the end)\n"
    )
    print(
        "| model | sklearn 1 row calls/s | sklearn rows/s (1,000-row) | ONNX 1 row calls/s | ONNX rows/s (1,000-row) |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    for m, r in limits.items():
        print(
            f"| {m} | {r['sklearn_1row_calls_s']:,.0f} | {r['sklearn_rows_s']:,.0f} | "
            f"{r['onnx_1row_calls_s']:,.0f} | {r['onnx_rows_s']:,.0f} |"
        )
    if not served:
        return
    print(
        f"\n### Served, 1-row requests (req/s, p50/p99 ms) and {BIG:,}-row requests at 8 connections\n"
    )
    head = " | ".join(f"{c} conn" for c in conns)
    print(f"| server / route | model | {head} | {BIG:,} rows: rows/s | errors |")
    print("| --- | --- |" + " ---: |" * (len(conns) + 2))
    for who, models in served.items():
        for m, runs in models.items():
            cells = [
                f"{runs[f'1row@{c}']['rps']:,.0f} ({runs[f'1row@{c}']['p50_ms']:.1f}/"
                f"{runs[f'1row@{c}']['p99_ms']:.1f})"
                for c in conns
            ]
            errors = sum(r["errors"] + r["timeouts"] for r in runs.values())
            print(
                f"| {who} | {m} | "
                + " | ".join(cells)
                + f" | {runs[f'{BIG}rows@8']['rows_s']:,.0f} | {errors:.0f} |"
            )
    print("\n### Targets\n")
    top = max(conns)
    others = {k: v for k, v in served.items() if not k.startswith(("modelbay", "floor"))}
    ours = served.get("modelbay v2-json", {})
    for m in ("logistic", "forest"):
        if not ours.get(m):
            continue
        mine = ours[m][f"1row@{top}"]
        if others:
            best_name, best = max(
                ((k, v[m][f"1row@{top}"]) for k, v in others.items() if m in v),
                key=lambda kv: kv[1]["rps"],
            )
            worst_p99 = min(v[m][f"1row@{top}"]["p99_ms"] for v in others.values() if m in v)
            print(
                f"- {m}, 1 row @ {top} conn: modelbay {mine['rps']:,.0f} req/s = "
                f"{mine['rps'] / best['rps']:.1f}x the best other ({best_name}, {best['rps']:,.0f}); "
                f"p99 {mine['p99_ms']:.1f} ms vs lowest other {worst_p99:.1f} ms (target: >= 3x, lower p99)"
            )
        ratio = mine["rps"] / limits[m]["sklearn_1row_calls_s"]
        print(
            f"- {m}, served 1-row req/s / in-process scikit-learn calls/s = {ratio:.1f}x (target for the forest: > 1)"
        )
        if "mlserver" in others and m in others["mlserver"]:
            r = ours[m][f"{BIG}rows@8"]["rows_s"] / others["mlserver"][m][f"{BIG}rows@8"]["rows_s"]
            print(f"- {m}, {BIG:,}-row JSON rows/s vs MLServer: {r:.1f}x (target >= 1.5x)")
        if m in served.get(FLOOR_FLASK, {}):
            r = ours[m][f"{BIG}rows@8"]["rows_s"] / served[FLOOR_FLASK][m][f"{BIG}rows@8"]["rows_s"]
            print(
                f"- {m}, {BIG:,}-row JSON rows/s vs the Flask + gunicorn floor: {r:.2f}x "
                "(target >= 1.5x; modelbay's v2 JSON route with validation, metrics and the "
                "prediction log on)"
            )
        binary = served.get("modelbay v2-binary", {}).get(m)
        if binary:
            r = binary[f"{BIG}rows@8"]["rows_s"] / limits[m]["onnx_rows_s"]
            print(
                f"- {m}, {BIG:,}-row binary rows/s vs in-process ONNX rows/s: {r:.0%} (target >= 50%)"
            )
            mine = binary[f"{BIG}rows@8"]["rows_s"]
            for label in (FLOOR, FLOOR_RAW):
                floor = served.get(label, {}).get(m)
                if floor:
                    f = floor[f"{BIG}rows@8"]["rows_s"]
                    print(
                        f"  - {label}: {f / limits[m]['onnx_rows_s']:.0%} of in-process; "
                        f"modelbay binary is {mine / f:.0%} of it"
                    )


PARTS = ("limits", "modelbay", "floors", "paired", "baseline", "competitors")
# the parts whose figures a part's target lines are set against, measured with it
NEEDS = {"modelbay": {"limits"}, "floors": {"modelbay"}, "competitors": {"modelbay"}}


def parts_of(only: str) -> set[str]:
    """The parts ``--only`` names, with the parts they need."""
    todo = {p.strip() for p in only.split(",") if p.strip()}
    if not todo or todo - set(PARTS):
        sys.exit(f"--only {only!r}: give a comma list of {', '.join(PARTS)}")
    while more := {n for p in todo for n in NEEDS.get(p, set())} - todo:
        todo |= more
    return todo


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--connections", default="1,8,64")
    parser.add_argument(
        "--competitors", default="mlflow,bentoml,mlserver", help="comma list, or 'none'"
    )
    parser.add_argument(
        "--paired-rounds",
        type=int,
        default=5,
        help="rounds of each paired measure (modelbay and the floor; the baseline and this checkout)",
    )
    parser.add_argument(
        "--only",
        default=",".join(PARTS),
        help=f"comma list of parts to run, of {', '.join(PARTS)} [default: all]; floors and "
        "competitors bring modelbay's own runs (their targets compare with them), and "
        "modelbay brings the in-process limits",
    )
    parser.add_argument(
        "--baseline",
        default="8cea589",
        metavar="REV",
        help="the commit whose server this checkout's is paired with [default: 8cea589, "
        "the commit before the serving core of issue 20]",
    )
    parser.add_argument(
        "--json", type=Path, help="results file [default: bench/results/serve[-PARTS].json]"
    )
    args = parser.parse_args()
    args.parts = parts_of(args.only)
    if args.json is None:
        suffix = "" if args.parts == set(PARTS) else "-" + "-".join(sorted(args.parts))
        args.json = HERE / "results" / f"serve{suffix}.json"
    return args


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """The parts of ``args.parts``, reported; their figures."""
    todo, conns, seconds = args.parts, [int(c) for c in args.connections.split(",")], args.duration
    if "baseline" in todo:
        from baseline import commit_of  # it builds on this module's helpers

        commit_of(args.baseline)  # a wrong REV fails now, not after the other parts
    home = tmp / "home"
    models, x = build_models(home)
    bodies = write_bodies(tmp, x)
    limits = in_process(models, x, home) if "limits" in todo else {}
    served = modelbay_runs(home, bodies, conns, seconds, tmp) if "modelbay" in todo else {}
    files = export(models, tmp) if todo & {"floors", "competitors"} else {}
    if "floors" in todo:
        served.update(floor_runs(home, models, bodies, conns, seconds, tmp))
        served.update(flask_floor(files, bodies, conns, seconds, tmp))
    paired = {}
    if "paired" in todo and args.paired_rounds > 0:
        paired = paired_rounds(home, models, bodies, args.paired_rounds, seconds, tmp)
    baseline: dict[str, Any] = {}
    if "baseline" in todo and args.paired_rounds > 0:
        from baseline import baseline_runs

        baseline = baseline_runs(home, bodies, args.baseline, args.paired_rounds, seconds, tmp)
    competitors = [c for c in args.competitors.split(",") if c and c != "none"]
    for name in competitors if "competitors" in todo else []:
        try:
            served.update(competitor(name, files, bodies, conns, seconds, tmp))
        except Exception as exc:  # one broken competitor must not hide the others
            print(f"{name}: not measured: {exc}", file=sys.stderr)
    if limits:
        # measured again at the end, the best of both kept: a limit taken in a noisy minute
        # would flatter every served figure compared with it
        again = in_process(models, x, home)
        limits = {m: {k: max(v, again[m][k]) for k, v in r.items()} for m, r in limits.items()}
        report(limits, served, conns)
    if paired:
        paired_report(paired)
    if baseline:
        from baseline import baseline_report

        baseline_report(baseline)
    return {"limits": limits, "served": served, "paired": paired, "baseline": baseline}


def main() -> None:
    args = arguments()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk (make bench-serve installs it)")
    # a SIGTERM unwinds like an error: the servers stopped, the baseline worktree removed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    with tempfile.TemporaryDirectory() as t:
        results = run(args, Path(t))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
