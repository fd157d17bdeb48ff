"""A typo in a name is an error that lists what exists, never an empty answer with exit 0
(``report``, ``quality``, ``drift``, ``alerts add``, ``audit --action``); a key's allow-list may
name a model that does not exist yet, and ``keys create`` says so."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from modelbay import Bay
from modelbay.cli import build_cli


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, iris: pd.DataFrame) -> Path:
    path = tmp_path_factory.mktemp("typos") / "home"
    with Bay(home=path) as bay:
        bay.train(iris, "species", name="iris", algorithm="logistic_regression", trials=1, cv=2)
        bay.deployments.put("flowers", "iris")
    return path


@pytest.fixture
def run(home: Path):
    runner, app = CliRunner(), build_cli()

    def invoke(*args: str, code: int = 0):
        result = runner.invoke(
            app, ["--home", str(home), *args], env={"COLUMNS": "200"}, catch_exceptions=False
        )
        assert result.exit_code == code, result.output + result.stderr
        return result

    return invoke


LISTS_WHAT_EXISTS = "deployments: flowers; models: iris"


def test_report_on_an_unknown_name_fails_and_writes_nothing(run, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    res = run("report", "nope", "-o", str(out), code=4)
    assert "no deployment or model is named 'nope'" in res.stderr
    assert LISTS_WHAT_EXISTS in res.stderr and not out.exists()


@pytest.mark.parametrize("command", ["quality", "drift"])
def test_quality_and_drift_of_an_unknown_name_fail_listing_what_exists(run, command: str) -> None:
    res = run(command, "nope", code=4)
    assert "no deployment or model is named 'nope'" in res.stderr
    assert LISTS_WHAT_EXISTS in res.stderr


def test_quality_of_a_model_or_deployment_without_feedback_is_an_empty_table(run) -> None:
    for name in ("iris", "flowers"):
        assert "version" in run("quality", name).stdout


def test_an_alert_rule_on_an_unknown_deployment_is_refused(run) -> None:
    args = ["--metric", "requests.count", "--threshold", "1"]
    res = run("alerts", "add", "busy", "--deployment", "nope", *args, code=4)
    assert "no deployment or model is named 'nope'" in res.stderr
    assert LISTS_WHAT_EXISTS in res.stderr
    assert "busy" not in run("alerts", "list").stdout
    assert "rule busy" in run("alerts", "add", "busy", "--deployment", "flowers", *args).stdout
    run("alerts", "delete", "busy")


def test_a_key_for_a_model_that_does_not_exist_yet_is_made_with_a_warning(run) -> None:
    res = run("keys", "create", "--name", "future", "--models", "iris,nonexistentmodel")
    assert "warning: no model or deployment is named 'nonexistentmodel' yet" in res.stderr
    assert "models: iris; deployments: flowers" in res.stderr
    assert res.stdout.strip().splitlines()[-1].startswith("mbk_")  # the key is made
    quiet = run("keys", "create", "--name", "present", "--models", "iris,flowers")
    assert "warning" not in quiet.stderr


def test_audit_with_an_unknown_action_fails_listing_the_actions(run) -> None:
    res = run("audit", "--action", "nonsense", code=2)
    assert "no audit action 'nonsense'; actions are:" in res.stderr
    assert "alias.set" in res.stderr and "train" in res.stderr
    assert "train" in run("audit", "--action", "train").stdout
    assert "undeploy" not in run("audit", "--action", "undeploy").stdout  # known, none yet
