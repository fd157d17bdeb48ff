"""From a table to a fitted, evaluated model: clean, split, search, refit, score once."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from modelbay.data.identifiers import id_reason
from modelbay.data.preprocess import CleaningReport, Preprocessing, build_preprocessor, clean_rows
from modelbay.data.profile import profile_predictions, profile_table
from modelbay.data.schema import TableSchema
from modelbay.data.signature import ColumnSpec, OutputSpec, Signature
from modelbay.data.unseen import known_categories
from modelbay.errors import TrainingError, ValidationError
from modelbay.train.catalogue import Algorithm, resolve
from modelbay.train.metrics import evaluate, get_metric
from modelbay.train.search import TrialRecord, search
from modelbay.train.tasks import TASKS, check_target, infer_task

__all__ = ["Progress", "TrainResult", "TrainSpec", "train_model"]

MIN_ROWS = 10
SAMPLE_ROWS = 500


@dataclass(frozen=True)
class TrainSpec:
    """What to train. ``target=None`` means clustering."""

    target: str | None
    task: str | None = None
    algorithm: str = "auto"
    trials: int = 20
    timeout: float | None = None
    cv: int = 5
    metric: str | None = None
    test_size: float = 0.2
    seed: int = 0
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    features: tuple[str, ...] | None = None
    params: dict[str, Any] | None = None  # fixed hyperparameters (one algorithm only)

    def __post_init__(self) -> None:
        if self.task is not None and self.task not in TASKS:
            raise ValidationError(f"task {self.task!r} is not one of: {', '.join(TASKS)}")
        if self.trials < 1:
            raise ValidationError(
                f"trials must be at least 1, not {self.trials}: the search runs that many "
                "configurations (the default is 20)"
            )
        if self.cv < 2:
            raise ValidationError("cv must be at least 2 folds")
        if not 0.0 <= self.test_size < 0.9:
            raise ValidationError("test_size must be between 0 and 0.9")
        if self.timeout is not None and self.timeout <= 0:
            raise ValidationError("timeout must be positive (seconds)")
        if self.params and ("," in self.algorithm or self.algorithm == "auto"):
            raise ValidationError("fixed params need one algorithm, not auto or a list")

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "task": self.task,
            "algorithm": self.algorithm,
            "trials": self.trials,
            "timeout": self.timeout,
            "cv": self.cv,
            "metric": self.metric,
            "test_size": self.test_size,
            "seed": self.seed,
            "preprocessing": self.preprocessing.to_dict(),
            "features": list(self.features) if self.features else None,
            "params": dict(self.params) if self.params else None,
        }


@dataclass(frozen=True)
class Progress:
    """A progress event: ``phase`` is prepare (a warning about the columns, before the
    search), search, fit, evaluate or done."""

    phase: str
    done: int
    total: int
    message: str = ""
    trial: TrialRecord | None = None
    best: TrialRecord | None = None


@dataclass
class TrainResult:
    model: Pipeline
    task: str
    algorithm: str
    params: dict[str, Any]
    metric: str
    cv_score: float
    holdout: dict[str, float | None]
    trials: list[TrialRecord]
    signature: Signature
    reference_stats: dict[str, Any]
    cleaning: CleaningReport
    rows_train: int
    rows_test: int
    timings: dict[str, float]
    warnings: list[str] = field(default_factory=list)
    sample: pd.DataFrame | None = None  # held-out rows (up to 500) for parity checks
    excluded: dict[str, str] = field(default_factory=dict)  # column -> why it was left out
    selection: dict[str, Any] | None = None  # how the search chose (train/selection.py)


def train_model(
    df: pd.DataFrame,
    schema: TableSchema,
    spec: TrainSpec,
    on_progress: Callable[[Progress], None] | None = None,
) -> TrainResult:
    notify = on_progress or (lambda _p: None)
    features, excluded = _features(df, spec)
    for column, why in excluded.items():
        notify(Progress("prepare", 0, 1, excluded_message(column, why)))
    y_all = df[spec.target] if spec.target is not None else None
    task = spec.task or infer_task(y_all)
    if task == "clustering" and spec.target is not None:
        raise ValidationError("clustering takes no target: leave target out")
    if task != "clustering" and y_all is None:
        raise ValidationError(f"{task} needs a target column")
    if y_all is not None:
        check_target(y_all, task)
        df = df[df[spec.target].notna()]
    config = spec.preprocessing
    df, cleaning = clean_rows(
        df[[*features, *([spec.target] if spec.target else [])]], schema, features, config
    )
    if len(df) < MIN_ROWS:
        raise TrainingError(f"only {len(df)} usable rows after cleaning; need at least {MIN_ROWS}")
    X = df[features]
    y = df[spec.target] if spec.target is not None else None
    if y is not None:
        check_target(y, task)
    X_train, X_test, y_train, y_test = _split(X, y, task, spec)
    cv = _folds(y_train, task, spec.cv)
    algorithms = resolve(spec.algorithm, task)
    metric = get_metric(spec.metric, task)

    def factory(algo: Algorithm, params: dict[str, Any]) -> Pipeline:
        scale = config.scale if config.scale != "auto" else ("standard" if algo.scale else "none")
        pre = build_preprocessor(schema, features, config, scale=scale)
        return Pipeline([("preprocess", pre), *algo.make(task, params, spec.seed)])

    def on_trial(rec: TrialRecord, best: TrialRecord | None) -> None:
        notify(Progress("search", len(result_trials) + 1, spec.trials, trial=rec, best=best))
        result_trials.append(rec)

    result_trials: list[TrialRecord] = []
    timings: dict[str, float] = {}
    notify(Progress("search", 0, spec.trials, f"searching {', '.join(a.name for a in algorithms)}"))
    found = search(
        factory,
        algorithms,
        X_train,
        y_train,
        task=task,
        metric=metric,
        trials=spec.trials,
        timeout=spec.timeout,
        cv=cv,
        seed=spec.seed,
        on_trial=on_trial,
        fixed=spec.params,
    )
    timings["search_s"] = found.duration_s

    notify(Progress("fit", 0, 1, f"fitting {found.algorithm.name} on {len(X_train)} rows"))
    t0 = time.perf_counter()
    model = factory(found.algorithm, found.params)
    with warnings.catch_warnings(
        record=True
    ) as caught:  # e.g. ConvergenceWarning: kept, not raised
        warnings.simplefilter("always")
        model.fit(X_train, y_train)
    fit_warnings = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    timings["final_fit_s"] = time.perf_counter() - t0

    notify(Progress("evaluate", 0, 1, f"scoring the holdout ({len(X_test)} rows)"))
    t0 = time.perf_counter()
    holdout = evaluate(task, model, X_test, y_test) if len(X_test) else {}
    timings["evaluate_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    signature = _signature(X_train, y_train, schema, config, task, model, spec.target, excluded)
    train_pred = model.predict(X_train)
    reference = profile_table(X_train, schema)
    reference["prediction"] = profile_predictions(train_pred, task)
    timings["profile_s"] = time.perf_counter() - t0
    notify(Progress("done", 1, 1, "trained"))
    return TrainResult(
        model=model,
        task=task,
        algorithm=found.algorithm.name,
        params=found.params,
        metric=metric.name,
        cv_score=found.score,
        holdout=holdout,
        trials=found.trials,
        signature=signature,
        reference_stats=reference,
        cleaning=cleaning,
        rows_train=len(X_train),
        rows_test=len(X_test),
        timings=timings,
        warnings=fit_warnings,
        sample=(X_test if len(X_test) else X_train).head(SAMPLE_ROWS).reset_index(drop=True),
        excluded=excluded,
        selection=found.selection.to_dict() if found.selection else None,
    )


def excluded_message(column: str, why: str) -> str:
    """The warning a user reads for a column left out of training."""
    return (
        f"warning: column {column!r} left out: it looks like an identifier ({why}); "
        f"keep it with --keep-column {column} (Python: preprocessing={{'keep_columns': "
        f"[{column!r}]}})"
    )


def _features(df: pd.DataFrame, spec: TrainSpec) -> tuple[list[str], dict[str, str]]:
    """The feature columns, and the identifier-like ones left out (with why)."""
    columns = list(df.columns)
    if spec.target is not None and spec.target not in columns:
        raise ValidationError(
            f"unknown target column {spec.target!r}; the table has: {', '.join(columns)}"
        )
    dropped = set(spec.preprocessing.drop_columns)
    kept = set(spec.preprocessing.keep_columns)
    unknown = sorted((dropped | kept) - set(columns))
    if spec.features:
        unknown += sorted(set(spec.features) - set(columns))
    if unknown:
        raise ValidationError(
            f"unknown column(s): {', '.join(unknown)}; the table has: {', '.join(columns)}"
        )
    chosen = list(spec.features) if spec.features else columns
    features = [c for c in chosen if c != spec.target and c not in dropped and df[c].notna().any()]
    excluded: dict[str, str] = {}
    if not spec.features:  # features named one by one are the user's choice, ids included
        for c in features:
            why = None if c in kept else id_reason(str(c), df[c])
            if why is not None:
                excluded[str(c)] = why
        features = [c for c in features if c not in excluded]
    if not features:
        raise ValidationError(
            "no feature columns left to learn from"
            + (f" (left out as identifiers: {', '.join(excluded)}; keep one)" if excluded else "")
        )
    return features, excluded


def _split(X: pd.DataFrame, y: pd.Series | None, task: str, spec: TrainSpec) -> tuple[Any, ...]:
    if spec.test_size == 0:
        return X, X.iloc[:0], y, (y.iloc[:0] if y is not None else None)
    stratify = y if task == "classification" else None
    if y is None:
        X_train, X_test = train_test_split(X, test_size=spec.test_size, random_state=spec.seed)
        return X_train, X_test, None, None
    try:
        return tuple(
            train_test_split(
                X, y, test_size=spec.test_size, random_state=spec.seed, stratify=stratify
            )
        )
    except ValueError as exc:
        raise TrainingError(f"cannot hold out {spec.test_size:.0%} of the rows: {exc}") from exc


def _folds(y: pd.Series | None, task: str, cv: int) -> int:
    if task != "classification" or y is None:
        return cv
    smallest = int(y.astype(str).value_counts().min())
    if smallest < 2:
        raise TrainingError("a class has fewer than two training rows; add rows or lower test_size")
    return min(cv, smallest)


def _signature(
    X: pd.DataFrame,
    y: pd.Series | None,
    schema: TableSchema,
    config: Preprocessing,
    task: str,
    model: Pipeline,
    target: str | None,
    excluded: dict[str, str],
) -> Signature:
    """The inputs the model uses, with what serving checks requests against: the known
    categories of each categorical column and the identifier columns it may ignore."""
    inputs = [
        ColumnSpec(
            name=c,
            kind=schema[c].kind,
            dtype=str(X[c].dtype),
            nullable=config.nullable(schema[c].kind),
        )
        for c in X.columns
    ]
    if task == "classification":
        classes = np.asarray(model.classes_).tolist()
        output = OutputSpec(task, str(target), str(y.dtype) if y is not None else "object", classes)
    elif task == "regression":
        output = OutputSpec(task, str(target), "float64")
    else:
        output = OutputSpec(task, "cluster", "int32")
    extra: dict[str, Any] = {}
    categories = {
        spec.name: known
        for spec in inputs
        if spec.kind in ("categorical", "boolean")
        and (known := known_categories(X[spec.name])) is not None
    }
    if categories:
        extra["categories"] = categories
    if excluded:
        extra["ignored_inputs"] = sorted(excluded)
    return Signature(inputs=inputs, output=output, extra=extra)
