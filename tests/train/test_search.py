"""Search, cross-validation, holdout, metrics and progress."""

import pandas as pd
import pytest

from modelbay import Preprocessing, Progress, TrainingError, ValidationError
from modelbay.data import infer_schema
from modelbay.train import AUTO, TrainSpec, train_model


def test_auto_compares_every_algorithm_and_keeps_the_chosen_candidate(
    cancer: pd.DataFrame,
) -> None:
    spec = TrainSpec(target="target", trials=7, cv=3)
    result = train_model(cancer, infer_schema(cancer), spec)
    tried = {t.algorithm for t in result.trials}
    assert tried == set(AUTO["classification"])
    assert result.selection is not None  # the best of each algorithm, scored again
    top = max(result.trials, key=lambda t: t.score or 0)
    assert {c["trial"] for c in result.selection["candidates"]} >= {0, top.number}
    chosen = next(
        c for c in result.selection["candidates"] if c["trial"] == result.selection["chosen"]
    )
    assert result.cv_score == pytest.approx(chosen["mean"])
    assert result.algorithm == chosen["algorithm"]


def test_holdout_is_scored_apart_from_cross_validation(cancer: pd.DataFrame) -> None:
    result = train_model(
        cancer, infer_schema(cancer), TrainSpec("target", trials=2, test_size=0.25)
    )
    assert result.rows_test == pytest.approx(0.25 * len(cancer), abs=1)
    assert result.rows_train + result.rows_test == len(cancer)
    assert set(result.holdout) == {"accuracy", "f1_macro", "roc_auc", "log_loss"}
    assert 0.85 < result.holdout["accuracy"] <= 1.0


def test_regression_metrics_and_lower_is_better(diabetes: pd.DataFrame) -> None:
    spec = TrainSpec("target", algorithm="ridge", trials=4, cv=3)
    result = train_model(diabetes, infer_schema(diabetes), spec)
    assert result.metric == "rmse"
    assert result.cv_score == min(t.score for t in result.trials if t.score is not None)
    assert set(result.holdout) == {"rmse", "mae", "r2"}


def test_the_same_seed_gives_the_same_search(iris: pd.DataFrame) -> None:
    spec = TrainSpec("species", trials=4, cv=3, seed=7)
    a = train_model(iris, infer_schema(iris), spec)
    b = train_model(iris, infer_schema(iris), spec)
    assert [(t.algorithm, t.params, t.score) for t in a.trials] == [
        (t.algorithm, t.params, t.score) for t in b.trials
    ]


def test_time_budget_stops_the_search(iris: pd.DataFrame) -> None:
    spec = TrainSpec("species", algorithm="logistic_regression", trials=100_000, timeout=1.0, cv=2)
    result = train_model(iris, infer_schema(iris), spec)
    assert 1 <= len(result.trials) < 100_000


def test_progress_reports_every_trial_then_done(iris: pd.DataFrame) -> None:
    events: list[Progress] = []
    train_model(iris, infer_schema(iris), TrainSpec("species", trials=3, cv=2), events.append)
    trials = [e for e in events if e.phase == "search" and e.trial is not None]
    assert [e.done for e in trials] == [1, 2, 3]
    assert [e.phase for e in events][-3:] == ["fit", "evaluate", "done"]


def test_chosen_metric_is_optimised(iris: pd.DataFrame) -> None:
    result = train_model(
        iris, infer_schema(iris), TrainSpec("species", trials=3, metric="log_loss", cv=3)
    )
    assert result.metric == "log_loss"
    assert result.selection is not None
    means = [c["mean"] for c in result.selection["candidates"] if c["folds"]]
    assert result.selection["threshold"] >= min(means)  # lower is better: best + one SE
    assert result.cv_score <= result.selection["threshold"]


def test_mixed_table_with_every_column_kind(mixed: pd.DataFrame) -> None:
    spec = TrainSpec(
        "churned", trials=3, cv=3, preprocessing=Preprocessing(impute_numeric="iterative")
    )
    result = train_model(mixed, infer_schema(mixed), spec)
    assert result.holdout["accuracy"] > 0.6
    sig = {c.name: c.kind for c in result.signature.inputs}
    assert sig["notes"] == "text" and sig["signup"] == "datetime" and sig["active"] == "boolean"
    assert result.reference_stats["features"]["plan"]["frequencies"]["basic"] > 0
    assert len(result.reference_stats["features"]["age"]["histogram"]["counts"]) >= 5
    assert sum(result.reference_stats["prediction"]["frequencies"].values()) == result.rows_train


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        (TrainSpec("nope"), ValidationError, "unknown target column 'nope'"),
        (TrainSpec("species", task="regression"), TrainingError, "is not numeric"),
        (
            TrainSpec("species", metric="rmse"),
            ValidationError,
            "metric 'rmse' does not fit classification",
        ),
        (
            TrainSpec("species", features=("petal width (cm)", "bogus")),
            ValidationError,
            "unknown column",
        ),
    ],
)
def test_bad_requests(iris: pd.DataFrame, spec: TrainSpec, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        train_model(iris, infer_schema(iris), spec)


def test_bad_spec_values() -> None:
    with pytest.raises(ValidationError, match="trials must be at least 1"):
        TrainSpec("y", trials=0)
    with pytest.raises(ValidationError, match="task 'ranking' is not one of"):
        TrainSpec("y", task="ranking")


def test_a_table_whose_features_are_all_missing(iris: pd.DataFrame) -> None:
    df = iris[["species"]].assign(x=float("nan"), y=float("nan"))
    with pytest.raises(ValidationError, match="no feature columns left"):
        train_model(df, infer_schema(df), TrainSpec("species", trials=1))


def test_every_trial_failing_is_a_training_error(iris: pd.DataFrame) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from modelbay.train.catalogue import Algorithm
    from modelbay.train.metrics import get_metric
    from modelbay.train.search import search

    broken = Algorithm(
        "broken",
        frozenset({"classification"}),
        False,
        lambda task, params, seed: LogisticRegression(C=-1.0),
        lambda trial: {},
    )
    X, y = iris.drop(columns="species"), iris["species"]
    with pytest.raises(TrainingError, match=r"every trial failed; the first error was: .*C"):
        search(
            lambda algo, p: Pipeline(algo.make("classification", p, 0)),
            [broken],
            X,
            y,
            task="classification",
            metric=get_metric(None, "classification"),
            trials=2,
            timeout=None,
            cv=2,
            seed=0,
        )


def test_fixed_params_override_the_search(iris: pd.DataFrame) -> None:
    spec = TrainSpec(
        "species", algorithm="random_forest", trials=2, cv=2, params={"n_estimators": 100}
    )
    result = train_model(iris, infer_schema(iris), spec)
    assert [t.params["n_estimators"] for t in result.trials] == [100, 100]
    assert result.model[-1].n_estimators == 100
    with pytest.raises(ValidationError, match="fixed params need one algorithm"):
        TrainSpec("species", params={"C": 1.0})
