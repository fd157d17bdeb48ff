"""``modelbay drift``, ``quality``, ``report`` and ``alerts`` through Typer's runner."""

from __future__ import annotations

import json
import time
from pathlib import Path

from sklearn.datasets import load_iris
from typer.testing import CliRunner

from modelbay import Bay
from modelbay.cli import build_cli
from modelbay.monitor.predlog import LoggedRequest, PredictionLog


def test_monitoring_commands(tmp_path: Path) -> None:
    home = tmp_path / "home"
    iris = load_iris(as_frame=True).frame
    with Bay(home=home) as bay:
        v = bay.train(iris, "target", name="iris", algorithm="logistic_regression", trials=1, cv=2)
        x = iris.drop(columns="target").to_numpy().copy()
        x[:, 2] += 3.0  # petal length moves
        predictor = bay.load("iris")
        log = PredictionLog(bay.db)
        for i in range(0, 150, 5):
            block = x[i : i + 5]
            labels = predictor.predict(block)
            log.record(
                LoggedRequest(
                    f"q{i}",
                    time.time(),
                    "iris",
                    "iris",
                    v.version,
                    "cli",
                    0.001,
                    block,
                    v.signature.names,
                    labels,
                )
            )
        log.flush()
        bay.monitor.feedback([{"request_id": "q0", "truth": [0, 0, 0, 0, 0]}])
    runner, app = CliRunner(), build_cli()

    def run(*args: str) -> str:
        result = runner.invoke(app, ["--home", str(home), *args], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output + result.stderr
        return result.output

    out = run("drift", "iris", "--window", "1h")
    assert "drifted: petal length (cm)" in out and "150 rows" in out
    found = json.loads(run("drift", "iris", "--json"))
    assert found["drifted"][0] == "petal length (cm)"
    assert "accuracy=" in run("quality", "iris", "--window", "1h")
    report = tmp_path / "r.html"
    assert "wrote" in run("report", "iris", "-o", str(report))
    assert '<tr class="drifted"><td>petal length (cm)</td>' in report.read_text()
    run(
        "alerts",
        "add",
        "petals",
        "--deployment",
        "iris",
        "--metric",
        "drift.psi.max",
        "--threshold",
        "0.2",
    )
    listed = json.loads(run("alerts", "list", "--json"))
    assert [(r["name"], r["metric"], r["state"]) for r in listed] == [
        ("petals", "drift.psi.max", "ok")
    ]
    assert "alert events" in run("alerts")
    run("alerts", "delete", "petals")
    assert json.loads(run("alerts", "list", "--json")) == []
