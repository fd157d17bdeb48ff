"""``modelbay predict``: predictions for rows in a CSV/Parquet file, here or on a server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console

from modelbay.cli.common import console_for, open_bay, table
from modelbay.data.tables import read_table

__all__ = ["predict"]


def predict(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="name, name@alias or name:version")],
    input: Annotated[
        Path,
        typer.Option("--input", "-i", metavar="FILE", help="Rows to score (.csv or .parquet)."),
    ],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", metavar="FILE", help="Write CSV here.")
    ] = None,
    proba: Annotated[bool, typer.Option(help="Add class probabilities (classifiers).")] = False,
    format: Annotated[
        str, typer.Option(metavar="FORMAT", help="table|csv|json when printing.")
    ] = "table",
    url: Annotated[
        str | None, typer.Option(metavar="URL", help="Ask a modelbay server instead.")
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(metavar="KEY", help="API key for --url.", envvar="MODELBAY_API_KEY"),
    ] = None,
) -> None:
    """Predict with a registered version, in this process (or on a server with --url).
    Columns the model does not use (an id, the label) are ignored and named on stderr."""
    if format not in ("table", "csv", "json"):
        raise typer.BadParameter("format must be table, csv or json", param_hint="--format")
    rows = read_table(input)
    if url is not None:
        out, source = _remote(ctx, url, key, ref, rows, proba)
    else:
        with open_bay(ctx) as bay:
            predictor = bay.load(ref)
            _ignored(ctx, rows, predictor.signature.names)
            out = pd.DataFrame(
                {predictor.signature.output.name: predictor.predict(rows, allow_extra=True)}
            )
            if proba:
                probabilities = predictor.predict_proba(rows, allow_extra=True).add_prefix("p_")
                out = pd.concat([out, probabilities], axis=1)
            source = predictor.version.ref
    _show(console_for(ctx), out, output, format, source)


def _ignored(ctx: typer.Context, rows: pd.DataFrame, used: list[str]) -> None:
    ignored = [str(c) for c in rows.columns if c not in set(used)]
    if ignored:
        console_for(ctx, stderr=True).print(
            f"ignoring column(s) the model does not use: {', '.join(ignored)}"
        )


def _remote(
    ctx: typer.Context, url: str, key: str | None, ref: str, rows: pd.DataFrame, proba: bool
) -> tuple[pd.DataFrame, str]:
    from modelbay.client import Client

    name, _, version = ref.partition(":")
    v = int(version) if version.isdigit() else None
    with Client(url, key) as client:
        meta = client.metadata(name)
        wanted = [i["name"] for i in meta["inputs"]]
        _ignored(ctx, rows, wanted)
        missing = [c for c in wanted if c not in rows.columns]
        frame = rows[[c for c in wanted if c in rows.columns]] if not missing else rows
        target = meta["parameters"].get("target", "prediction")
        if proba:
            labels, probabilities = client.predict(name, frame, proba=True, version=v)
            out = pd.concat(
                [pd.DataFrame({target: labels}), probabilities.add_prefix("p_")], axis=1
            )
        else:
            out = pd.DataFrame({target: client.predict(name, frame, version=v)})
        served = meta["parameters"].get("model", ref)
    return out, f"{served} at {url}"


def _show(
    console: Console, out: pd.DataFrame, output: Path | None, format: str, source: str
) -> None:
    if output is not None:
        out.to_csv(output, index=False)
        console.print(f"wrote {len(out)} predictions from {source} to {output}")
    elif format == "csv":
        typer.echo(out.to_csv(index=False), nl=False)
    elif format == "json":
        typer.echo(out.to_json(orient="records"))
    else:
        console.print(table(f"{source} predictions", list(out.columns), out.values.tolist()))
