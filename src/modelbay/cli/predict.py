"""``modelbay predict``: predictions for rows in a CSV/Parquet file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from modelbay.cli.common import console_for, open_bay, table
from modelbay.data.tables import read_table

__all__ = ["predict"]


def predict(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="name, name@alias or name:version")],
    input: Annotated[Path, typer.Option("--input", "-i", help="Rows to score (.csv or .parquet).")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write CSV here.")] = None,
    proba: Annotated[bool, typer.Option(help="Add class probabilities (classifiers).")] = False,
    format: Annotated[str, typer.Option(help="table|csv|json when printing.")] = "table",
) -> None:
    """Predict with a registered version, in this process. Columns the model does not use
    (an id, the label) are ignored and named on stderr."""
    console = console_for(ctx)
    if format not in ("table", "csv", "json"):
        raise typer.BadParameter("format must be table, csv or json", param_hint="--format")
    with open_bay(ctx) as bay:
        predictor = bay.load(ref)
        rows = read_table(input)
        ignored = [c for c in rows.columns if c not in set(predictor.signature.names)]
        if ignored:
            console_for(ctx, stderr=True).print(
                f"ignoring column(s) the model does not use: {', '.join(ignored)}"
            )
        out = pd.DataFrame(
            {predictor.signature.output.name: predictor.predict(rows, allow_extra=True)}
        )
        if proba:
            probabilities = predictor.predict_proba(rows, allow_extra=True).add_prefix("p_")
            out = pd.concat([out, probabilities], axis=1)
        if output is not None:
            out.to_csv(output, index=False)
            console.print(f"wrote {len(out)} predictions from {predictor.version.ref} to {output}")
        elif format == "csv":
            typer.echo(out.to_csv(index=False), nl=False)
        elif format == "json":
            typer.echo(out.to_json(orient="records"))
        else:
            console.print(
                table(
                    f"{predictor.version.ref} predictions", list(out.columns), out.values.tolist()
                )
            )
