"""``modelbay serve``, ``deploy``, ``deployments``, ``undeploy``."""

from __future__ import annotations

import ipaddress
import os
import shutil
from pathlib import Path
from typing import Annotated

import typer

from modelbay.cli.common import console_for, open_bay, table
from modelbay.errors import ValidationError
from modelbay.registry.records import DEFAULT_MAX_BATCH
from modelbay.settings import Settings, auto_workers

__all__ = ["deploy", "deployments", "serve", "undeploy"]


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port for HTTP.")] = 8000,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Server processes [default: MODELBAY_WORKERS, else one per usable CPU, at most 8]."
        ),
    ] = None,
    grpc_port: Annotated[
        int, typer.Option(help="Also serve Open Inference Protocol gRPC on this port (extra grpc).")
    ] = 0,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Serve without API keys (loopback addresses only).")
    ] = False,
    ssl_certfile: Annotated[Path | None, typer.Option(help="TLS certificate (PEM).")] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option(help="TLS private key (PEM).")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
) -> None:
    """Serve every model of the registry over HTTP (Open Inference Protocol v2, /v1, /api).

    API keys are required: the first start creates an admin key and prints it once
    (or registers MODELBAY_ADMIN_KEY). ``--no-auth`` is refused unless the server
    binds to a loopback address.
    """
    import uvicorn

    console = console_for(ctx)
    home = (ctx.find_root().obj or {}).get("home")
    if home is not None:
        os.environ["MODELBAY_HOME"] = str(home)  # worker processes read settings from MODELBAY_*
    if no_auth and not _loopback(host):
        raise ValidationError(
            f"--no-auth serves every model to anyone who can reach {host}; it is allowed only "
            "on a loopback address (127.0.0.1, ::1, localhost)"
        )
    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise ValidationError("TLS needs both --ssl-certfile and --ssl-keyfile")
    if workers is None:
        workers = Settings().workers
    if workers < 0:
        raise ValidationError(
            f"{workers} workers (--workers or MODELBAY_WORKERS): give a number of processes, "
            "or 0 for one per CPU"
        )
    if workers == 0:
        workers = auto_workers()
    os.environ["MODELBAY_SERVE_WORKERS"] = str(workers)  # each worker's share of the CPUs
    os.environ["MODELBAY_AUTH"] = "false" if no_auth else "true"
    _metrics_dir(Path(os.environ.get("MODELBAY_HOME") or Settings().home), port)
    if not no_auth:
        with open_bay(ctx) as bay:
            admin = bay.settings.admin_key
            made = bay.keys.ensure_admin(admin.get_secret_value() if admin else None)
        if made is not None:
            console.print("created the admin API key; store it now, it is not shown again:")
            typer.echo(made)
    if grpc_port:
        from modelbay.serve.grpc_messages import messages

        messages()  # a missing grpc extra fails here, with the install line, not in a worker
        os.environ["MODELBAY_GRPC_PORT"] = str(grpc_port)
        os.environ["MODELBAY_GRPC_HOST"] = host
    scheme = "https" if ssl_certfile else "http"
    auth = "without API keys" if no_auth else "API keys required"
    console.print(
        f"modelbay serving on {scheme}://{host}:{port} "
        f"({auth}; {workers} worker{'s' if workers > 1 else ''}; docs at /docs)"
    )
    uvicorn.run(
        "modelbay.api.app:create_app_from_env",
        factory=True,
        http="modelbay.api.protocol:InferenceProtocol",  # inference below ASGI
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,
        ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
        ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
    )


def _metrics_dir(home: Path, port: int) -> None:
    """A fresh folder where the workers publish their metrics, so /metrics adds up every
    worker; set before any worker starts."""
    folder = home.expanduser() / "run" / f"metrics-{port}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ["MODELBAY_METRICS_DIR"] = str(folder)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def deploy(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    model: Annotated[str, typer.Option(help="Model reference: churn, churn@champion, churn:3.")],
    max_batch: Annotated[int, typer.Option(help="Rows per merged model call.")] = DEFAULT_MAX_BATCH,
    max_wait_ms: Annotated[float, typer.Option(help="Longest a request waits for others.")] = 2.0,
    runtime: Annotated[str | None, typer.Option(help="Force onnx or sklearn.")] = None,
) -> None:
    """Create or edit a deployment; running servers switch to it without a restart."""
    console = console_for(ctx)
    with open_bay(ctx) as bay:
        version = bay.models.get(model)
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
    """List deployments (every model is also served under its own name)."""
    console = console_for(ctx)
    with open_bay(ctx) as bay:
        rows = [
            [
                d.name,
                d.model,
                bay.models.get(d.model).ref,
                d.max_batch,
                d.max_wait_ms,
                d.config.get("runtime", "auto"),
            ]
            for d in bay.deployments.list()
        ]
        console.print(
            table(
                "deployments", ["name", "model", "now", "max batch", "max wait ms", "runtime"], rows
            )
        )


def undeploy(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="Endpoint name.")]
) -> None:
    """Remove a deployment."""
    with open_bay(ctx) as bay:
        bay.deployments.delete(name)
        console_for(ctx).print(f"removed deployment {name}")
