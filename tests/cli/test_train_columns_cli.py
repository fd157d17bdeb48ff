"""``modelbay train`` says which columns it leaves out as identifiers; --keep-column keeps one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from modelbay.cli import build_cli


def test_train_warns_of_an_id_column_and_keeps_it_when_asked(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=120)
    path = tmp_path / "customers.csv"
    pd.DataFrame(
        {"customer_id": rng.permutation(10_000)[:120], "x": x, "y": np.where(x > 0, "a", "b")}
    ).to_csv(path, index=False)
    runner, app = CliRunner(), build_cli()

    def run(*args: str) -> str:
        result = runner.invoke(
            app, ["--home", str(tmp_path / "home"), *args], env={"COLUMNS": "200"}
        )
        assert result.exit_code == 0, result.output
        return result.output

    common = ("--target", "y", "--trials", "1", "--cv", "2", "--algorithm", "logistic_regression")
    out = run("train", str(path), *common)
    assert "warning: column 'customer_id' left out" in out and "--keep-column customer_id" in out
    assert "left out: customer_id (looks like an identifier" in run("models", "show", "customers:1")
    out = run("train", "customers", *common, "--keep-column", "customer_id")
    assert "left out" not in out
    shown = json.loads(run("models", "show", "customers:2", "--json"))
    assert [c["name"] for c in shown["signature"]["inputs"]] == ["customer_id", "x"]
