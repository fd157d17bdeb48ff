"""Where training time goes, and how fast a model comes back from the registry.

    python bench/train.py [--trials 25] [--repeats 20] [--database-url postgresql://...]

On the quick-start dataset (scikit-learn's breast cancer, 569 x 30) it runs the
same ``auto`` search as ``modelbay quickstart``, then prints:

1. trial throughput, overall and per algorithm;
2. the split of one ``Bay.train`` call: search, final fit, holdout scoring, reference
   statistics, skops serialization, zstd, AES-256-GCM, blob write, ONNX compilation with
   its parity check, database write;
3. load time back from the registry (lookup, read + decrypt + decompress + sha256,
   safe skops load) against the in-process limit: ``skops.io.loads`` of the same
   plaintext bytes with no registry around it.

Ratios are what to read: this machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import skops.io as sio
from sklearn.datasets import load_breast_cancer

from modelbay import Bay, Progress, Settings


def timed(fn: Any, repeats: int) -> tuple[float, Any]:
    """Median seconds of ``repeats`` calls, and the last result."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    frame = load_breast_cancer(as_frame=True).frame
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), database_url=args.database_url)
        with Bay(settings) as bay:
            report(bay, frame, args.trials, args.repeats)


def report(bay: Bay, frame: Any, trials: int, repeats: int) -> None:
    per_algo: dict[str, list[float]] = defaultdict(list)

    def on_progress(p: Progress) -> None:
        if p.trial is not None:
            per_algo[p.trial.algorithm].append(p.trial.duration_s)

    t0 = time.perf_counter()
    version = bay.train(frame, "target", name="bench", trials=trials, on_progress=on_progress)
    wall = time.perf_counter() - t0
    run = bay.runs.get(version.lineage["training_run"])
    t = run.result["timings"]
    db = bay.settings.database_url.split(":")[0]

    print(f"\n## bench/train.py — breast cancer 569x30, {trials} trials, {db}\n")
    print(row("search", "trials", "seconds", "trials/s"))
    print(row("---", "---:", "---:", "---:"))
    print(row("all algorithms", trials, f"{t['search_s']:.2f}", f"{trials / t['search_s']:.2f}"))
    for algo, ds in sorted(per_algo.items()):
        print(row(algo, len(ds), f"{sum(ds):.2f}", f"{len(ds) / sum(ds):.2f}"))

    parts = [
        ("search (Optuna TPE, 5-fold CV)", t["search_s"]),
        ("final fit", t["final_fit_s"]),
        ("holdout scoring", t["evaluate_s"]),
        ("reference statistics", t["profile_s"]),
        ("serialize (skops)", t["serialize_s"]),
        ("compress (zstd)", t["compress_s"]),
        ("encrypt (AES-256-GCM)", t["encrypt_s"]),
        ("blob write (fsync + rename)", t["write_s"]),
        ("compile to ONNX + parity check", t.get("compile_s", 0.0)),
        ("registry row (DB commit)", t["db_s"]),
    ]
    print(f"\nchosen: {version.algorithm}; artifact {version.artifact_size} bytes\n")
    print(row("Bay.train step", "ms", "share"))
    print(row("---", "---:", "---:"))
    for name, seconds in parts:
        print(row(name, f"{seconds * 1000:.1f}", f"{seconds / wall:.1%}"))
    other = wall - sum(s for _, s in parts)
    print(row("other (dataset add, run log, reads)", f"{other * 1000:.1f}", f"{other / wall:.1%}"))
    print(row("**total**", f"{wall * 1000:.1f}", "100%"))
    sealing = t["serialize_s"] + t["compress_s"] + t["encrypt_s"] + t["write_s"] + t["db_s"]
    print(
        f"\nregistering (serialize..commit) = {sealing * 1000:.1f} ms "
        f"= {sealing / t['final_fit_s']:.2f}x the final fit"
    )

    plain = bay.store.get(version.artifact_digest)
    trusted = sio.get_untrusted_types(data=plain)
    limit, _ = timed(lambda: sio.loads(plain, trusted=trusted), repeats)
    lookup, v = timed(lambda: bay.models.get("bench@champion"), repeats)
    opened, _ = timed(lambda: bay.store.get(v.artifact_digest), repeats)
    safe, _ = timed(lambda: bay.models.load_object(v), repeats)
    full, predictor = timed(lambda: bay.load("bench@champion"), repeats)
    x = frame.drop(columns="target").head(1)
    one, _ = timed(lambda: predictor.predict(x), repeats * 5)
    raw_one, _ = timed(lambda: predictor.model.predict(x), repeats * 5)

    print(f"\n{row('load back (median of ' + str(repeats) + ')', 'ms', 'x in-process limit')}")
    print(row("---", "---:", "---:"))
    print(row("in-process limit: skops.loads(plaintext)", f"{limit * 1000:.2f}", "1.00"))
    print(
        row(
            "registry lookup (name@alias -> version)",
            f"{lookup * 1000:.2f}",
            f"{lookup / limit:.2f}",
        )
    )
    print(
        row("read + decrypt + decompress + sha256", f"{opened * 1000:.2f}", f"{opened / limit:.2f}")
    )
    print(row("trust check + skops load (from store)", f"{safe * 1000:.2f}", f"{safe / limit:.2f}"))
    print(row('**bay.load("bench@champion")**', f"{full * 1000:.2f}", f"{full / limit:.2f}"))
    print(
        f"\npredict 1 row: {one * 1e6:.0f} us with signature checks, "
        f"{raw_one * 1e6:.0f} us bare ({one / raw_one:.2f}x)"
    )


if __name__ == "__main__":
    main()
