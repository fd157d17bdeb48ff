"""The management API under ``/api``: models, versions, aliases and deployments."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from modelbay.registry.home import Registry
from modelbay.registry.records import Deployment
from modelbay.serve.manager import DeploymentManager

__all__ = ["router"]


class DeploymentSpec(BaseModel):
    model: str = Field(description="A model reference: churn, churn@champion or churn:3")
    max_batch: int = Field(64, ge=1, le=100_000, description="Rows per merged model call")
    max_wait_ms: float = Field(
        2.0, ge=0, le=10_000, description="Longest a request waits for others"
    )
    runtime: str | None = Field(
        None, description="Force 'onnx' or 'sklearn' (default: the fastest that passed)"
    )


class AliasSpec(BaseModel):
    version: int = Field(ge=1)


def deployment_view(d: Deployment, manager: DeploymentManager) -> dict[str, Any]:
    loaded = [s for s in manager.loaded() if s.name == d.name and not s.pinned]
    return {
        "name": d.name,
        "model": d.model,
        "max_batch": d.max_batch,
        "max_wait_ms": d.max_wait_ms,
        "runtime": d.config.get("runtime"),
        "explicit": d.explicit,
        "serving": {
            "version": loaded[0].version.ref,
            "runtime": loaded[0].runtime.name,
            "load_s": loaded[0].load_s,
            "warmup_s": loaded[0].warmup_s,
        }
        if loaded
        else None,
    }


def router(registry: Registry, manager: DeploymentManager) -> APIRouter:
    r = APIRouter(prefix="/api", tags=["management"])

    @r.get("/models")
    async def list_models() -> list[dict[str, Any]]:
        models = await asyncio.to_thread(registry.models.list)
        return [
            {
                "name": m.name,
                "latest_version": m.latest_version,
                "aliases": m.aliases,
                "created_at": m.created_at.isoformat(),
            }
            for m in models
        ]

    @r.get("/models/{name}/versions")
    async def list_versions(name: str) -> list[dict[str, Any]]:
        return [v.to_dict() for v in await asyncio.to_thread(registry.models.versions, name)]

    @r.get("/models/{name}/versions/{version}")
    async def get_version(name: str, version: int) -> dict[str, Any]:
        found = await asyncio.to_thread(registry.models.get, f"{name}:{max(version, 0)}")
        return found.to_dict()

    @r.put("/models/{name}/aliases/{alias}")
    async def set_alias(name: str, alias: str, spec: AliasSpec) -> dict[str, Any]:
        v = await asyncio.to_thread(registry.models.set_alias, name, alias, spec.version)
        return v.to_dict()

    @r.delete("/models/{name}/aliases/{alias}", status_code=204)
    async def delete_alias(name: str, alias: str) -> None:
        await asyncio.to_thread(registry.models.delete_alias, name, alias)

    @r.get("/deployments")
    async def list_deployments() -> list[dict[str, Any]]:
        found = await asyncio.to_thread(registry.deployments.list)
        return [deployment_view(d, manager) for d in found]

    @r.get("/deployments/{name}")
    async def get_deployment(name: str) -> dict[str, Any]:
        return deployment_view(await asyncio.to_thread(manager.resolve, name), manager)

    @r.put("/deployments/{name}")
    async def put_deployment(name: str, spec: DeploymentSpec) -> dict[str, Any]:
        await asyncio.to_thread(registry.models.get, spec.model)  # must resolve now
        config = {"runtime": spec.runtime} if spec.runtime else {}
        d = await asyncio.to_thread(
            lambda: registry.deployments.put(
                name,
                spec.model,
                max_batch=spec.max_batch,
                max_wait_ms=spec.max_wait_ms,
                config=config,
            )
        )
        await manager.refresh()
        return deployment_view(d, manager)

    @r.delete("/deployments/{name}", status_code=204)
    async def delete_deployment(name: str) -> None:
        await asyncio.to_thread(registry.deployments.delete, name)
        await manager.refresh()

    return r
