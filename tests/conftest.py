"""Shared fixtures: a temporary modelbay home on SQLite, and a fresh PostgreSQL database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

from modelbay import Bay, Settings
from modelbay.registry.keys import generate_master_key

PG_URL = os.environ.get("MODELBAY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


# -- parallel runs (`make test` uses pytest-xdist with `--dist loadgroup`) ---------------------
# One group per module, so a module's fixtures (its server, its home) are built once; the text
# modules share one group, as their session fixture imports MiniLM and trains on it. The README
# tests only start subprocesses, so each is a group of its own. The longest groups go first (the
# longest-first rule), so the two workers finish near together.
LONGEST_FIRST = ("text", "tests/text/test_readme_text.py", "tests/test_readme.py")


def _group(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    if path.startswith("tests/text/") and path != "tests/text/test_readme_text.py":
        return "text"
    return path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_group(item.nodeid)))
    rank = {group: i for i, group in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(_group(item.nodeid), len(rank)))  # stable


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's ~/.modelbay or MODELBAY_* variables."""
    for key in list(os.environ):
        if key.startswith("MODELBAY_") and key != "MODELBAY_TEST_PG_URL":
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path / "user-home"))


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"modelbay_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg.connect(PG_URL, autocommit=True)
    try:
        admin.execute(f'CREATE DATABASE "{name}"')
        base = PG_URL.rsplit("/", 1)[0]
        yield f"{base}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for a fresh home, on SQLite and on PostgreSQL."""
    home = tmp_path / "bay"
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
        return Settings(home=home, database_url=url, master_key=generate_master_key())
    return Settings(home=home)


@pytest.fixture
def bay(settings: Settings) -> Iterator[Bay]:
    with Bay(settings) as b:
        yield b


@pytest.fixture
def sqlite_bay(tmp_path: Path) -> Iterator[Bay]:
    with Bay(home=tmp_path / "bay") as b:
        yield b


@pytest.fixture(scope="session")
def cancer() -> pd.DataFrame:
    return load_breast_cancer(as_frame=True).frame


@pytest.fixture(scope="session")
def iris() -> pd.DataFrame:
    df = load_iris(as_frame=True).frame
    df["species"] = df.pop("target").map({0: "setosa", 1: "versicolor", 2: "virginica"})
    return df


@pytest.fixture(scope="session")
def diabetes() -> pd.DataFrame:
    return load_diabetes(as_frame=True).frame


@pytest.fixture(scope="session")
def mixed() -> pd.DataFrame:
    """A churn-like table with every column kind and missing values."""
    import numpy as np

    rng = np.random.default_rng(0)
    n = 240
    age = rng.integers(18, 80, n).astype(float)
    plan = rng.choice(["basic", "plus", "pro"], n)
    tenure = rng.exponential(24, n)
    active = rng.choice([True, False], n)
    signup = pd.date_range("2022-01-01", periods=n, freq="D").strftime("%Y-%m-%d")
    notes = [
        ("very happy with the service and support" if a else "slow support and billing trouble")
        + f" ticket {i}"
        for i, a in enumerate(active)
    ]
    score = 0.03 * age - 0.05 * tenure + (plan == "pro") * 1.5 + active * 1.0
    churned = np.where(score + rng.normal(0, 0.5, n) > np.median(score), "yes", "no")
    df = pd.DataFrame(
        {
            "age": age,
            "plan": plan,
            "tenure": tenure,
            "active": active,
            "signup": signup,
            "notes": notes,
            "churned": churned,
        }
    )
    df.loc[::17, "age"] = np.nan
    df.loc[::23, "plan"] = None
    return df


# -- serving: a registry holding one model of each kind a server must handle ---------------
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
