"""The management API under ``/api``: models, versions, aliases, datasets, deployments,
keys, audit.

Which key may call what is declared in :mod:`modelbay.api.access` and enforced by
the front; here, lists show only what the calling key's model allow-list names.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from modelbay.api.body import read_body
from modelbay.errors import NotFoundError, ValidationError
from modelbay.registry.records import DEFAULT_MAX_BATCH, Deployment, DeploymentState
from modelbay.registry.refs import ModelRef
from modelbay.security.gate import current_principal
from modelbay.security.notation import SCOPES
from modelbay.serve.manager import DeploymentManager
from modelbay.server import Server

__all__ = ["router"]

TAR = "application/x-tar"


class DeploymentSpec(BaseModel):
    model: str = Field(description="A model reference: churn, churn@champion or churn:3")
    max_batch: int = Field(
        DEFAULT_MAX_BATCH, ge=1, le=100_000, description="Rows per merged model call"
    )
    max_wait_ms: float = Field(
        2.0, ge=0, le=10_000, description="Longest a request waits for others"
    )
    runtime: str | None = Field(
        None, description="Force 'onnx' or 'sklearn' (default: the fastest that passed)"
    )


class AliasSpec(BaseModel):
    version: int = Field(ge=1)


class KeySpec(BaseModel):
    name: str = Field(description="A name for the key's holder, e.g. ci or fraud-team")
    scopes: list[str] = Field(["predict"], description=f"Some of: {', '.join(SCOPES)}")
    models: list[str] | None = Field(None, description="Models the key may see (default: all)")
    rate: str | None = Field(None, description="Rate limit, e.g. 50/s or 600/min")
    burst: int | None = Field(None, ge=1, description="Bucket size (default: one second's rate)")
    quota: str | None = Field(None, description="Quota, e.g. 1000000/month or 5000/day")
    expires: str | None = Field(None, description="90d, 12h, or an ISO date")


def _visible(*names: str) -> bool:
    return current_principal.get().sees(*names)


def _model_name(ref: str) -> str:
    return ModelRef.parse(ref).name


def deployment_view(
    d: Deployment, manager: DeploymentManager, state: DeploymentState | None = None
) -> dict[str, Any]:
    loaded = [s for s in manager.loaded() if s.name == d.name and not s.pinned]
    resolved = (
        {
            "now": state.version.ref if state.version else None,
            "state": state.state,  # ok, or broken: why
        }
        if state is not None
        else {}
    )
    return {
        **resolved,
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


def _chunks(spool: IO[bytes], size: int = 1 << 20) -> Iterator[bytes]:
    """An export archive's bytes, a MiB at a time; the spool file is gone once closed."""
    with spool:
        while chunk := spool.read(size):
            yield chunk


def router(server: Server, max_upload: int) -> APIRouter:
    r = APIRouter(prefix="/api", tags=["management"])
    registry, manager, keys = server.registry, server.manager, server.keys

    @r.get("/models")
    async def list_models() -> list[dict[str, Any]]:
        models = [m for m in await asyncio.to_thread(registry.models.list) if _visible(m.name)]
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

    @r.post(
        "/models/{name}/versions",
        status_code=201,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                },
            }
        },
    )
    async def upload_version(
        request: Request,
        name: str,
        alias: Annotated[list[str] | None, Query(description="Aliases to point at it")] = None,
        description: str = "",
        task: Annotated[
            str | None,
            Query(description="An ONNX file's: tensor (default), classification or regression"),
        ] = None,
        classes: Annotated[
            str | None, Query(description="An ONNX classifier's labels, comma-separated")
        ] = None,
    ) -> dict[str, Any]:
        """Register a fitted scikit-learn model from a skops file (pickles are refused), an
        ONNX graph as it is (its own tensors in and out), or the tar of an export
        (``GET /api/models/{name}/export``)."""
        data = await read_body(request, max_upload)
        labels = [c.strip() for c in classes.split(",")] if classes else None
        version = await asyncio.to_thread(
            lambda: server.import_model(
                data,
                name,
                aliases=tuple(alias or ()),
                description=description,
                task=task,
                classes=labels,
            )
        )
        return version.to_dict()

    @r.get(
        "/models/{name}/export",
        response_class=StreamingResponse,
        responses={200: {"content": {TAR: {"schema": {"type": "string", "format": "binary"}}}}},
    )
    async def export_model(
        name: str,
        version: Annotated[int | None, Query(ge=1, description="A version number")] = None,
        alias: Annotated[str | None, Query(description="An alias (default: champion)")] = None,
    ) -> StreamingResponse:
        """A version's export as a tar: its artifacts (skops, ONNX or the Hugging Face
        directory, never a pickle), signature.json, metadata.json and a manifest with each
        file's sha256. `modelbay models import FILE.tar` (or uploading it here) reads it back."""
        if version is not None and alias is not None:
            raise ValidationError("give a version or an alias, not both")
        ref = f"{name}:{version}" if version else f"{name}@{alias}" if alias else name
        spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the stream, or below
        try:
            found = await asyncio.to_thread(registry.models.export_archive, ref, spool)
            spool.seek(0)
        except BaseException:
            spool.close()
            raise
        filename = f"{found.model}-{found.version}.tar"
        return StreamingResponse(
            _chunks(spool),
            media_type=TAR,
            headers={"content-disposition": f'attachment; filename="{filename}"'},
        )

    @r.delete("/models/{name}")
    async def delete_model(name: str) -> dict[str, Any]:
        """Delete a model with all its versions (refused while a deployment serves it)."""
        freed = await asyncio.to_thread(registry.models.delete, name)
        await manager.refresh()
        return {"deleted": name, "artifacts_freed": freed}

    @r.delete("/models/{name}/versions/{version}")
    async def delete_version(name: str, version: int) -> dict[str, Any]:
        """Delete one version (refused while an alias or a deployment needs it)."""
        ref = f"{name}:{max(version, 0)}"
        freed = await asyncio.to_thread(registry.models.delete, ref)
        await manager.refresh()
        return {"deleted": ref, "artifacts_freed": freed}

    @r.post("/models/{name}/versions/{version}/archive")
    async def archive_version(name: str, version: int) -> dict[str, Any]:
        """Keep a version for lineage and audit, never served (refused while needed)."""
        v = await asyncio.to_thread(registry.models.archive, f"{name}:{max(version, 0)}")
        await manager.refresh()
        return v.to_dict()

    @r.post("/models/{name}/versions/{version}/unarchive")
    async def unarchive_version(name: str, version: int) -> dict[str, Any]:
        v = await asyncio.to_thread(registry.models.unarchive, f"{name}:{max(version, 0)}")
        return v.to_dict()

    @r.get("/models/{name}/aliases")
    async def list_aliases(name: str) -> dict[str, int]:
        """The model's aliases and the version number each points at."""
        return await asyncio.to_thread(registry.models.aliases, name)

    @r.put("/models/{name}/aliases/{alias}")
    async def set_alias(name: str, alias: str, spec: AliasSpec) -> dict[str, Any]:
        v = await asyncio.to_thread(registry.models.set_alias, name, alias, spec.version)
        return v.to_dict()

    @r.delete("/models/{name}/aliases/{alias}", status_code=204)
    async def delete_alias(name: str, alias: str, force: bool = False) -> None:
        """Remove an alias: 409 while a deployment serves it, unless ``force`` (then those
        deployments are listed as broken by ``GET /api/deployments``)."""
        await asyncio.to_thread(lambda: registry.models.delete_alias(name, alias, force=force))
        await manager.refresh()  # this worker answers as the registry now says; others poll

    @r.delete("/datasets/{ref}")
    async def delete_dataset(ref: str) -> dict[str, Any]:
        """Remove a dataset name (``leads``, ``leads#ab12``), or a dataset by id; the stored
        table goes with its last name."""
        gone = await asyncio.to_thread(registry.datasets.delete, ref)
        return {"removed": ref, "deleted": gone.ref if gone else None}

    @r.get("/deployments")
    async def list_deployments() -> list[dict[str, Any]]:
        found = await asyncio.to_thread(registry.deployments.states)
        return [
            deployment_view(st.deployment, manager, st)
            for st in found
            if _visible(st.deployment.name, _model_name(st.deployment.model))
        ]

    @r.get("/deployments/{name}")
    async def get_deployment(name: str) -> dict[str, Any]:
        return deployment_view(await asyncio.to_thread(manager.resolve, name), manager)

    @r.put("/deployments/{name}")
    async def put_deployment(name: str, spec: DeploymentSpec) -> dict[str, Any]:
        if not _visible(_model_name(spec.model)):
            raise NotFoundError(f"model {_model_name(spec.model)!r} does not exist")
        await asyncio.to_thread(registry.models.servable, spec.model)  # must resolve now
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
    async def delete_deployment(name: str, force: bool = False) -> None:
        """Remove a deployment: 409 while alert rules watch it, unless ``force``."""
        await asyncio.to_thread(lambda: registry.deployments.delete(name, force=force))
        await manager.refresh()

    # -- keys and audit ---------------------------------------------------------------------
    @r.get("/keys/me")
    async def my_key() -> dict[str, Any]:
        """The calling key: its scopes, limits and request counts per period."""
        principal = current_principal.get()
        if not principal.key_id:
            raise NotFoundError("this server runs without API keys (--no-auth)")
        return (await asyncio.to_thread(keys.get, principal.key_id)).to_dict()

    @r.get("/keys")
    async def list_keys(include_revoked: bool = False) -> list[dict[str, Any]]:
        found = await asyncio.to_thread(lambda: keys.list(include_revoked=include_revoked))
        return [k.to_dict() for k in found]

    @r.post("/keys", status_code=201)
    async def create_key(spec: KeySpec) -> dict[str, Any]:
        """A new key. The response holds the key itself: it is shown this once; ``warnings``
        says what to check (models in the allow-list that do not exist yet)."""
        key, token = await asyncio.to_thread(
            lambda: keys.create(
                spec.name,
                spec.scopes,
                models=spec.models,
                rate=spec.rate,
                burst=spec.burst,
                quota=spec.quota,
                expires=spec.expires,
            )
        )
        return {**key.to_dict(), "key": token, "warnings": list(key.warnings)}

    @r.get("/keys/{key}")
    async def get_key(key: str) -> dict[str, Any]:
        return (await asyncio.to_thread(keys.get, key)).to_dict()

    @r.delete("/keys/{key}")
    async def revoke_key(key: str) -> dict[str, Any]:
        return (await asyncio.to_thread(keys.revoke, key)).to_dict()

    @r.post("/keys/{key}/rotate", status_code=201)
    async def rotate_key(key: str) -> dict[str, Any]:
        """Revoke a key and issue its successor (same name, scopes and limits)."""
        new, token = await asyncio.to_thread(keys.rotate, key)
        return {**new.to_dict(), "key": token}

    @r.get("/audit")
    async def audit(
        limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
        action: str | None = None,
        actor: str | None = None,
        since: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Management actions, newest first."""
        found = await asyncio.to_thread(
            lambda: registry.audit.list(limit=limit, action=action, who=actor, since=since)
        )
        return [e.to_dict() for e in found]

    return r
