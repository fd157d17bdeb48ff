"""The command-line face: ``modelbay …``. Commands parse, call the core ``Bay`` and print."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from modelbay.cli.common import console_for, open_bay
from modelbay.cli.data import app as data_app
from modelbay.cli.errors import ModelbayGroup
from modelbay.cli.models import alias_app, models_app, runs, versions
from modelbay.cli.monitor import alerts_app, drift, quality, report
from modelbay.cli.optimize import optimize
from modelbay.cli.predict import predict
from modelbay.cli.quickstart import quickstart
from modelbay.cli.security import audit, keys_app
from modelbay.cli.serve import deploy, deployments, serve, undeploy
from modelbay.cli.train import train

__all__ = ["build_cli", "main"]


def build_cli() -> typer.Typer:
    app = typer.Typer(
        cls=ModelbayGroup,
        help="modelbay: data to a trained, versioned, served model.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )

    @app.callback()
    def root(
        ctx: typer.Context,
        home: Annotated[
            Path | None,
            typer.Option(
                metavar="DIR", help="modelbay home (default: $MODELBAY_HOME or ~/.modelbay)."
            ),
        ] = None,
        version: Annotated[
            bool,
            typer.Option(
                "--version",
                help="Print modelbay's version and exit.",
                is_eager=True,
                callback=_print_version,
            ),
        ] = False,
    ) -> None:
        ctx.obj = {
            "home": home,
            "console": Console(highlight=False),
            "stderr": Console(highlight=False, stderr=True),
        }

    app.add_typer(data_app, name="data")
    app.add_typer(models_app, name="models")
    app.add_typer(alias_app, name="alias")
    app.add_typer(keys_app, name="keys")
    app.command()(audit)
    app.add_typer(alerts_app, name="alerts")
    app.command()(drift)
    app.command()(quality)
    app.command()(report)
    app.command()(train)
    app.command()(optimize)
    app.command()(versions)
    app.command()(predict)
    app.command()(runs)
    app.command()(quickstart)
    app.command()(serve)
    app.command()(deploy)
    app.command()(deployments)
    app.command()(undeploy)

    @app.command()
    def keygen() -> None:
        """Print a new random 32-byte key, base64: a master key (MODELBAY_MASTER_KEY), or an
        admin API key for a server to register on its first start (MODELBAY_ADMIN_KEY)."""
        from modelbay.registry.keys import generate_master_key

        typer.echo(generate_master_key())

    @app.command()
    def gc(ctx: typer.Context) -> None:
        """Remove artifacts no dataset or version refers to (left by a crash)."""
        with open_bay(ctx) as bay:
            removed = bay.gc()
            console_for(ctx).print(f"removed {len(removed)} unreferenced artifact(s)")

    return app


def _print_version(value: bool) -> None:
    if value:
        from modelbay import __version__

        typer.echo(f"modelbay {__version__}")
        raise typer.Exit()


def main() -> None:
    build_cli()()
