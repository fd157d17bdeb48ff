"""``modelbay quickstart``: the whole first half of the lifecycle on a bundled dataset."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from modelbay.cli.common import console_for, open_bay, table
from modelbay.cli.train import report, train_with_progress, trials_table

__all__ = ["quickstart"]

MODEL = "breast-cancer"


def quickstart(
    ctx: typer.Context,
    trials: Annotated[
        int, typer.Option(metavar="N", help="Search trials over all algorithms.")
    ] = 25,
    timeout: Annotated[
        float, typer.Option(metavar="SECONDS", help="Search time budget in seconds.")
    ] = 90.0,
) -> None:
    """Add scikit-learn's breast cancer table, search several algorithms, register the best
    as champion, load it back and predict."""
    console = console_for(ctx)
    from sklearn.datasets import load_breast_cancer

    started = time.perf_counter()
    frame = load_breast_cancer(as_frame=True).frame
    frame["target"] = frame["target"].map({0: "malignant", 1: "benign"})
    with open_bay(ctx) as bay:
        console.rule("1. data")
        ds = bay.datasets.add(frame, name=MODEL)
        console.print(
            f"dataset [bold]{ds.name}[/] #{ds.fingerprint[:12]}: {ds.n_rows} rows x "
            f"{ds.n_columns} columns, stored sealed (zstd + AES-256-GCM) under "
            f"{bay.settings.home}"
        )
        console.rule("2. search and train")
        version = train_with_progress(
            console,
            bay,
            ds,
            target="target",
            name=MODEL,
            trials=trials,
            timeout=timeout,
            aliases=["champion"],
        )
        trials_table(console, bay, version)
        console.rule("3. registry")
        report(console, version)
        console.rule("4. load and predict")
        predictor = bay.load(f"{MODEL}@champion")
        sample = frame.sample(5, random_state=1)
        labels = predictor.predict(sample.drop(columns="target"))
        proba = predictor.predict_proba(sample.drop(columns="target"))
        rows = [
            [i, actual, pred, float(proba.iloc[k][str(pred)])]
            for k, (i, actual, pred) in enumerate(
                zip(sample.index, sample["target"], labels, strict=True)
            )
        ]
        console.print(
            table(
                f"{predictor.version.ref} on 5 rows",
                ["row", "actual", "predicted", "probability"],
                rows,
            )
        )
        console.print(
            f"done in {time.perf_counter() - started:.1f}s. Next: "
            f"`modelbay models show {MODEL}@champion`, `modelbay versions {MODEL}`"
        )
