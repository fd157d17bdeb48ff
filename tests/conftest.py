"""Shared fixtures: a temporary modelbay home on SQLite, and a fresh PostgreSQL database."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

from modelbay import Bay, Settings
from modelbay.registry.keys import generate_master_key
from tests import procs

PG_URL = os.environ.get("MODELBAY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


# -- parallel runs (`make test` uses pytest-xdist with `--dist loadfile`) ----------------------
# A module runs whole on one worker, so its fixtures (its server, its home) are built once. The
# longest modules go first (the longest-first rule), so the two workers finish near together.
# (Not `--dist loadgroup`: xdist 3.8 renames nodeids for it in a way pytest 9.2 ignores, so every
# test became a group of its own and modules were split across workers.)
LONGEST_FIRST = ("tests/text/", "tests/test_readme.py", "tests/e2e/test_schemathesis.py")


def _rank(item: pytest.Item) -> int:
    path = item.nodeid.split("::", 1)[0]
    return next((i for i, p in enumerate(LONGEST_FIRST) if path.startswith(p)), len(LONGEST_FIRST))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_rank)  # stable: a module's tests keep their order


# -- processes: none outlives the session (see tests/procs.py) ------------------------------
def pytest_configure(config: pytest.Config) -> None:
    from pytest_timeout import get_env_settings

    method = get_env_settings(config).method
    if method != "signal":  # "thread" ends the process with os._exit: no finalizer would run
        raise pytest.UsageError(
            f"timeout_method is {method!r}: the tests need 'signal', which raises inside the"
            " test, so the finalizers that stop its servers run"
        )
    main = threading.current_thread() is threading.main_thread()
    if main and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupted)  # a killed run tears down as on Ctrl-C
    atexit.register(procs.stop_all)


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.hookimpl(trylast=True)  # after the session's fixtures are torn down
def pytest_sessionfinish(session: pytest.Session) -> None:
    """The safety net: end the process groups that no test's finalizer stopped."""
    left = procs.stop_all()
    if left:
        print(
            f"\ntests/procs: stopped {len(left)} process group(s) no finalizer stopped:",
            file=sys.stderr,
        )
        for line in left:
            print(f"  {line}", file=sys.stderr)


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
    """A home with the MODELS trained, shared by every module on a worker: read from it only.
    A module that writes (deployments, keys, logs, alerts) takes ``own_serve_home``."""
    home = tmp_path_factory.mktemp("serve-home")
    data = frames(mixed)
    with Bay(home=home) as bay:
        for name, (key, target, algorithm) in MODELS.items():
            bay.train(data[key], target, name=name, algorithm=algorithm, trials=1, cv=2)
    return home


@pytest.fixture(scope="module")
def own_serve_home(serve_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of ``serve_home`` for one module: what it makes there no other module sees."""
    path = tmp_path_factory.mktemp("own-serve-home") / "home"
    shutil.copytree(serve_home, path)
    return path


@pytest.fixture(scope="session")
def serve_data(mixed: pd.DataFrame) -> dict[str, pd.DataFrame]:
    data = frames(mixed)
    return {name: data[key].drop(columns=[t] if t else []) for name, (key, t, _) in MODELS.items()}


@pytest.fixture
def serve_bay(serve_home: Path) -> Iterator[Bay]:
    with Bay(home=serve_home) as bay:
        yield bay
