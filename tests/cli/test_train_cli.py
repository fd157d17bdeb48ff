"""``modelbay train`` through Typer's runner: refused arguments, and the trials table."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from modelbay import Bay


@pytest.fixture
def iris_csv(tmp_path: Path, iris: pd.DataFrame) -> Path:
    path = tmp_path / "iris.csv"
    iris.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("trials", ["0", "-3"])
def test_train_refuses_fewer_than_one_trial_before_any_work(
    run, iris_csv: Path, trials: str
) -> None:
    res = run("train", str(iris_csv), "--target", "species", "--trials", trials, code=2)
    assert f"trials must be at least 1, not {trials}" in res.stderr
    assert "/" not in res.stdout and "searching" not in res.stdout  # no progress bar
    with Bay(home=run.home) as bay:
        assert bay.datasets.list() == [] and bay.runs.list() == [] and bay.models.list() == []


def _rows(out: str) -> list[list[str]]:
    """The trial rows of the table: its cells, for lines whose first cell is a number."""
    rows = []
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if cells and cells[0].isdigit():
            rows.append(cells)
    return rows


def test_the_trials_table_is_best_first_marks_the_choice_and_says_when_cut(
    run, tmp_path: Path, diabetes: pd.DataFrame
) -> None:
    data = tmp_path / "diabetes.csv"
    diabetes.to_csv(data, index=False)
    out = run(
        "train",
        str(data),
        "--target",
        "target",
        "--algorithm",
        "ridge",
        "--trials",
        "33",
        "--cv",
        "2",
    ).stdout
    title = " ".join(out.split())  # the title wraps to the table's width
    assert "trials (top 30 of 33, best first: rmse by 2-fold CV, lower is better)" in title
    rows = _rows(out)
    assert len(rows) == 30
    scores = [float(r[2]) for r in rows]
    assert scores == sorted(scores)  # rmse: lower first
    assert rows[0][4] == "chosen" and all(r[4] != "chosen" for r in rows[1:])
    with Bay(home=run.home) as bay:
        (version,) = bay.models.versions("diabetes")
        (run_record,) = bay.runs.list()
    best = min(run_record.trials, key=lambda t: (t["score"], t["number"]))
    assert int(rows[0][0]) == best["number"]
    assert version.metrics["cv"]["rmse"] == pytest.approx(best["score"])


def test_trial_parameters_wrap_and_are_never_cut(run, iris_csv: Path) -> None:
    out = run(
        "train",
        str(iris_csv),
        "--target",
        "species",
        "--algorithm",
        "mlp",
        "--trials",
        "1",
        "--cv",
        "2",
        columns=60,
    ).stdout
    table = out[out.index("trials (") : out.index("registered")]
    assert "…" not in table
    with Bay(home=run.home) as bay:
        (trial,) = bay.runs.list()[0].trials
    joined = re.sub(r"[\s│]", "", table)  # the params column's lines, read as one
    for name in trial["params"]:
        assert f"{name}=" in joined
