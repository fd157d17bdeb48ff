"""``modelbay models list|show|import|export|delete|archive|unarchive``, ``versions``,
``alias list|set|delete``, ``runs``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelbay.cli.common import (
    console_for,
    fmt,
    metric_line,
    open_bay,
    print_json,
    selection_line,
    table,
    when,
)

models_app = typer.Typer(
    help="List, inspect, archive and delete registered models.", no_args_is_help=True
)
alias_app = typer.Typer(
    help="Move and remove aliases (champion, challenger, ...).", no_args_is_help=True
)

__all__ = ["alias_app", "models_app", "runs", "versions"]


@models_app.command("list")
def list_models(ctx: typer.Context) -> None:
    """List models with their latest version and aliases."""
    console = console_for(ctx)
    with open_bay(ctx) as bay:
        rows = [
            [
                m.name,
                m.latest_version,
                ", ".join(f"{a}->{v}" for a, v in sorted(m.aliases.items())),
                when(m.created_at),
            ]
            for m in bay.models.list()
        ]
        console.print(table("models", ["name", "latest", "aliases", "created"], rows))


@models_app.command("import")
def import_model(
    ctx: typer.Context,
    path: Annotated[
        Path,
        typer.Argument(
            help="A skops file of a fitted scikit-learn model, an ONNX file (any inputs and "
            "outputs: images, sequences), a Hugging Face / sentence-transformers directory "
            "(safetensors weights), or a folder or tar written by `modelbay models export`."
        ),
    ],
    name: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="Model name to register it under (an export: its own by default).",
        ),
    ] = None,
    task: Annotated[
        str | None,
        typer.Option(
            metavar="TASK",
            help="For an ONNX file: tensor (default: outputs as they are), classification "
            "(label = argmax of the first [n, k] float output) or regression. For a "
            "directory: embeddings (default) or text-classification.",
        ),
    ] = None,
    classes: Annotated[
        str | None,
        typer.Option(
            metavar="LABELS",
            help="For an ONNX classifier: its labels, comma-separated, one per score column "
            "(default 0 .. k-1).",
        ),
    ] = None,
    alias: Annotated[
        list[str] | None,
        typer.Option(metavar="ALIAS", help="An alias to point at it; repeat for more."),
    ] = None,
    description: Annotated[str, typer.Option(metavar="TEXT", help="A line about it.")] = "",
) -> None:
    """Register a model made elsewhere (skops, ONNX or safetensors: pickles are refused)."""
    labels = [c.strip() for c in classes.split(",")] if classes else None
    with open_bay(ctx) as bay:
        version = bay.import_model(
            path, name, task=task, aliases=alias or (), description=description, classes=labels
        )
    console_for(ctx).print(
        f"registered {version.ref} ({version.algorithm}, {version.task}); "
        f"served by {version.runtime} ({version.runtime_reason})",
        soft_wrap=True,
    )


@models_app.command("export")
def export_model(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="name, name@alias or name:version")],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", metavar="DIR", help="A new (or empty) folder to write the export to."
        ),
    ],
) -> None:
    """Write a version as plain files: skops, ONNX or the Hugging Face directory (never a
    pickle), signature.json, metadata.json; `modelbay models import DIR` reads it back."""
    with open_bay(ctx) as bay:
        version = bay.models.get(ref)
        folder = bay.models.export(version.ref, output)
    files = sorted(p.name for p in folder.iterdir())
    console_for(ctx).print(
        f"exported {version.ref} ({version.artifact_format}) to {folder}: {', '.join(files)}",
        soft_wrap=True,
    )


@models_app.command("show")
def show(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="name, name@alias or name:version")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the version as JSON.")] = False,
) -> None:
    """Show one version: metrics, params, the runtime that serves it and why, lineage and
    signature."""
    console = console_for(ctx)
    with open_bay(ctx) as bay:
        v = bay.models.get(ref)
        if as_json:
            print_json(v.to_dict())
            return
        console.print(
            f"[bold]{v.ref}[/] {v.algorithm} ({v.task}, {v.flavor}/{v.artifact_format}, "
            f"{v.artifact_size} bytes) aliases: {', '.join(v.aliases) or '-'}"
            + (" [archived: kept for lineage, never served]" if v.archived else "")
        )
        console.print(f"  created {when(v.created_at)}  artifact sha256 {v.artifact_digest}")
        console.print(f"  cv: {metric_line(v.metrics.get('cv', {}))}")
        console.print(f"  holdout: {metric_line(v.metrics.get('holdout', {}))}")
        console.print(f"  params: {metric_line(v.params)}")
        console.print(f"  runtime: {v.runtime} ({v.runtime_reason})", soft_wrap=True, markup=False)
        if "selection" in v.metrics:
            line = f"  selection: {selection_line(v.metrics['selection'])}"
            console.print(line, soft_wrap=True, markup=False)
        ds = v.lineage.get("dataset") or {}
        parent = v.lineage.get("parent")
        console.print(
            f"  lineage: dataset {ds.get('name')}#{str(ds.get('fingerprint'))[:12]}, "
            f"run {v.lineage.get('training_run')}, parent "
            f"{parent['model'] + ':' + str(parent['version']) if parent else '-'}"
        )
        for column, why in (v.lineage.get("excluded_columns") or {}).items():
            console.print(
                f"  left out: {column} (looks like an identifier: {why})",
                soft_wrap=True,
                markup=False,
            )
        out = v.signature.output
        if v.signature.tensor_inputs:  # an imported graph: tensors, not columns
            console.print(
                table(
                    f"signature -> {out.name} ({out.task})",
                    ["tensor", "role", "datatype", "shape"],
                    [
                        [t.name, role, t.datatype, str(t.shape)]
                        for role, specs in (
                            ("input", v.signature.tensor_inputs),
                            ("output", v.signature.tensor_outputs),
                        )
                        for t in specs
                    ],
                )
            )
            return
        console.print(
            table(
                f"signature -> {out.name} ({out.task}"
                + (f", classes {out.classes})" if out.classes else ")"),
                ["input", "kind", "dtype", "nullable"],
                [[c.name, c.kind, c.dtype, c.nullable] for c in v.signature.inputs],
            )
        )


def versions(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Model name.")]) -> None:
    """List a model's versions."""
    console = console_for(ctx)
    with open_bay(ctx) as bay:
        rows = []
        for v in bay.models.versions(name):
            cv = v.metrics.get("cv", {})
            rows.append(
                [
                    v.version,
                    v.algorithm,
                    ", ".join(v.aliases),
                    "archived" if v.archived else "active",
                    metric_line(cv),
                    metric_line(v.metrics.get("holdout", {})),
                    when(v.created_at),
                ]
            )
        console.print(
            table(
                f"{name} versions",
                ["version", "algorithm", "aliases", "state", "cv", "holdout", "created"],
                rows,
            )
        )


@alias_app.command("set")
def alias_set(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias: Annotated[str, typer.Argument(help="Alias, e.g. champion.")],
    version: Annotated[str, typer.Argument(help="Version number, or @other-alias.")],
) -> None:
    """Point an alias at a version (moves it if it exists)."""
    console = console_for(ctx)
    with open_bay(ctx) as bay:
        v = bay.models.set_alias(name, alias, version)
        console.print(f"{name}@{alias} -> version {v.version}")


@alias_app.command("delete")
def alias_delete(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias: Annotated[str, typer.Argument(help="Alias to remove.")],
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Remove it even if deployments serve it (they answer 404 then)."
        ),
    ] = False,
) -> None:
    """Remove an alias (refused while a deployment serves it, unless --force)."""
    console = console_for(ctx)
    with open_bay(ctx) as bay:
        broken = bay.models.delete_alias(name, alias, force=force)
        console.print(f"removed {name}@{alias}")
        if broken:
            console_for(ctx, stderr=True).print(
                f"warning: deployment {', '.join(broken)} now "
                f"{'serves' if len(broken) == 1 else 'serve'} nothing (404) until "
                f"{name}@{alias} is set again",
                soft_wrap=True,
            )


@alias_app.command("list")
def alias_list(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="Model name.")]
) -> None:
    """List a model's aliases and the version each points at."""
    with open_bay(ctx) as bay:
        found = bay.models.aliases(name)
    rows = [[alias, f"{name}:{number}"] for alias, number in found.items()]
    console_for(ctx).print(table(f"{name} aliases", ["alias", "version"], rows))


@models_app.command("delete")
def delete(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="A version (name:N) or a whole model (name).")],
) -> None:
    """Delete a version or a model, freeing artifacts nothing else uses (refused while an
    alias or deployment needs it; archive to keep it for lineage instead)."""
    with open_bay(ctx) as bay:
        freed = bay.models.delete(ref)
    what = f"version {ref}" if ":" in ref else f"model {ref} and its versions"
    console_for(ctx).print(f"deleted {what}; {freed} artifact(s) freed")


@models_app.command("archive")
def archive(
    ctx: typer.Context, ref: Annotated[str, typer.Argument(help="A version: name:N.")]
) -> None:
    """Keep a version for lineage and audit but never serve it (refused while an alias or
    deployment needs it)."""
    with open_bay(ctx) as bay:
        v = bay.models.archive(ref)
    console_for(ctx).print(f"archived {v.ref}: kept for lineage, never served")


@models_app.command("unarchive")
def unarchive(
    ctx: typer.Context, ref: Annotated[str, typer.Argument(help="A version: name:N.")]
) -> None:
    """Make an archived version servable again."""
    with open_bay(ctx) as bay:
        v = bay.models.unarchive(ref)
    console_for(ctx).print(f"{v.ref} is active again")


def runs(
    ctx: typer.Context,
    model: Annotated[
        str | None, typer.Option(metavar="MODEL", help="Only runs for this model.")
    ] = None,
) -> None:
    """List training runs and how they ended."""
    console = console_for(ctx)
    with open_bay(ctx) as bay:
        rows = [
            [
                r.id,
                r.model_name,
                r.status,
                r.result.get("version", "-"),
                r.result.get("algorithm", "-"),
                fmt(r.result.get("cv_score")),
                len(r.trials),
                when(r.started_at),
                r.error[:60] or "-",
            ]
            for r in bay.runs.list(model_name=model)
        ]
        console.print(
            table(
                "training runs",
                [
                    "id",
                    "model",
                    "status",
                    "version",
                    "algorithm",
                    "cv",
                    "trials",
                    "started",
                    "error",
                ],
                rows,
            )
        )
