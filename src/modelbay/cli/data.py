"""``modelbay data add|list|show``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from modelbay.cli.common import console_for, open_bay, table
from modelbay.registry.records import Dataset

app = typer.Typer(help="Add, list and inspect datasets.", no_args_is_help=True)


@app.command("add")
def add(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A .csv or .parquet file.")],
    name: Annotated[str | None, typer.Option(help="Dataset name (default: the file name).")] = None,
) -> None:
    """Store a table once (by content fingerprint) and show its inferred schema."""
    console = console_for(ctx)
    with open_bay(ctx) as bay:
        ds = bay.datasets.add(path, name=name)
        console.print(
            f"dataset [bold]{ds.name}[/] #{ds.fingerprint[:12]} (id {ds.id}): "
            f"{ds.n_rows} rows x {ds.n_columns} columns"
        )
        _schema(console, ds)


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """List stored datasets."""
    console = console_for(ctx)
    with open_bay(ctx) as bay:
        rows = [
            [
                d.id,
                d.name,
                d.fingerprint[:12],
                d.n_rows,
                d.n_columns,
                d.created_at.strftime("%Y-%m-%d %H:%M"),
            ]
            for d in bay.datasets.list()
        ]
        console.print(
            table("datasets", ["id", "name", "fingerprint", "rows", "columns", "added"], rows)
        )


@app.command("show")
def show(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="Dataset name, id or fingerprint prefix.")],
) -> None:
    """Show a dataset's schema."""
    console = console_for(ctx)
    with open_bay(ctx) as bay:
        ds = bay.datasets.get(ref)
        console.print(
            f"dataset [bold]{ds.name}[/] #{ds.fingerprint} (id {ds.id}), "
            f"{ds.n_rows} rows, from {ds.source}"
        )
        _schema(console, ds)


def _schema(console: Console, ds: Dataset) -> None:
    console.print(
        table(
            None,
            ["column", "kind", "dtype", "missing", "unique"],
            [[c.name, c.kind, c.dtype, c.missing, c.unique] for c in ds.schema.columns],
        )
    )
