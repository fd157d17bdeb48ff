"""The HTTP face: ``create_app(settings)`` builds the FastAPI app over a registry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import metadata

from fastapi import FastAPI

from modelbay.api import errors, management, v1, v2
from modelbay.registry.home import Registry
from modelbay.serve.dataplane import DataPlane
from modelbay.serve.manager import DeploymentManager
from modelbay.settings import Settings

__all__ = ["create_app", "create_app_from_env"]


def create_app(settings: Settings | None = None, *, registry: Registry | None = None) -> FastAPI:
    """An app serving every model of the registry. Nothing starts until the app does."""
    own = registry is None
    registry = registry or Registry(settings or Settings())
    s = registry.settings
    manager = DeploymentManager(
        registry.db,
        registry.models,
        registry.deployments,
        max_loaded=s.max_loaded_models,
        max_bytes=int(s.max_model_memory_mb * 2**20),
        poll_s=s.poll_interval_s,
        threads=s.model_threads,
    )
    plane = DataPlane(manager)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await manager.start()
        try:
            yield
        finally:
            await manager.stop()
            if own:
                registry.close()

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
    )
    app.state.registry = registry
    app.state.manager = manager
    app.state.plane = plane
    errors.install(app)
    max_body = int(s.max_body_mb * 2**20)
    app.include_router(v2.router(plane, max_body))
    app.include_router(v1.router(plane, max_body))
    app.include_router(management.router(registry, manager))
    return app


def create_app_from_env() -> FastAPI:
    """The factory uvicorn's workers call (``modelbay serve``): settings from MODELBAY_*."""
    return create_app(Settings())
