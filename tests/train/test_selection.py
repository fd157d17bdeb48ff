"""Choosing among the search's best candidates: new folds, one standard error, simplest first."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from modelbay import Bay
from modelbay.data import infer_schema
from modelbay.train import ALGORITHMS, AUTO, TrainSpec, train_model
from modelbay.train.catalogue import Algorithm
from modelbay.train.metrics import get_metric
from modelbay.train.search import search
from modelbay.train.selection import Candidate, choose


def cand(trial: int, algorithm: str, complexity: int, scores: list[float]) -> Candidate:
    return Candidate(trial, algorithm, (complexity, 0), max(scores), scores)


def test_the_simplest_within_one_standard_error_is_chosen() -> None:
    mlp = cand(1, "mlp", 4, [0.99, 0.97, 0.98, 0.96])  # mean 0.975, SE 0.0065
    logistic = cand(2, "logistic_regression", 0, [0.97, 0.98, 0.96, 0.97])  # mean 0.970
    picked = choose([mlp, logistic], greater_is_better=True)
    assert picked.chosen == 2 and picked.best == 1
    assert picked.threshold == pytest.approx(mlp.mean - mlp.se)


def test_a_clearly_better_flexible_model_is_kept() -> None:
    svm = cand(1, "svm", 1, [0.99, 0.98, 0.99, 0.98])
    logistic = cand(2, "logistic_regression", 0, [0.95, 0.96, 0.95, 0.96])
    picked = choose([logistic, svm], greater_is_better=True)
    assert picked.chosen == 1 and picked.best is None


def test_lower_is_better_metrics_take_the_threshold_upwards() -> None:
    boosting = cand(1, "gradient_boosting", 3, [50.0, 52.0, 54.0, 56.0])  # RMSE mean 53
    ridge = cand(2, "ridge", 0, [53.0, 54.0, 55.0, 55.0])  # 54.25, within 53 + SE 1.29
    forest = cand(3, "random_forest", 2, [57.0, 58.0, 59.0, 60.0])
    picked = choose([boosting, ridge, forest], greater_is_better=False)
    assert picked.chosen == 2
    assert picked.threshold == pytest.approx(boosting.mean + boosting.se)


def test_candidates_not_scored_again_take_no_part() -> None:
    skipped = Candidate(1, "logistic_regression", (0, 0), 0.99, skipped="time budget")
    mlp = cand(2, "mlp", 4, [0.9, 0.92])
    assert choose([mlp, skipped], greater_is_better=True).chosen == 2
    alone = choose([skipped], greater_is_better=True)
    assert alone.rule == "search-best" and alone.chosen == 1


class FoldPeeker(ClassifierMixin, BaseEstimator):
    """Right on the search's own test folds and nowhere else: an over-fit of that one split.

    The extreme of what a search over many trials does on a small table: its best
    trial is, in part, the one that happened to suit those five folds.
    """

    def __init__(self, folds: frozenset[frozenset[int]] = frozenset(), labels: dict | None = None):
        self.folds = folds
        self.labels = labels

    def fit(self, X: pd.DataFrame, y: pd.Series) -> FoldPeeker:
        self.classes_ = np.unique(y)
        self.majority_ = y.value_counts().index[0]
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if frozenset(X.index) in self.folds:
            return np.array([(self.labels or {})[i] for i in X.index])
        return np.full(len(X), self.majority_)


def test_an_overfit_of_the_search_folds_is_rejected(iris: pd.DataFrame) -> None:
    X, y = iris.drop(columns="species"), iris["species"]
    split = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)  # the search's, seed 0
    folds = frozenset(frozenset(X.index[test]) for _, test in split.split(X, y))
    peeker = Algorithm(
        "peeker",
        frozenset({"classification"}),
        False,
        lambda task, params, seed: FoldPeeker(folds, y.to_dict()),
        lambda trial: {},
        complexity=4,
    )
    found = search(
        lambda algo, p: Pipeline(algo.make("classification", p, 0)),
        [ALGORITHMS["logistic_regression"], peeker],
        X,
        y,
        task="classification",
        metric=get_metric("accuracy", "classification"),
        trials=2,
        timeout=None,
        cv=5,
        seed=0,
    )
    top = max(found.trials, key=lambda t: t.score or 0)
    assert top.algorithm == "peeker" and top.score == 1.0  # the search alone would take it
    assert found.algorithm.name == "logistic_regression"
    assert found.selection is not None and found.selection.rule == "one-standard-error"
    scored = {c.algorithm: c for c in found.selection.candidates}
    assert scored["peeker"].mean < 0.5 < scored["logistic_regression"].mean
    assert scored["logistic_regression"].baseline  # the default model, enqueued as a trial
    assert found.score == pytest.approx(scored["logistic_regression"].mean)


def test_auto_tries_the_default_baseline_first(iris: pd.DataFrame) -> None:
    result = train_model(iris, infer_schema(iris), TrainSpec("species", trials=5, cv=3))
    first = result.trials[0]
    assert first.algorithm == AUTO["classification"][0] == "logistic_regression"
    assert first.params == {"C": 1.0} and first.defaults
    assert result.selection is not None
    assert any(c["baseline"] for c in result.selection["candidates"])


def test_one_algorithm_keeps_its_best_trial(iris: pd.DataFrame) -> None:
    spec = TrainSpec("species", algorithm="random_forest", trials=3, cv=3)
    result = train_model(iris, infer_schema(iris), spec)
    assert result.selection is None
    assert result.cv_score == max(t.score for t in result.trials if t.score is not None)


def test_the_selection_is_recorded_with_the_run_and_the_version(
    sqlite_bay: Bay, iris: pd.DataFrame
) -> None:
    version = sqlite_bay.train(iris, "species", name="iris", trials=6, cv=3)
    selection = version.metrics["selection"]
    assert selection["rule"] == "one-standard-error"
    chosen = next(c for c in selection["candidates"] if c["trial"] == selection["chosen"])
    assert chosen["algorithm"] == version.algorithm and chosen["folds"] == 6  # 2 x 3 new folds
    assert version.metrics["cv"][get_metric(None, "classification").name] == chosen["mean"]
    run = sqlite_bay.runs.get(int(version.lineage["training_run"]))
    assert run.result["selection"] == selection


@pytest.mark.slow
def test_the_quick_start_choice_holds_on_the_holdout(cancer: pd.DataFrame) -> None:
    """Issue 21: the quick start chose an MLP at CV F1 0.988, holdout accuracy 0.939,
    where a default scaled logistic regression scores 0.974 on the same split."""
    frame = cancer.assign(target=cancer["target"].map({0: "malignant", 1: "benign"}))
    spec = TrainSpec("target", trials=25, timeout=90)  # `modelbay quickstart`'s defaults
    result = train_model(frame, infer_schema(frame), spec)
    X, y = frame.drop(columns="target"), frame["target"]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=spec.test_size, random_state=spec.seed, stratify=y
    )
    assert len(X_test) == result.rows_test
    base = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(X_train, y_train)
    baseline = float((base.predict(X_test) == y_test).mean())
    assert result.holdout["accuracy"] >= baseline - 0.01, (result.algorithm, result.selection)
