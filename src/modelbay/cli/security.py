"""``modelbay keys create|list|show|revoke|rotate`` and ``modelbay audit``."""

from __future__ import annotations

from typing import Annotated

import typer

from modelbay.cli.common import console_for, fmt, open_bay, print_json, table, when

__all__ = ["audit", "keys_app"]

keys_app = typer.Typer(help="API keys for servers: scopes, models, limits.", no_args_is_help=True)


def _limits(rate: float | None, quota: int | None, period: str) -> str:
    parts = []
    if rate is not None:
        parts.append(f"{rate:g}/s")
    if quota is not None:
        parts.append(f"{quota}/{period}")
    return ", ".join(parts) or "-"


@keys_app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(metavar="NAME", help="Who holds the key (ci, fraud-team).")],
    scopes: Annotated[
        str,
        typer.Option(
            metavar="SCOPES",
            help="Comma-separated: predict, read, deploy, train, export, admin.",
        ),
    ] = "predict",
    models: Annotated[
        str | None,
        typer.Option(
            metavar="MODELS", help="Comma-separated models the key may see (default: all)."
        ),
    ] = None,
    rate: Annotated[
        str | None, typer.Option(metavar="RATE", help="Rate limit: 50/s, 600/min.")
    ] = None,
    burst: Annotated[
        int | None, typer.Option(metavar="N", help="Bucket size (default: 1 s of rate).")
    ] = None,
    quota: Annotated[
        str | None, typer.Option(metavar="QUOTA", help="Quota: 1000000/month, 5000/day.")
    ] = None,
    expires: Annotated[
        str | None, typer.Option(metavar="WHEN", help="90d, 12h, or an ISO date.")
    ] = None,
) -> None:
    """Create a key and print it once: only a hash of it is kept."""
    with open_bay(ctx) as bay:
        key, token = bay.keys.create(
            name, scopes, models=models, rate=rate, burst=burst, quota=quota, expires=expires
        )
    console = console_for(ctx)
    for warning in key.warnings:
        console_for(ctx, stderr=True).print(f"[bold yellow]warning:[/] {warning}", soft_wrap=True)
    console.print(f"key {key.id} ({key.name}): scopes {', '.join(key.scopes)}", soft_wrap=True)
    console.print("store it now, it is not shown again:", soft_wrap=True)
    typer.echo(token)


@keys_app.command("list")
def list_keys(
    ctx: typer.Context,
    revoked: Annotated[
        bool, typer.Option("--all", help="Include revoked and expired keys, with their dates.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List keys (never the keys themselves), with their request counts."""
    with open_bay(ctx) as bay:
        found = bay.keys.list(include_inactive=revoked)
    if as_json:
        print_json([k.to_dict() for k in found])
        return
    rows = [
        [
            k.id,
            k.name,
            ",".join(k.scopes),
            ",".join(k.models) if k.models is not None else "*",
            _limits(k.rate, k.quota, k.quota_period),
            when(k.expires_at),
            "active" if k.active else ("revoked" if k.revoked_at else "expired"),
            sum(k.usage.values()),
            *(
                [
                    when(k.created_at),
                    when(k.revoked_at),
                ]
                if revoked
                else []
            ),
        ]
        for k in found
    ]
    columns = ["id", "name", "scopes", "models", "limits", "expires", "state", "requests"]
    console_for(ctx).print(
        table(
            "keys" if not revoked else "keys (active, revoked and expired)",
            columns + (["created", "revoked"] if revoked else []),
            rows,
        )
    )


@keys_app.command("revoke")
def revoke(ctx: typer.Context, key: Annotated[str, typer.Argument(help="Key id or name.")]) -> None:
    """Revoke a key; running servers refuse it within a second."""
    with open_bay(ctx) as bay:
        k = bay.keys.revoke(key)
    console_for(ctx).print(f"revoked key {k.id} ({k.name})")


@keys_app.command("rotate")
def rotate(ctx: typer.Context, key: Annotated[str, typer.Argument(help="Key id or name.")]) -> None:
    """Revoke a key and print its successor (same name, scopes, models and limits)."""
    with open_bay(ctx) as bay:
        k, token = bay.keys.rotate(key)
    console_for(ctx).print(f"key {k.id} ({k.name}) replaces the old one; store it now:")
    typer.echo(token)


def audit(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(metavar="N", help="How many entries, newest first.")] = 50,
    action: Annotated[
        str | None, typer.Option(metavar="ACTION", help="Only this action (alias.set, ...).")
    ] = None,
    actor: Annotated[
        str | None, typer.Option(metavar="NAME", help="Only this key name or local user.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """The audit log: who trained, registered, moved, deployed or changed keys, and how it ended."""
    with open_bay(ctx) as bay:
        found = bay.audit.list(limit=limit, action=action, who=actor)
    if as_json:
        print_json([e.to_dict() for e in found])
        return
    rows = [[when(e.at), e.actor, e.action, e.target, e.outcome, fmt(e.detail)] for e in found]
    console_for(ctx).print(
        table(
            "audit",
            ["at", "actor", "action", "target", "outcome", "detail"],
            rows,
            wrap_last_only=True,
        )
    )
