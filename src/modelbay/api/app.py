"""The HTTP face: ``create_app(server)`` adapts the serving core to HTTP (and gRPC beside it)."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import metadata
from typing import Any

from fastapi import FastAPI

from modelbay.api import embeddings, errors, management, monitoring, v1, v2
from modelbay.api.front import Front, Limits
from modelbay.server import Server
from modelbay.settings import Settings

__all__ = ["create_app"]


def create_app(server: Server | Settings | None = None) -> Front:
    """The HTTP face of ``server`` (or of a :class:`Server` over ``settings``): an ASGI app;
    ``.server`` is the core it adapts, ``.api`` the FastAPI app behind the front.

    API keys are required unless the settings turn auth off (on loopback only). Nothing
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
    app = FastAPI(
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
