"""Hyperparameter search with Optuna (TPE) scored by k-fold cross-validation.

Several algorithms are searched in ONE study: the algorithm is itself a
categorical parameter and each algorithm's space is conditional on it, so TPE
spends more trials where the scores are better. Each algorithm is tried once
first with its space sampled, so ``auto`` really compares them all.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd
from sklearn.metrics import get_scorer, silhouette_score
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

from modelbay.errors import TrainingError
from modelbay.train.catalogue import Algorithm
from modelbay.train.metrics import Metric

__all__ = ["SearchResult", "TrialRecord", "rank_trials", "search"]

PipelineFactory = Callable[[Algorithm, dict[str, Any]], Any]


@dataclass
class TrialRecord:
    number: int
    algorithm: str
    params: dict[str, Any]
    score: float | None  # the metric's own value (RMSE as RMSE, not negated)
    duration_s: float
    state: str  # complete | failed
    error: str = ""
    warnings: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SearchResult:
    algorithm: Algorithm
    params: dict[str, Any]
    score: float
    trials: list[TrialRecord] = field(default_factory=list)
    duration_s: float = 0.0


def search(
    factory: PipelineFactory,
    algorithms: list[Algorithm],
    X: pd.DataFrame,
    y: pd.Series | None,
    *,
    task: str,
    metric: Metric,
    trials: int,
    timeout: float | None,
    cv: int,
    seed: int,
    on_trial: Callable[[TrialRecord, TrialRecord | None], None] | None = None,
    fixed: dict[str, Any] | None = None,
) -> SearchResult:
    """Search ``algorithms``; ``fixed`` hyperparameters override what the space suggests."""
    by_name = {a.name: a for a in algorithms}
    records: list[TrialRecord] = []
    best: list[TrialRecord] = []
    scoring = _scorer(metric, y)
    splitter = _splitter(task, cv, seed)

    def objective(trial: optuna.Trial) -> float:
        name = (
            trial.suggest_categorical("algorithm", list(by_name))
            if len(by_name) > 1
            else algorithms[0].name
        )
        algo = by_name[name]
        params = {**algo.suggest(trial), **(fixed or {})}
        started = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                raw = _score(factory(algo, params), X, y, task, scoring, splitter)
                error = ""
            except Exception as exc:  # one bad configuration must not end the search
                raw, error = math.nan, f"{type(exc).__name__}: {exc}"
        value = None if math.isnan(raw) else (raw if metric.greater_is_better else -raw)
        rec = TrialRecord(
            number=trial.number,
            algorithm=name,
            params=_plain(params),
            score=value,
            duration_s=time.perf_counter() - started,
            state="failed" if error else "complete",
            error=error[:500],
            warnings=len(caught),
        )
        records.append(rec)
        if rec.score is not None and (not best or _better(rec.score, best[0].score, metric)):
            best[:] = [rec]
        if on_trial is not None:
            on_trial(rec, best[0] if best else None)
        if error:
            raise optuna.TrialPruned(error)  # recorded as failed above; optuna skips it
        return raw

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # trials are reported through on_trial
    started = time.perf_counter()
    try:
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(5, len(by_name)))
        study = optuna.create_study(direction="maximize", sampler=sampler)
        if len(by_name) > 1:
            for name in by_name:
                study.enqueue_trial({"algorithm": name}, skip_if_exists=True)
        study.optimize(objective, n_trials=trials, timeout=timeout)
    finally:
        optuna.logging.set_verbosity(level)
    if not best:
        first = next((r.error for r in records if r.error), "no trial ran")
        raise TrainingError(f"every trial failed; the first error was: {first}")
    winner = best[0]
    return SearchResult(
        algorithm=by_name[winner.algorithm],
        params=dict(winner.params),
        score=winner.score if winner.score is not None else math.nan,
        trials=records,
        duration_s=time.perf_counter() - started,
    )


def rank_trials(trials: list[dict[str, Any]], greater_is_better: bool) -> list[dict[str, Any]]:
    """Trials (as ``TrialRecord.to_dict()``) best first by the metric's direction; trials
    without a score (failed) last; ties in trial order. The first is the one the search
    chose: it keeps the earliest of equal scores."""

    def key(t: dict[str, Any]) -> tuple[bool, float, int]:
        score = t.get("score")
        if score is None or math.isnan(float(score)):
            return True, 0.0, int(t.get("number", 0))
        return False, float(score) * (-1.0 if greater_is_better else 1.0), int(t.get("number", 0))

    return sorted(trials, key=key)


def _better(a: float, b: float | None, metric: Metric) -> bool:
    if b is None:
        return True
    return a > b if metric.greater_is_better else a < b


def _scorer(metric: Metric, y: pd.Series | None) -> Any:
    if metric.scorer is None:
        return None
    if metric.name == "roc_auc" and y is not None and y.nunique() == 2:
        return get_scorer("roc_auc")
    return get_scorer(metric.scorer)


def _splitter(task: str, cv: int, seed: int) -> Any:
    if task == "classification":
        return StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed)
    return KFold(n_splits=cv, shuffle=True, random_state=seed)


def _score(
    pipeline: Any, X: pd.DataFrame, y: pd.Series | None, task: str, scoring: Any, splitter: Any
) -> float:
    if task == "clustering":
        labels = pipeline.fit_predict(X)
        if not 1 < len(np.unique(labels)) < len(labels):
            return math.nan
        return float(silhouette_score(pipeline[:-1].transform(X), labels))
    scores = cross_val_score(pipeline, X, y, cv=splitter, scoring=scoring, error_score="raise")
    return float(np.mean(scores))


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in params.items()}
