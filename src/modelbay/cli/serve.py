"""``modelbay serve``, ``deploy``, ``deployments``, ``undeploy``."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated

import typer

from modelbay.cli.common import console_for, open_bay, table
from modelbay.errors import ConfigError
from modelbay.registry.records import DEFAULT_MAX_BATCH

__all__ = ["deploy", "deployments", "serve", "undeploy"]


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(metavar="ADDRESS", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="Port for HTTP.")] = 8000,
    workers: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            help="Server processes (default: MODELBAY_WORKERS, else one per usable CPU, at most 8).",
        ),
    ] = None,
    grpc_port: Annotated[
        int,
        typer.Option(
            metavar="PORT",
            help="Also serve Open Inference Protocol gRPC on this port (extra grpc).",
        ),
    ] = 0,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Serve without API keys (loopback addresses only).")
    ] = False,
    ssl_certfile: Annotated[
        Path | None, typer.Option(metavar="FILE", help="TLS certificate (PEM).")
    ] = None,
    ssl_keyfile: Annotated[
        Path | None, typer.Option(metavar="FILE", help="TLS private key (PEM).")
    ] = None,
    log_level: Annotated[str, typer.Option(metavar="LEVEL", help="uvicorn log level.")] = "warning",
) -> None:
    """Serve every model of the registry over HTTP (Open Inference Protocol v2, /v1, /api).

    API keys are required: the first start creates an admin key and prints it once
    (or registers MODELBAY_ADMIN_KEY). --no-auth is refused unless the server
    binds to a loopback address.
    """
    # the one place the CLI reaches into the HTTP face: this command runs it
    from modelbay.api.host import serve as run

    console = console_for(ctx)
    options: dict[str, object] = {
        "host": host,
        "port": port,
        "auth": not no_auth,
        "grpc_port": grpc_port,
        "grpc_host": host,
        "ssl_certfile": ssl_certfile,
        "ssl_keyfile": ssl_keyfile,
        "log_level": log_level,
    }
    if workers is not None:
        options["workers"] = workers
    if grpc_port and importlib.util.find_spec("grpc") is None:
        raise ConfigError("gRPC serving needs the grpc extra: pip install 'modelbay[grpc]'")
    with open_bay(ctx) as bay:
        server = bay.serve(**options)

        def listening() -> None:
            """Said once the ports listen: a port in use fails before any of it."""
            made = server.bootstrap()
            if made is not None:
                console.print("created the admin API key; store it now, it is not shown again:")
                typer.echo(made)
            about = server.describe()
            auth = "API keys required" if about["auth"] else "without API keys"
            n = about["workers"]
            console.print(
                f"modelbay serving on {about['url']} "
                f"({auth}; {n} worker{'s' if n > 1 else ''}; docs at /docs)"
            )

        run(server, on_listening=listening)


def deploy(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    model: Annotated[
        str, typer.Option(metavar="REF", help="Model reference: churn, churn@champion, churn:3.")
    ],
    max_batch: Annotated[
        int, typer.Option(metavar="ROWS", help="Rows per merged model call.")
    ] = DEFAULT_MAX_BATCH,
    max_wait_ms: Annotated[
        float, typer.Option(metavar="MS", help="Longest a request waits for others.")
    ] = 2.0,
    runtime: Annotated[
        str | None, typer.Option(metavar="RUNTIME", help="Force onnx or sklearn.")
    ] = None,
) -> None:
    """Create or edit a deployment; running servers switch to it without a restart."""
    console = console_for(ctx)
    with open_bay(ctx) as bay:
        version = bay.models.servable(model)
        d = bay.deployments.put(
            name,
            model,
            max_batch=max_batch,
            max_wait_ms=max_wait_ms,
            config={"runtime": runtime} if runtime else {},
        )
        console.print(
            f"deployment {d.name} -> {d.model} (now {version.ref}, "
            f"{version.serving.get('runtime', 'sklearn')}), max batch {d.max_batch}, "
            f"max wait {d.max_wait_ms} ms"
        )


def deployments(ctx: typer.Context) -> None:
    """List deployments and what each serves now, broken ones with why (every model is also
    served under its own name)."""
    console = console_for(ctx)
    with open_bay(ctx) as bay:
        rows = [
            [
                st.deployment.name,
                st.deployment.model,
                st.version.ref if st.version else "-",
                st.deployment.max_batch,
                st.deployment.max_wait_ms,
                st.deployment.config.get("runtime", "auto"),
                st.state,
            ]
            for st in bay.deployments.states()
        ]
        console.print(
            table(
                "deployments",
                ["name", "model", "now", "max batch", "max wait ms", "runtime", "state"],
                rows,
                wrap_last_only=True,
            )
        )


def undeploy(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    force: Annotated[
        bool, typer.Option("--force", help="Remove it even if alert rules watch it.")
    ] = False,
) -> None:
    """Remove a deployment (refused while alert rules watch it, unless --force)."""
    with open_bay(ctx) as bay:
        rules = bay.deployments.delete(name, force=force)
        console_for(ctx).print(f"removed deployment {name}")
        if rules:
            console_for(ctx, stderr=True).print(
                f"warning: alert rule {', '.join(rules)} "
                f"{'watches' if len(rules) == 1 else 'watch'} a deployment that is gone",
                soft_wrap=True,
            )
