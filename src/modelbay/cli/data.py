"""``modelbay data add|list|show|delete``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from modelbay.cli.common import console_for, open_bay, table, when
from modelbay.registry.records import Dataset

app = typer.Typer(help="Add, list, inspect and delete datasets.", no_args_is_help=True)


@app.command("add")
def add(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A .csv or .parquet file.")],
    name: Annotated[
        str | None, typer.Option(metavar="NAME", help="Dataset name (default: the file name).")
    ] = None,
) -> None:
    """Store a table once (by content fingerprint) and show its inferred schema."""
    console = console_for(ctx)
    with open_bay(ctx) as bay:
        ds = bay.datasets.add(path, name=name)
        others = [n for n in ds.names if n != ds.name]
        console.print(
            f"dataset [bold]{ds.name}[/] #{ds.fingerprint[:12]} (id {ds.id}): "
            f"{ds.n_rows} rows x {ds.n_columns} columns"
            + (f" (the same content as {', '.join(others)}: stored once)" if others else "")
        )
        same_name = bay.datasets.candidates(ds.name)
        if len(same_name) > 1:
            console_for(ctx, stderr=True).print(
                f"note: {len(same_name)} datasets are named {ds.name!r} now, so the name alone "
                f"is ambiguous; name this one as {ds.name}#{ds.fingerprint[:12]} or {ds.id}",
                soft_wrap=True,
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
                ", ".join(d.names),
                d.fingerprint[:12],
                d.n_rows,
                d.n_columns,
                when(d.created_at),
            ]
            for d in bay.datasets.list()
        ]
        console.print(
            table("datasets", ["id", "names", "fingerprint", "rows", "columns", "added"], rows)
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
            + (
                f"; also named {', '.join(n for n in ds.names if n != ds.name)}"
                if len(ds.names) > 1
                else ""
            )
        )
        _schema(console, ds)


@app.command("delete")
def delete(
    ctx: typer.Context,
    ref: Annotated[
        str, typer.Argument(help="A name (removes that name), an id or a fingerprint prefix.")
    ],
) -> None:
    """Remove a dataset name; the dataset and its stored table go with its last name (or at
    once by id). Models trained on it keep their lineage."""
    with open_bay(ctx) as bay:
        gone = bay.datasets.delete(ref)
    console = console_for(ctx)
    if gone is None:
        console.print(f"removed the name {ref}; the same content keeps its other names")
    else:
        console.print(f"deleted dataset {gone.ref} (id {gone.id})")


def _schema(console: Console, ds: Dataset) -> None:
    console.print(
        table(
            None,
            ["column", "kind", "dtype", "missing", "unique"],
            [[c.name, c.kind, c.dtype, c.missing, c.unique] for c in ds.schema.columns],
        )
    )
