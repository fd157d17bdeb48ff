"""Every algorithm of the catalogue, on its every task: trains, registers, loads back equal."""

import numpy as np
import pandas as pd
import pytest

from modelbay import Bay, ValidationError
from modelbay.data import infer_schema
from modelbay.train import ALGORITHMS, TrainSpec, train_model
from modelbay.train.catalogue import resolve

from .helpers import register_result

CASES = [(name, task) for name, algo in ALGORITHMS.items() for task in sorted(algo.tasks)]
CASES += [
    ("pca+logistic_regression", "classification"),
    ("pca+ridge", "regression"),
    ("pca+kmeans", "clustering"),
]


def data_for(
    task: str, iris: pd.DataFrame, diabetes: pd.DataFrame
) -> tuple[pd.DataFrame, str | None]:
    if task == "classification":
        return iris, "species"
    if task == "regression":
        return diabetes, "target"
    return iris.drop(columns="species"), None


@pytest.mark.parametrize(("name", "task"), CASES)
def test_algorithm_trains_and_round_trips_through_the_registry(
    sqlite_bay: Bay, iris: pd.DataFrame, diabetes: pd.DataFrame, name: str, task: str
) -> None:
    df, target = data_for(task, iris, diabetes)
    spec = TrainSpec(target=target, task=task, algorithm=name, trials=2, cv=3)
    result = train_model(df, infer_schema(df), spec)
    assert [t.state for t in result.trials] == ["complete", "complete"]
    assert result.algorithm == name
    quality = {
        "classification": ("accuracy", 0.8),
        "regression": ("r2", 0.1),
        "clustering": ("silhouette", 0.2),
    }[task]
    assert result.holdout[quality[0]] > quality[1]
    version = register_result(sqlite_bay, f"m-{name.replace('+', '-')}-{task}", result)
    loaded = sqlite_bay.load(version.ref)
    X = df.drop(columns=[target]) if target else df
    if task == "regression":  # the same arithmetic, up to the last bit of float64
        np.testing.assert_allclose(loaded.predict(X), result.model.predict(X), rtol=1e-12)
    else:
        np.testing.assert_array_equal(loaded.predict(X), result.model.predict(X))
    if task == "classification":
        np.testing.assert_allclose(
            loaded.predict_proba(X).to_numpy(), result.model.predict_proba(X)
        )


def test_unknown_algorithm_lists_the_catalogue() -> None:
    with pytest.raises(ValidationError, match="unknown algorithm 'xgboost'; choose from: auto"):
        resolve("xgboost", "classification")


def test_algorithm_that_does_not_fit_the_task() -> None:
    with pytest.raises(ValidationError, match="'kmeans' does not do classification"):
        resolve("kmeans", "classification")


def test_pca_prefix_adds_a_pca_step_with_a_searched_variance(iris: pd.DataFrame) -> None:
    spec = TrainSpec(target="species", algorithm="pca+svm", trials=1, cv=2)
    result = train_model(iris, infer_schema(iris), spec)
    assert "pca" in result.model.named_steps
    assert 0.8 <= result.params["pca_variance"] <= 0.99
