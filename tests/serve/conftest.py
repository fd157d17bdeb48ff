"""A registry holding one model of each kind the server must handle."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

from modelbay import Bay

MODELS = {
    # name: (data, target, algorithm) -- served by ONNX unless noted
    "bc-logistic": ("cancer", "target", "logistic_regression"),
    "bc-forest": ("cancer", "target", "random_forest"),
    "iris-boosting": ("iris", "species", "gradient_boosting"),  # scikit-learn (no ONNX)
    "iris-svm": ("iris", "species", "svm"),
    "iris-mlp": ("iris", "species", "mlp"),
    "diabetes-ridge": ("diabetes", "target", "ridge"),
    "diabetes-linear": ("diabetes", "target", "linear_regression"),
    "diabetes-lasso": ("diabetes", "target", "lasso"),
    "diabetes-pca-forest": ("diabetes", "target", "pca+random_forest"),
    "iris-kmeans": ("iris-x", None, "kmeans"),
    "churn": ("mixed", "churned", "logistic_regression"),  # scikit-learn (text, dates)
}


def frames(mixed: pd.DataFrame) -> dict[str, pd.DataFrame]:
    iris = load_iris(as_frame=True).frame
    iris["species"] = iris.pop("target").map({0: "setosa", 1: "versicolor", 2: "virginica"})
    return {
        "cancer": load_breast_cancer(as_frame=True).frame,
        "iris": iris,
        "iris-x": iris.drop(columns="species"),
        "diabetes": load_diabetes(as_frame=True).frame,
        "mixed": mixed,
    }


@pytest.fixture(scope="session")
def serve_home(tmp_path_factory: pytest.TempPathFactory, mixed: pd.DataFrame) -> Path:
    home = tmp_path_factory.mktemp("serve-home")
    data = frames(mixed)
    with Bay(home=home) as bay:
        for name, (key, target, algorithm) in MODELS.items():
            bay.train(data[key], target, name=name, algorithm=algorithm, trials=1, cv=2)
    return home


@pytest.fixture(scope="session")
def serve_data(mixed: pd.DataFrame) -> dict[str, pd.DataFrame]:
    data = frames(mixed)
    return {name: data[key].drop(columns=[t] if t else []) for name, (key, t, _) in MODELS.items()}


@pytest.fixture
def serve_bay(serve_home: Path) -> Iterator[Bay]:
    with Bay(home=serve_home) as bay:
        yield bay
