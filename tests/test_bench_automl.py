"""bench/automl.py: its tables, its one split, its ranks and verdicts, and a --quick run."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

from tests import procs

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "automl.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_automl", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_automl"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_every_bundled_table_and_two_generated_ones(bench: ModuleType) -> None:
    tables = bench.tables()
    assert list(tables) == [
        "iris",
        "wine",
        "breast-cancer",
        "digits",
        "diabetes",
        "generated-cls",
        "generated-reg",
    ]
    for name in ("generated-cls", "generated-reg"):
        frame = tables[name].frame
        assert not pd.api.types.is_numeric_dtype(frame["city"]) and frame["plan"].isna().any()
        assert frame["x1"].isna().mean() == pytest.approx(0.1, abs=0.03)
        assert not frame["target"].isna().any()
    assert tables["generated-cls"].task == "classification"
    assert tables["generated-cls"].frame["target"].nunique() == 3
    assert tables["diabetes"].task == "regression"


def test_one_seeded_stratified_split_for_every_system(bench: ModuleType) -> None:
    iris = bench.tables()["iris"]
    _, X_test, _, y_test = bench.split(iris, 3)
    again = bench.split(iris, 3)
    assert list(X_test.index) == list(again[1].index)
    assert len(X_test) == pytest.approx(0.25 * len(iris.frame), abs=1)
    assert y_test.value_counts().max() - y_test.value_counts().min() <= 1  # stratified
    assert list(bench.split(iris, 4)[1].index) != list(X_test.index)


def test_the_baseline_handles_categories_and_missing_values(bench: ModuleType) -> None:
    table = bench.tables()["generated-reg"]
    X_train, X_test, y_train, y_test = bench.split(table, 0)
    model = bench.fit_baseline(table, X_train, y_train, 0, 1.0)
    assert 0.0 < bench.score("regression", y_test, model.predict(X_test)) < 1.0


def outcome(bench: ModuleType, table: str, seed: int, system: str, score: float):
    return bench.Outcome(table, seed, system, score, 1.0, "x")


def test_ranks_share_ties_and_verdicts_follow_the_targets(
    bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    tables = bench.tables()
    results = [
        outcome(bench, "iris", 0, "modelbay", 0.97),
        outcome(bench, "iris", 0, "flaml", 0.95),
        outcome(bench, "iris", 0, "baseline", 0.97),
        outcome(bench, "wine", 0, "modelbay", 0.95),
        outcome(bench, "wine", 0, "flaml", 0.99),
        outcome(bench, "wine", 0, "baseline", 0.97),
    ]
    assert bench.ranks(results) == {"modelbay": 2.25, "flaml": 2.0, "baseline": 1.75}
    assert not bench.report(results, tables, 1.0)
    out = capsys.readouterr().out
    assert "FAIL: modelbay's mean rank 2.25 > FLAML's 2.00" in out
    assert "FAIL: modelbay never more than 0.01 below the baseline (worst: wine, -0.0200)" in out
    results[3] = outcome(bench, "wine", 0, "modelbay", 0.99)
    assert bench.report(results, tables, 1.0)
    assert capsys.readouterr().out.count("PASS") == 2


@pytest.mark.slow
def test_quick_run_compares_the_three_on_iris(tmp_path: Path) -> None:
    """With the bench extra, a smoke run; without it (``make test`` installs dev and text
    only: FLAML pulls xgboost and lightgbm), the bench says what to install, exit 2."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELBAY_")}
    env["PYTHONWARNINGS"] = "ignore"
    env["TMPDIR"] = str(tmp_path)
    proc = procs.run([sys.executable, SCRIPT, "--quick"], env=env, timeout=240)
    if importlib.util.find_spec("flaml") is None:
        assert proc.returncode == 2 and "pip install -e '.[bench]'" in proc.stderr, proc.stderr
        return
    assert proc.returncode in (0, 1), proc.stderr  # 1: a target failed, on a 2 s budget
    assert "| iris | accuracy |" in proc.stdout
    assert "mean rank over every (table, seed)" in proc.stdout
    assert proc.stdout.count("PASS") + proc.stdout.count("FAIL") == 2
