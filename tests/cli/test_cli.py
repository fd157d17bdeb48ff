"""The CLI end to end through Typer's runner: every command, and errors as exit codes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest

from modelbay import Bay
from modelbay.registry.keys import generate_master_key


@pytest.fixture
def iris_csv(tmp_path: Path, iris: pd.DataFrame) -> Path:
    path = tmp_path / "iris.csv"
    iris.to_csv(path, index=False)
    return path


def test_data_add_list_show(run, iris_csv: Path) -> None:
    out = run("data", "add", str(iris_csv)).output
    assert "dataset iris" in out and "150 rows x 5 columns" in out and "categorical" in out
    assert "iris" in run("data", "list").output
    shown = run("data", "show", "iris").output
    assert "petal length (cm)" in shown and "numeric" in shown


def test_train_then_inspect_alias_and_predict(
    run, iris_csv: Path, tmp_path: Path, iris: pd.DataFrame
) -> None:
    out = run(
        "train",
        str(iris_csv),
        "--target",
        "species",
        "--trials",
        "3",
        "--cv",
        "3",
        "--scale",
        "minmax",
        "--alias",
        "challenger",
    ).output
    assert "registered iris:1" in out and "holdout" in out and "trials (3" in out
    assert "iris" in run("models", "list").output
    detail = json.loads(run("models", "show", "iris@champion", "--json").output)
    assert detail["version"] == 1 and set(detail["aliases"]) == {"champion", "challenger"}
    assert detail["lineage"]["config"]["preprocessing"]["scale"] == "minmax"
    shown = run("models", "show", "iris:1").output
    assert "signature" in shown
    assert "selection: one-standard-error: chose" in shown and "selection:" in out
    run("train", "iris", "--target", "species", "--trials", "1", "--algorithm", "random_forest")
    assert "2" in run("versions", "iris").output
    assert "iris@champion -> version 2" in run("alias", "set", "iris", "champion", "2").output
    run("alias", "delete", "iris", "challenger")

    rows = tmp_path / "rows.csv"
    iris.drop(columns="species").head(8).to_csv(rows, index=False)
    csv_out = run(
        "predict", "iris@champion", "--input", str(rows), "--format", "csv", "--proba"
    ).output
    got = pd.read_csv(io.StringIO(csv_out))
    with Bay(home=run.home) as bay:
        expected = bay.load("iris@champion").predict(pd.read_csv(rows))
    assert got["species"].tolist() == list(expected)
    assert {"p_setosa", "p_versicolor", "p_virginica"} <= set(got.columns)
    written = tmp_path / "preds.csv"
    run("predict", "iris:1", "--input", str(rows), "--output", str(written))
    assert len(pd.read_csv(written)) == 8
    assert "succeeded" in run("runs").output


def test_clustering_and_regression_from_the_cli(
    run, tmp_path: Path, diabetes: pd.DataFrame
) -> None:
    path = tmp_path / "diabetes.parquet"
    diabetes.to_parquet(path, index=False)
    assert (
        "regression"
        in run(
            "train",
            str(path),
            "--target",
            "target",
            "--trials",
            "2",
            "--cv",
            "2",
            "--algorithm",
            "ridge,lasso",
        ).output
    )
    out = run(
        "train",
        "diabetes",
        "--name",
        "segments",
        "--trials",
        "2",
        "--cv",
        "2",
        "--drop-column",
        "target",
        "--algorithm",
        "kmeans",
    ).output
    assert "registered segments:1" in out and "silhouette" in out


def test_errors_are_one_line_with_an_exit_code(run, iris_csv: Path, tmp_path: Path) -> None:
    res = run("models", "show", "ghost", code=4)
    assert "error: model 'ghost' does not exist" in res.stderr and "Traceback" not in res.output
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    assert "cannot read" in run("data", "add", str(bad), code=5).stderr
    assert (
        "unknown target column 'label'"
        in run("train", str(iris_csv), "--target", "label", code=2).stderr
    )
    res = run("train", str(iris_csv), "--target", "species", "--task", "regression", code=6)
    assert "is not numeric" in res.stderr
    assert (
        "does not exist"
        in run("predict", "ghost@champion", "--input", str(iris_csv), code=4).stderr
    )
    res = run("data", "list", code=7, env={"MODELBAY_MASTER_KEY": generate_master_key()})
    assert "master key does not match" in res.stderr


def test_predict_rows_that_do_not_fit_the_signature(run, iris_csv: Path, tmp_path: Path) -> None:
    run("train", str(iris_csv), "--target", "species", "--trials", "1", "--cv", "2")
    rows = tmp_path / "rows.csv"
    rows.write_text(
        "sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n1,2,abc,4\n"
    )
    res = run("predict", "iris", "--input", str(rows), code=5)
    assert "column 'petal length (cm)' expected float64, got 'abc' in row 0" in res.stderr
    res = run("predict", "iris", "--input", str(iris_csv), "--format", "json")
    assert "ignoring column(s) the model does not use: species" in res.stderr
    assert len(json.loads(res.stdout)) == 150


def test_keygen_prints_a_usable_key(run, tmp_path: Path) -> None:
    key = run("keygen").output.strip()
    with Bay(home=tmp_path / "k", master_key=key) as bay:
        assert bay.datasets.list() == []


def test_gc(run, iris_csv: Path) -> None:
    run("data", "add", str(iris_csv))
    assert "removed 0" in run("gc").output
