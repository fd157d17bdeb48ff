"""The HTTP face: ``create_app(server)`` adapts the serving core to HTTP (and gRPC beside it)."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import metadata
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from modelbay.api import embeddings, errors, management, monitoring, v1, v2
from modelbay.api.front import Front, Limits
from modelbay.server import Server
from modelbay.settings import Settings

__all__ = ["DOCS_ASSETS", "create_app"]

# where /docs loads Swagger UI's script and styles from: this server, not a CDN, so the docs
# work on a machine without internet (the files come with the fastapi-offline package)
DOCS_ASSETS = "/docs/static"


def create_app(server: Server | Settings | None = None) -> Front:
    """The HTTP face of ``server`` (or of a :class:`Server` over ``settings``): an ASGI app;
    ``.server`` is the core it adapts, ``.api`` the FastAPI app behind the front.

    API keys are required unless the settings turn auth off (on loopback only), except on
    the health routes and the API's description (``/openapi.json``, ``/docs`` and its scripts
    under ``/docs/static``): it names no model or key, and a client reads it to learn the API.
    ``/docs`` needs no internet: its scripts are served here. There is no ``/redoc``: ReDoc
    loads its logo from its vendor's site even when its script is local. Nothing
    starts until the app does (its lifespan starts the server, and gRPC beside it when
    ``grpc_port`` is set).
    """
    core = server if isinstance(server, Server) else Server(server)
    s = core.settings

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await core.start()
        grpc_server = None
        if s.grpc_port:
            from modelbay.api.grpc import build_grpc_server

            grpc_server = build_grpc_server(core, s.grpc_host, s.grpc_port)
            await grpc_server.start()
        core.settle()
        try:
            yield
        finally:
            if grpc_server is not None:
                await grpc_server.stop(grace=2)
            await core.stop()

    try:
        version = metadata.version("modelbay")
    except metadata.PackageNotFoundError:  # pragma: no cover
        version = "unknown"
    app = FastAPIOffline(
        static_url=DOCS_ASSETS,
        redoc_url=None,
        title="modelbay",
        version=version,
        description="Open Inference Protocol v2 over REST, a convenience JSON route, "
        "and the management API of a modelbay registry.",
        lifespan=lifespan,
        responses=errors.ERROR_RESPONSES,
        **_no_native_telemetry(),
    )
    errors.install(app)
    max_upload = int(s.max_upload_mb * 2**20)
    app.include_router(v2.router(core.plane))
    app.include_router(v1.router())
    app.include_router(embeddings.router())
    app.include_router(management.router(core, max_upload))
    app.include_router(monitoring.router(core.monitor, core.metrics, core.admission))
    limits = Limits(
        max_body=int(s.max_body_mb * 2**20),
        max_upload=max_upload,
        max_json_depth=s.max_json_depth,
        timeout_s=s.request_timeout_s,
    )
    return Front(app, core, limits)


def _no_native_telemetry() -> dict[str, Any]:
    """FastAPI >= 0.165 looks up OpenTelemetry providers in os.environ on every request
    (about a fifth of a 1-row inference here); modelbay keeps its own metrics."""
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters:
        return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    return {}
