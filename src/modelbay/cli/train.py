"""``modelbay train``: search, fit, score and register, with a live progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from modelbay.bay import Bay
from modelbay.cli.common import (
    console_for,
    fmt,
    metric_line,
    open_bay,
    selection_line,
)
from modelbay.registry.records import ModelVersion

if TYPE_CHECKING:  # training code (scikit-learn) loads when a command trains, not at start-up
    from modelbay.train.trainer import Progress as TrainProgress

__all__ = ["train", "train_with_progress", "trials_table"]


def train_with_progress(console: Console, bay: Bay, data: Any, **kwargs: Any) -> ModelVersion:
    """Run ``bay.train`` with a Rich progress bar over the trials.

    The bar appears with the first progress event, once the core has accepted the
    arguments and read the data: a refused call (``--trials 0``) shows no bar."""
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[best]}"),
    ]
    bar = Progress(*columns, console=console, transient=False)
    task = bar.add_task("searching", total=None, best="", start=False)

    def on_progress(p: TrainProgress) -> None:
        if p.phase == "prepare":  # a warning about the columns, printed above the bar
            bar.console.print(p.message, soft_wrap=True, markup=False, style="yellow")
            return
        if not bar.live.is_started:
            bar.start()
            bar.start_task(task)
        if p.phase == "search":
            if p.trial is None:
                bar.update(task, total=p.total)
                return
            best = f"best {p.best.algorithm} {fmt(p.best.score)}" if p.best else ""
            bar.update(task, completed=p.done, description=f"trial {p.trial.algorithm}", best=best)
        elif p.phase in ("fit", "evaluate"):
            bar.update(task, completed=bar.tasks[0].total, description=p.message)
        elif p.phase == "done":
            bar.update(task, completed=bar.tasks[0].total, description="done")

    try:
        return bay.train(data, on_progress=on_progress, **kwargs)
    finally:
        if bar.live.is_started:
            bar.stop()


def _train_text(console: Console, bay: Bay, data: Any, **kwargs: Any) -> ModelVersion:
    """``bay.train_text`` with a progress bar over the fitting steps."""
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("embedding", total=None)

        def on_progress(p: TrainProgress) -> None:
            if p.phase == "fit" and p.total > 1:  # fine-tuning steps
                bar.update(task, completed=p.done, total=p.total, description=p.message)
            else:
                bar.update(task, description=p.message or p.phase)

        return bay.train_text(data, on_progress=on_progress, **kwargs)


def trials_table(console: Console, bay: Bay, version: ModelVersion, limit: int = 30) -> None:
    """The run's trials, best first by their search score, the chosen one marked; when
    there are more than ``limit``, the title says how many of how many are shown."""
    from modelbay.train.metrics import get_metric
    from modelbay.train.search import rank_trials

    run = bay.runs.get(int(version.lineage["training_run"]))
    metric = run.result.get("metric", "score")
    greater = get_metric(metric, version.task).greater_is_better
    ranked = rank_trials(run.trials, greater)
    chosen = ranked[0]["number"] if ranked and ranked[0].get("score") is not None else None
    if "selection" in version.metrics:  # re-scored on new folds: not always the search's best
        chosen = version.metrics["selection"]["chosen"]
    shown = ranked[:limit]
    count = f"top {len(shown)} of {len(ranked)}" if len(ranked) > len(shown) else str(len(ranked))
    direction = "higher" if greater else "lower"
    t = Table(
        title=f"trials ({count}, best first: {metric} by {run.config.get('cv')}-fold CV, "
        f"{direction} is better)",
        title_justify="left",
    )
    for column in ("#", "algorithm", metric, "seconds", "state"):
        t.add_column(column, no_wrap=True, min_width=len(column))
    t.add_column("params", overflow="fold", ratio=1)  # long values fold; nothing is cut
    for trial in shown:
        won = trial["number"] == chosen
        t.add_row(
            fmt(trial["number"]),
            trial["algorithm"],
            fmt(trial["score"]),
            f"{trial['duration_s']:.2f}",
            "chosen" if won else trial["state"],
            " ".join(f"{k}={fmt(v)}" for k, v in trial["params"].items()),
            style="bold" if won else None,
        )
    console.print(t)


def train(
    ctx: typer.Context,
    data: Annotated[str, typer.Argument(help="A dataset name/id, or a .csv/.parquet file to add.")],
    target: Annotated[
        str | None, typer.Option(metavar="COLUMN", help="Target column (omit for clustering).")
    ] = None,
    name: Annotated[
        str | None, typer.Option(metavar="NAME", help="Model name (default: the dataset's).")
    ] = None,
    algorithm: Annotated[
        str,
        typer.Option(metavar="ALGORITHM", help="auto, one algorithm, pca+NAME, or a comma list."),
    ] = "auto",
    task: Annotated[
        str | None, typer.Option(metavar="TASK", help="classification, regression or clustering.")
    ] = None,
    trials: Annotated[
        int | None,
        typer.Option(metavar="N", help="Search trials (default 20; 5 for a head on text)."),
    ] = None,
    timeout: Annotated[
        float | None, typer.Option(metavar="SECONDS", help="Search time budget in seconds.")
    ] = None,
    cv: Annotated[int, typer.Option(metavar="K", help="Cross-validation folds.")] = 5,
    metric: Annotated[
        str | None, typer.Option(metavar="METRIC", help="Metric to optimise.")
    ] = None,
    test_size: Annotated[
        float, typer.Option(metavar="SHARE", help="Share of rows held out for the final score.")
    ] = 0.2,
    seed: Annotated[int, typer.Option(metavar="N", help="Random seed.")] = 0,
    alias: Annotated[
        list[str] | None,
        typer.Option(
            metavar="ALIAS", help="An alias to point at the new version; repeat for more."
        ),
    ] = None,
    impute_numeric: Annotated[
        str, typer.Option(metavar="HOW", help="mean|median|most_frequent|constant|iterative|drop")
    ] = "median",
    impute_categorical: Annotated[
        str, typer.Option(metavar="HOW", help="most_frequent|constant|drop")
    ] = "constant",
    encode: Annotated[str, typer.Option(metavar="HOW", help="onehot|ordinal")] = "onehot",
    scale: Annotated[
        str, typer.Option(metavar="HOW", help="auto|standard|minmax|robust|none")
    ] = "auto",
    normalize: Annotated[
        str, typer.Option(metavar="HOW", help="none|l1|l2 (row normalisation)")
    ] = "none",
    keep_duplicates: Annotated[bool, typer.Option(help="Keep duplicate rows.")] = False,
    drop_column: Annotated[
        list[str] | None,
        typer.Option(metavar="COLUMN", help="A column to leave out; repeat for more."),
    ] = None,
    keep_column: Annotated[
        list[str] | None,
        typer.Option(
            metavar="COLUMN",
            help="A column to keep although it looks like an identifier (customer_id); "
            "repeat for more.",
        ),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME=VALUE", help="A fixed hyperparameter (one algorithm); repeat for more."
        ),
    ] = None,
    encoder: Annotated[
        str | None,
        typer.Option(
            metavar="REF", help="Text: a registered transformer to build a text classifier on."
        ),
    ] = None,
    finetune: Annotated[
        bool, typer.Option(help="Text: fine-tune the encoder (default: a head on embeddings).")
    ] = False,
    text_column: Annotated[
        str | None, typer.Option(metavar="COLUMN", help="Text: the text column.")
    ] = None,
    epochs: Annotated[int, typer.Option(metavar="N", help="Text fine-tuning: epochs at most.")] = 3,
    lr: Annotated[
        float, typer.Option(metavar="RATE", help="Text fine-tuning: learning rate.")
    ] = 5e-5,
    batch_size: Annotated[
        int, typer.Option(metavar="N", help="Text fine-tuning: batch size.")
    ] = 16,
    patience: Annotated[
        int,
        typer.Option(
            metavar="N", help="Text fine-tuning: epochs without improvement before stopping."
        ),
    ] = 1,
) -> None:
    """Train a model on a dataset and register the result as a new version."""
    console = console_for(ctx)
    source: Any = Path(data) if Path(data).suffix and Path(data).exists() else data
    if encoder is not None:
        if target is None:
            raise typer.BadParameter("a text classifier needs --target", param_hint="--target")
        with open_bay(ctx) as bay:
            version = _train_text(
                console,
                bay,
                source,
                target=target,
                encoder=encoder,
                name=name,
                text=text_column,
                method="finetune" if finetune else "head",
                algorithm="logistic_regression" if algorithm == "auto" else algorithm,
                trials=5 if trials is None else trials,
                epochs=epochs,
                learning_rate=lr,
                batch_size=batch_size,
                patience=patience,
                test_size=test_size,
                seed=seed,
                aliases=alias or (),
            )
            report(console, version)
        return
    from modelbay.data.preprocess import Preprocessing

    prep = Preprocessing.from_any(
        {
            "impute_numeric": impute_numeric,
            "impute_categorical": impute_categorical,
            "encode": encode,
            "scale": scale,
            "normalize": normalize,
            "duplicates": "keep" if keep_duplicates else "drop",
            "drop_columns": tuple(drop_column or ()),
            "keep_columns": tuple(keep_column or ()),
        }
    )
    with open_bay(ctx) as bay:
        version = train_with_progress(
            console,
            bay,
            source,
            target=target,
            name=name,
            algorithm=algorithm,
            task=task,
            trials=20 if trials is None else trials,
            timeout=timeout,
            cv=cv,
            metric=metric,
            test_size=test_size,
            seed=seed,
            aliases=alias or (),
            preprocessing=prep,
            params=_params(param or []),
        )
        trials_table(console, bay, version)
        report(console, version)


def report(console: Console, version: ModelVersion) -> None:
    cv = version.metrics.get("cv", {})
    console.print(
        f"registered [bold]{version.ref}[/] ({version.algorithm}, {version.task})"
        + (f" aliases: {', '.join(version.aliases)}" if version.aliases else "")
    )
    if cv:
        console.print(f"  cross-validation: {metric_line(cv)}")
    if "selection" in version.metrics:
        line = f"  selection: {selection_line(version.metrics['selection'])}"
        console.print(line, soft_wrap=True, markup=False)
    if "baseline_accuracy" in version.metrics:
        console.print(f"  majority baseline: accuracy={version.metrics['baseline_accuracy']:.4f}")
    console.print(
        f"  holdout ({version.metrics.get('rows_test')} rows, scored once): "
        f"{metric_line(version.metrics.get('holdout', {}))}"
    )


def _params(pairs: list[str]) -> dict[str, Any] | None:
    """``n_estimators=100`` -> {"n_estimators": 100}; values are read as JSON when they can be."""
    import json

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--param")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out or None
