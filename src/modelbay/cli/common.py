"""What every command shares: the Bay for this invocation, and output helpers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from modelbay.bay import Bay
from modelbay.settings import Settings

__all__ = [
    "TIME_FORMAT",
    "console_for",
    "fmt",
    "metric_line",
    "open_bay",
    "print_json",
    "selection_line",
    "table",
    "when",
]

TIME_FORMAT = "%Y-%m-%d %H:%M:%SZ"  # every time a command prints: UTC, to the second


def console_for(ctx: typer.Context, *, stderr: bool = False) -> Console:
    """The console of this invocation (made by the root command, so tests get their own)."""
    key = "stderr" if stderr else "console"
    obj = ctx.find_root().obj
    if not isinstance(obj, dict) or key not in obj:
        return Console(highlight=False, stderr=stderr)
    console: Console = obj[key]
    return console


@contextmanager
def open_bay(ctx: typer.Context) -> Iterator[Bay]:
    home: Path | None = (ctx.find_root().obj or {}).get("home")
    settings = Settings(home=home) if home else Settings()
    bay = Bay(settings)
    try:
        yield bay
    finally:
        bay.close()


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def when(moment: datetime | str | None) -> str:
    """A time as every table shows it (``TIME_FORMAT``, in UTC); ``-`` for none. Takes a
    datetime (one without a zone is UTC, as the registry stores) or an ISO 8601 string."""
    if moment is None or moment == "":
        return "-"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def metric_line(metrics: dict[str, Any]) -> str:
    return "  ".join(f"{k}={fmt(v)}" for k, v in metrics.items())


def selection_line(selection: dict[str, Any]) -> str:
    """How the search chose: ``one-standard-error: chose logistic_regression #0 (0.979 ± 0.007)
    over mlp #4 0.972 ± 0.006, ...`` (each candidate's mean ± SE on new folds)."""
    shown = []
    for c in selection.get("candidates", []):
        score = f"{fmt(c['mean'])} ± {fmt(c['se'])}" if c.get("folds") else f"({c['skipped']})"
        shown.append((c["trial"], f"{c['algorithm']} #{c['trial']} {score}"))
    chosen = next((text for trial, text in shown if trial == selection.get("chosen")), "?")
    others = [text for trial, text in shown if trial != selection.get("chosen")]
    return f"{selection.get('rule')}: chose {chosen}" + (
        f" over {', '.join(others)}" if others else ""
    )


def table(
    title: str | None, columns: list[str], rows: list[list[Any]], *, wrap_last_only: bool = False
) -> Table:
    """A table; ``wrap_last_only`` keeps every column but the last on one line."""
    t = Table(title=title, title_justify="left")
    for i, c in enumerate(columns):
        if wrap_last_only and i < len(columns) - 1:
            t.add_column(c, no_wrap=True, min_width=len(c))
        else:
            t.add_column(c)
    for r in rows:
        t.add_row(*[fmt(v) for v in r])
    return t


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))
