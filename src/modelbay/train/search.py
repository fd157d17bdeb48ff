"""Hyperparameter search with Optuna (TPE) scored by k-fold cross-validation.

Several algorithms are searched in ONE study: the algorithm is itself a
categorical parameter and each algorithm's space is conditional on it, so TPE
spends more trials where the scores are better. Each algorithm is tried once
first, at its library defaults where the catalogue gives them (``baseline``) and
with its space sampled otherwise, so ``auto`` really compares them all and the
default scaled logistic regression (or ridge) is always a candidate.

When several algorithms were searched, the choice is not the best trial: the
best trial of each algorithm (within ``REACH`` standard errors of the best) and
the default baseline are scored again by repeated k-fold on new shuffles, and
train/selection.py keeps the simplest within one standard error of the best. With a time budget the search gets
``SEARCH_SHARE`` of it and the re-scoring the rest; both stop between folds.
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
from sklearn.base import clone
from sklearn.metrics import check_scoring, get_scorer, silhouette_score
from sklearn.model_selection import KFold, RepeatedKFold, RepeatedStratifiedKFold, StratifiedKFold
from sklearn.utils import _safe_indexing

from modelbay.errors import TrainingError
from modelbay.train.catalogue import Algorithm
from modelbay.train.metrics import Metric
from modelbay.train.selection import Candidate, Selection, choose

__all__ = ["SEARCH_SHARE", "SearchResult", "TrialRecord", "rank_trials", "search"]

SEARCH_SHARE = 0.8  # of a time budget, when the best candidates are then scored again
REPEATS = 2  # repeated k-fold of the re-scoring: 2 x 5 new folds at the default cv=5
MIN_FOLDS = 2  # new folds a candidate needs to take part (a mean and a standard error)
# An algorithm is scored again only if its best search score is within REACH standard errors
# (the search's best trial's, over its folds) of that best: on breast cancer this leaves out
# the forest and boosting, 0.03 below an MLP at 0.986 (SE 0.006), halving the re-scoring.
REACH = 3.0

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
    defaults: bool = False  # ran its algorithm's library defaults (the catalogue's baseline)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SearchResult:
    algorithm: Algorithm
    params: dict[str, Any]
    score: float
    trials: list[TrialRecord] = field(default_factory=list)
    duration_s: float = 0.0
    selection: Selection | None = None


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
    """Search ``algorithms``; ``fixed`` hyperparameters override what the space suggests.

    ``timeout`` bounds the whole call, the search and (over several algorithms) the
    re-scoring of its best candidates: a trial still running at the deadline stops
    after its current fold and counts as failed. It may overrun by a fold in flight
    and the ``MIN_FOLDS`` new folds of the baseline and of the search's best.
    """
    by_name = {a.name: a for a in algorithms}
    select = len(by_name) > 1 and task != "clustering"
    records: list[TrialRecord] = []
    best: list[TrialRecord] = []
    spread: dict[int, float] = {}  # trial number -> standard error over its folds
    scoring = _scorer(metric, y)
    splitter = _splitter(task, cv, seed)
    started = time.perf_counter()
    budget = timeout * SEARCH_SHARE if timeout is not None and select else timeout
    search_deadline = started + budget if budget is not None else math.inf

    def objective(trial: optuna.Trial) -> float:
        name = (
            trial.suggest_categorical("algorithm", list(by_name))
            if len(by_name) > 1
            else algorithms[0].name
        )
        algo = by_name[name]
        params = {**algo.suggest(trial), **(fixed or {})}
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                pipeline = factory(algo, params)
                raw, spread[trial.number] = _score(
                    pipeline, X, y, task, scoring, splitter, search_deadline
                )
                error = ""
            except Exception as exc:  # one bad configuration must not end the search
                raw, error = math.nan, f"{type(exc).__name__}: {exc}"
        value = None if math.isnan(raw) else (raw if metric.greater_is_better else -raw)
        rec = TrialRecord(
            number=trial.number,
            algorithm=name,
            params=_plain(params),
            score=value,
            duration_s=time.perf_counter() - t0,
            state="failed" if error else "complete",
            error=error[:500],
            warnings=len(caught),
            defaults=algo.baseline is not None
            and all(trial.params.get(k) == v for k, v in algo.baseline.items()),
        )
        records.append(rec)
        if rec.score is not None and (not best or _better(rec.score, best[0].score, metric)):
            best[:] = [rec]
        if on_trial is not None:
            on_trial(rec, best[0] if best else None)
        if error:
            raise optuna.TrialPruned(error)  # recorded as failed above; optuna skips it
        return raw

    _optimize(objective, algorithms, trials, budget, seed)
    if not best:
        first = next((r.error for r in records if r.error), "no trial ran")
        raise TrainingError(f"every trial failed; the first error was: {first}")
    winner, score, selection = best[0], best[0].score, None
    if select:
        deadline = started + timeout if timeout is not None else math.inf

        def rescore(rec: TrialRecord, minimum: int) -> list[float]:
            pipeline = factory(by_name[rec.algorithm], rec.params)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # counted once already, in the trial
                raw = _fold_scores(
                    pipeline, X, y, scoring, _repeated(task, cv, seed), deadline, minimum
                )
            return [v if metric.greater_is_better else -v for v in raw]

        reach = REACH * spread.get(best[0].number, 0.0)
        selection = _select(records, by_name, algorithms[0].name, metric, rescore, reach)
        winner = next(r for r in records if r.number == selection.chosen)
        chosen = next(c for c in selection.candidates if c.trial == selection.chosen)
        score = chosen.mean if chosen.scores else winner.score
    return SearchResult(
        algorithm=by_name[winner.algorithm],
        params=dict(winner.params),
        score=score if score is not None else math.nan,
        trials=records,
        duration_s=time.perf_counter() - started,
        selection=selection,
    )


def _optimize(
    objective: Callable[[optuna.Trial], float],
    algorithms: list[Algorithm],
    trials: int,
    timeout: float | None,
    seed: int,
) -> None:
    """One TPE study; over several algorithms each is enqueued first, in the given order.

    ``auto``'s order (linear, the two tree ensembles, SVM, MLP) puts the default baseline and
    the tree ensembles, strong on tabular data at their defaults, before a tight
    time budget runs out.
    """
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # trials are reported through on_trial
    try:
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(5, len(algorithms)))
        study = optuna.create_study(direction="maximize", sampler=sampler)
        if len(algorithms) > 1:
            for algo in algorithms:
                study.enqueue_trial(
                    {"algorithm": algo.name, **(algo.baseline or {})}, skip_if_exists=True
                )
        study.optimize(objective, n_trials=trials, timeout=timeout)
    finally:
        optuna.logging.set_verbosity(level)


def _select(
    records: list[TrialRecord],
    by_name: dict[str, Algorithm],
    baseline_algorithm: str,
    metric: Metric,
    rescore: Callable[[TrialRecord, int], list[float]],
    reach: float,
) -> Selection:
    """Score again the default baseline and the best trial of each algorithm, then choose.

    The baseline and the search's best get at least ``MIN_FOLDS`` new folds even past
    the deadline; the others, in the order of their search scores, as many as fit
    before it, and take no part with fewer than ``MIN_FOLDS``. An algorithm whose best
    search score is further than ``reach`` below the search's best is left out.
    """
    sign = 1.0 if metric.greater_is_better else -1.0
    done = sorted(
        (r for r in records if r.score is not None), key=lambda r: -sign * float(r.score or 0)
    )
    base = next((r for r in done if r.defaults and r.algorithm == baseline_algorithm), None)
    order, seen = [*([base] if base is not None else [])], set()
    for rec in done:  # the best of each algorithm, the search's best first
        near = sign * (float(done[0].score or 0) - float(rec.score or 0)) <= reach
        if rec.algorithm not in seen and near:
            order.append(rec)
            seen.add(rec.algorithm)
    order = list({r.number: r for r in order}.values())  # the baseline may be its best
    must = {done[0].number, *([base.number] if base is not None else [])}
    candidates = []
    for rec in order:
        algo = by_name[rec.algorithm]
        cand = Candidate(
            trial=rec.number,
            algorithm=rec.algorithm,
            complexity=(algo.complexity, int(algo.pca)),
            search_score=float(rec.score or 0.0),
            baseline=rec is base,
        )
        try:
            scores = rescore(rec, MIN_FOLDS if rec.number in must else 0)
        except Exception as exc:  # as in a trial: one bad refit must not end the search
            cand.skipped = f"{type(exc).__name__}: {exc}"[:200]
        else:
            if len(scores) >= MIN_FOLDS:
                cand.scores = scores
            else:
                cand.skipped = "time budget"
        candidates.append(cand)
    return choose(candidates, metric.greater_is_better)


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


def _repeated(task: str, cv: int, seed: int) -> Any:
    """New shuffles for the re-scoring: seeds the search's splitter never used."""
    if task == "classification":
        return RepeatedStratifiedKFold(n_splits=cv, n_repeats=REPEATS, random_state=seed + 1)
    return RepeatedKFold(n_splits=cv, n_repeats=REPEATS, random_state=seed + 1)


def _score(
    pipeline: Any,
    X: pd.DataFrame,
    y: pd.Series | None,
    task: str,
    scoring: Any,
    splitter: Any,
    deadline: float = math.inf,
) -> tuple[float, float]:
    """The mean score over the folds and its standard error (0 for clustering)."""
    if task == "clustering":
        labels = pipeline.fit_predict(X)
        if not 1 < len(np.unique(labels)) < len(labels):
            return math.nan, 0.0
        return float(silhouette_score(pipeline[:-1].transform(X), labels)), 0.0
    scores = _fold_scores(pipeline, X, y, scoring, splitter, deadline)
    return float(np.mean(scores)), float(np.std(scores, ddof=1) / math.sqrt(len(scores)))


def _fold_scores(
    pipeline: Any,
    X: pd.DataFrame,
    y: Any,
    scoring: Any,
    splitter: Any,
    deadline: float = math.inf,
    minimum: int | None = None,
) -> list[float]:
    """``cross_val_score`` fold by fold, so that a time budget can stop it between folds.

    Past ``deadline`` a search trial (``minimum=None``) raises ``TrainingError``; a
    re-scoring stops with the folds it has, once it has ``minimum``.
    """
    scorer = check_scoring(pipeline, scoring=scoring)
    splits = list(splitter.split(X, y))
    scores: list[float] = []
    for train, test in splits:
        if time.perf_counter() > deadline:
            if minimum is None:
                raise TrainingError(
                    f"stopped by the time budget after {len(scores)} of {len(splits)} folds "
                    "(raise timeout)"
                )
            if len(scores) >= minimum:
                break
        model = clone(pipeline).fit(_safe_indexing(X, train), _safe_indexing(y, train))
        scores.append(float(scorer(model, _safe_indexing(X, test), _safe_indexing(y, test))))
    return scores


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in params.items()}
