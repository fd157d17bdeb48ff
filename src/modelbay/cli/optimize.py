"""``modelbay optimize REF --method …``: a measured, gated new version, or why not."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from modelbay.cli.common import console_for, fmt, open_bay, print_json, table

__all__ = ["GATE_FAILED", "optimize"]

GATE_FAILED = 11  # the candidate lost too much quality and was not registered


def optimize(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="name, name@alias or name:version to optimise")],
    method: Annotated[
        str | None,
        typer.Option(
            metavar="METHOD",
            help="onnx, int8, int8-per-tensor, bf16 or prune (scikit-learn: onnx). "
            "Default: the one that fits the model, int8 for a transformer, onnx for scikit-learn.",
        ),
    ] = None,
    keep_layers: Annotated[
        int | None,
        typer.Option(metavar="N", help="prune: encoder layers to keep (default two thirds)."),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            metavar="DATA", help="Held-out text to gate on: a dataset or .csv/.parquet file."
        ),
    ] = None,
    text: Annotated[
        str | None, typer.Option(metavar="COLUMN", help="The data's text column.")
    ] = None,
    target: Annotated[
        str | None, typer.Option(metavar="COLUMN", help="The data's label column.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Register even if the gate fails.")] = False,
    alias: Annotated[
        list[str] | None,
        typer.Option(metavar="ALIAS", help="An alias for the new version; repeat for more."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Make an optimised version, measured against the original; refused if it loses quality.

    Exits 0 having registered a version, or having had nothing to do (the version is
    already what the method makes: the desired state holds, so a script can run it again);
    11 when the candidate failed its gate or could not be made.
    """
    console = console_for(ctx)
    with open_bay(ctx) as bay:
        source: Any = Path(data) if data and Path(data).suffix and Path(data).exists() else data
        outcome = bay.optimize(
            ref,
            method,
            force=force,
            data=source,
            text=text,
            target=target,
            keep_layers=keep_layers,
            aliases=alias or (),
        )
    if as_json:
        print_json(outcome.to_dict())
    else:
        gate = outcome.gate
        rows = [
            [k, fmt(v), fmt(gate.get("thresholds", {}).get(k, ""))]
            for k, v in gate.get("metrics", {}).items()
        ]
        if "speedup" in gate:
            rows += [
                ["speed-up", f"{gate['speedup']:.2f}x", ""],
                ["size", f"{gate['size_ratio']:.2f}x", ""],
            ]
        if rows:
            console.print(
                table(f"{outcome.method} of {outcome.parent}", ["measure", "value", "gate"], rows)
            )
        if outcome.noop:
            console.print(f"{outcome.reason}; nothing registered", soft_wrap=True, markup=False)
        elif outcome.registered:
            how = " (forced past a failed gate)" if outcome.forced else ""
            console.print(f"registered {outcome.registered}{how}", soft_wrap=True)
        else:
            console.print(f"not registered: {outcome.reason}", soft_wrap=True)
    if not outcome.registered and not outcome.noop:
        raise typer.Exit(GATE_FAILED)
