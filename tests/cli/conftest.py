"""The CLI through Typer's runner, in a home of the test's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from modelbay.cli import build_cli


@pytest.fixture
def cli_columns() -> int:
    """The terminal width the commands print for; a module overrides it where tables are wide."""
    return 200


@pytest.fixture
def run(tmp_path: Path, cli_columns: int) -> Any:
    """``run(*args, code=0, env=None, columns=None)``: the command's result, after asserting
    its exit code (the output and stderr say why when it differs); ``run.home`` is the home."""
    runner, app, home = CliRunner(), build_cli(), tmp_path / "home"

    def invoke(
        *args: str, code: int = 0, env: dict[str, str] | None = None, columns: int | None = None
    ) -> Any:
        result = runner.invoke(
            app,
            ["--home", str(home), *args],
            env={"COLUMNS": str(columns or cli_columns), **(env or {})},
            catch_exceptions=False,
        )
        assert result.exit_code == code, result.output + result.stderr
        return result

    invoke.home = home  # type: ignore[attr-defined]
    return invoke
