"""One timestamp format in every CLI table and line: ``cli.common.when``, UTC to the second."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from modelbay import Bay
from modelbay.cli import build_cli
from modelbay.cli.common import when

STAMP = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d)?\S*")
ONE_FORMAT = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$")


def test_when_prints_utc_to_the_second_whatever_it_is_given() -> None:
    moment = datetime(2026, 12, 4, 18, 51, 3, 250_000, tzinfo=UTC)
    paris = moment.astimezone(timezone(timedelta(hours=1)))
    for given in (moment, paris, moment.replace(tzinfo=None), paris.isoformat()):
        assert when(given) == "2026-12-04 18:51:03Z"
    assert when(None) == "-"


def test_every_table_prints_times_in_the_one_format(tmp_path: Path, iris: pd.DataFrame) -> None:
    home = tmp_path / "home"
    with Bay(home=home) as bay:
        bay.train(iris, "species", name="iris", algorithm="logistic_regression", trials=1, cv=2)
        bay.keys.create("ci", ["predict"], expires="30d")
    runner, app = CliRunner(), build_cli()
    commands = [
        ["data", "list"],
        ["models", "list"],
        ["models", "show", "iris"],
        ["versions", "iris"],
        ["runs"],
        ["keys", "list"],
        ["keys", "list", "--all"],
        ["audit"],
    ]
    for args in commands:
        result = runner.invoke(app, ["--home", str(home), *args], env={"COLUMNS": "250"})
        assert result.exit_code == 0, result.output
        stamps = [m.group(0) for m in STAMP.finditer(result.output)]
        assert stamps, f"modelbay {' '.join(args)} printed no time:\n{result.output}"
        odd = [s for s in stamps if not ONE_FORMAT.match(s)]
        assert not odd, f"modelbay {' '.join(args)}: {odd} are not YYYY-MM-DD HH:MM:SSZ"
