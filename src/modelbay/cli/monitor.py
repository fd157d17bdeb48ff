"""``modelbay drift``, ``quality``, ``report`` and ``alerts``: monitoring from the shell."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelbay.cli.common import console_for, fmt, open_bay, print_json, table, when

__all__ = ["alerts_app", "drift", "quality", "report"]

alerts_app = typer.Typer(
    help="Alert rules and the events they fired (alone: the newest events).",
    invoke_without_command=True,
)


@alerts_app.callback()
def alerts_default(ctx: typer.Context) -> None:
    """Alert rules and the events they fired; `modelbay alerts` alone lists the events."""
    if ctx.invoked_subcommand is None:
        alerts_events(ctx, limit=50, rule=None, as_json=False)


def drift(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Deployment (or model) name.")],
    window: Annotated[
        str, typer.Option(metavar="WINDOW", help="How far back: 90, 30m, 1h, 7d.")
    ] = "1h",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Drift of a deployment's inputs and predictions against its training data."""
    with open_bay(ctx) as bay:
        found = bay.monitor.drift(name, window)
    if as_json:
        print_json(found)
        return
    if not found.get("applicable", True):  # an imported graph: no columns to compare
        console_for(ctx).print(f"{name}: {found['reason']}", soft_wrap=True)
        return
    rows = [
        [
            f["feature"],
            f["kind"],
            f["psi"],
            f["test"],
            f["statistic"],
            f["p_value"],
            f["n_ref"],
            f["n_cur"],
            "DRIFT" if f["drifted"] else "ok",
            f["detail"],
        ]
        for f in found["features"]
    ]
    console = console_for(ctx)
    console.print(
        f"{name}: {found['model']}:{found['version']}, {found['requests']} requests, "
        f"{found['rows']} rows in the last {window}; drifted: {', '.join(found['drifted']) or 'none'}",
        soft_wrap=True,
    )
    console.print(
        table(
            "drift",
            [
                "feature",
                "kind",
                "PSI",
                "test",
                "statistic",
                "p-value",
                "n ref",
                "n now",
                "verdict",
                "detail",
            ],
            rows,
            wrap_last_only=True,
        )
    )


def quality(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Deployment (or model) name.")],
    window: Annotated[
        str, typer.Option(metavar="WINDOW", help="How far back: 90, 30m, 1h, 7d.")
    ] = "1h",
) -> None:
    """Live quality from feedback, per version, beside the offline holdout metrics."""
    with open_bay(ctx) as bay:
        found = bay.monitor.quality(name, window)
    rows = [
        [
            v,
            q["rows"],
            "  ".join(f"{k}={fmt(x)}" for k, x in q["live"].items()),
            "  ".join(f"{k}={fmt(x)}" for k, x in q["holdout"].items()),
        ]
        for v, q in found["versions"].items()
    ]
    console_for(ctx).print(
        table(f"{name}, last {window}", ["version", "rows", "live", "holdout"], rows)
    )


def report(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Deployment (or model) name.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", metavar="FILE", help="HTML file to write.")
    ] = Path("report.html"),
    window: Annotated[
        str, typer.Option(metavar="WINDOW", help="How far back: 90, 30m, 1h, 7d.")
    ] = "24h",
) -> None:
    """Write a self-contained HTML report: traffic, latency, live quality, drift over time."""
    with open_bay(ctx) as bay:
        page = bay.monitor.report(name, window)
    output.write_text(page, encoding="utf-8")
    console_for(ctx).print(f"wrote {output} ({len(page):,} bytes)")


@alerts_app.command("list")
def alerts_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Rules and where each stands (ok, pending, firing)."""
    with open_bay(ctx) as bay:
        rules = bay.monitor.rules.list()
    if as_json:
        print_json([r.to_dict() for r in rules])
        return
    rows = [
        [
            r.name,
            r.deployment,
            f"{r.metric} {r.op} {r.threshold:g}",
            r.window_s,
            r.for_s,
            r.state,
            r.value,
            r.webhook,
        ]
        for r in rules
    ]
    console_for(ctx).print(
        table(
            "alert rules",
            ["name", "deployment", "condition", "window s", "for s", "state", "value", "webhook"],
            rows,
        )
    )


@alerts_app.command("add")
def alerts_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Rule name.")],
    deployment: Annotated[
        str, typer.Option(metavar="NAME", help="Deployment (or model) it watches.")
    ],
    metric: Annotated[
        str,
        typer.Option(metavar="METRIC", help="drift.psi.max, drift.features, quality.accuracy, ..."),
    ],
    threshold: Annotated[float, typer.Option(metavar="VALUE", help="The value to compare with.")],
    op: Annotated[str, typer.Option(metavar="OP", help="> >= < <=")] = ">",
    window: Annotated[
        str, typer.Option(metavar="WINDOW", help="Window of the metric: 30m, 1h, ...")
    ] = "1h",
    for_: Annotated[
        str, typer.Option("--for", metavar="DURATION", help="How long it must hold before firing.")
    ] = "0",
    webhook: Annotated[
        str, typer.Option(metavar="URL", help="URL that receives firing/resolved events.")
    ] = "",
) -> None:
    """Create or replace a rule; prints the webhook signing secret once."""
    from modelbay.monitor.service import parse_window

    for_s = 0.0 if for_ in ("0", "") else parse_window(for_)
    with open_bay(ctx) as bay:
        rule, secret = bay.monitor.rules.put(
            name,
            deployment,
            metric,
            op,
            threshold,
            window_s=parse_window(window),
            for_s=for_s,
            webhook=webhook,
        )
    console_for(ctx).print(
        f"rule {rule.name}: {rule.metric} {rule.op} {rule.threshold:g} on {rule.deployment}"
    )
    if webhook:
        console_for(ctx).print("webhook signing secret (X-Modelbay-Signature: sha256=HMAC):")
        typer.echo(secret)


@alerts_app.command("delete")
def alerts_delete(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="Rule name.")]
) -> None:
    """Remove a rule."""
    with open_bay(ctx) as bay:
        bay.monitor.rules.delete(name)
    console_for(ctx).print(f"removed rule {name}")


@alerts_app.command("events")
def alerts_events(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(metavar="N", help="How many, newest first.")] = 50,
    rule: Annotated[str | None, typer.Option(metavar="RULE", help="Only this rule.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Events: rules that fired or resolved, and whether their webhook got them."""
    with open_bay(ctx) as bay:
        events = bay.monitor.rules.events(limit, rule)
    if as_json:
        print_json(list(events))
        return
    rows = [
        [
            when(e["at"]),
            e["rule"],
            e["state"],
            e["value"],
            e["delivered"],
            e["attempts"],
            e["detail"],
        ]
        for e in events
    ]
    console_for(ctx).print(
        table(
            "alert events",
            ["at", "rule", "state", "value", "delivered", "attempts", "detail"],
            rows,
        )
    )
