"""The HTTP face: ``create_app(settings)`` builds the FastAPI app over a registry."""

from __future__ import annotations

import asyncio
import gc
import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import metadata
from typing import Any

from fastapi import FastAPI

from modelbay.api import embeddings, errors, management, monitoring, v1, v2
from modelbay.api.front import Front, Limits
from modelbay.monitor.alerts_runner import AlertRunner
from modelbay.monitor.hooks import ServingMonitor
from modelbay.monitor.metrics import Metrics
from modelbay.monitor.predlog import PredictionLog
from modelbay.monitor.service import Monitor
from modelbay.registry.home import Registry
from modelbay.security.gate import Gate
from modelbay.security.keys import KeyCatalog
from modelbay.security.limits import SharedLimits
from modelbay.serve.dataplane import DataPlane
from modelbay.serve.manager import DeploymentManager
from modelbay.settings import Settings

__all__ = ["create_app", "create_app_from_env"]


def create_app(settings: Settings | None = None, *, registry: Registry | None = None) -> Front:
    """An ASGI app serving every model of the registry; ``.api`` is its FastAPI app.

    API keys are required unless ``settings.auth`` is off. Nothing starts until the
    app does (its lifespan).
    """
    own = registry is None
    registry = registry or Registry(settings or Settings())
    s = registry.settings
    metrics = Metrics(s.metrics_dir)
    predlog = PredictionLog(
        registry.db,
        metrics,
        sample=s.log_sample,
        capacity=s.log_queue,
        retention_days=s.log_retention_days,
        max_rows=s.log_max_rows,
    )
    observer = ServingMonitor(
        metrics,
        predlog if s.log_sample > 0 else None,
        max_rows=s.log_rows_per_request,
        rows_per_s=s.log_rows_per_s,
    )
    monitor = Monitor(registry, on_drift=metrics.drift_result, on_quality=metrics.quality_result)
    alerts = AlertRunner(monitor, metrics, s.home / "run" / "alerts.lock", s.alert_interval_s)
    manager = DeploymentManager(
        registry.db,
        registry.models,
        registry.deployments,
        max_loaded=s.max_loaded_models,
        max_bytes=int(s.max_model_memory_mb * 2**20),
        poll_s=s.poll_interval_s,
        threads=s.model_threads,
        on_call=observer.model_call,
        on_load=observer.loaded,
    )
    plane = DataPlane(
        manager,
        max_rows=s.max_rows,
        max_elements=s.max_tensor_elements,
        max_text_inputs=s.max_text_inputs,
        max_text_chars=s.max_text_chars,
        hooks=observer,
    )
    keys = KeyCatalog.of(registry)
    gate = Gate(
        keys,
        registry.db,
        enabled=s.auth,
        limits=SharedLimits(s.home / "run" / "limits.bin") if s.auth else None,
        poll_s=s.key_poll_interval_s,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await manager.start()
        await gate.start()
        predlog.start()
        alerts.start()
        metrics.start()
        grpc_server = None
        if s.grpc_port:
            from modelbay.api.grpc import build_grpc_server

            grpc_server = build_grpc_server(plane, gate, s.grpc_host, s.grpc_port)
            await grpc_server.start()
        # Everything alive now (libraries, the registry) lives as long as the server:
        # keep it out of the collector's way, so a collection does not stall requests.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            if grpc_server is not None:
                await grpc_server.stop(grace=2)
            await manager.stop()
            await gate.stop()
            await alerts.stop()
            await asyncio.to_thread(predlog.stop)
            await metrics.stop()
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
        responses=errors.ERROR_RESPONSES,
        **_no_native_telemetry(),
    )
    app.state.registry = registry
    app.state.manager = manager
    app.state.plane = plane
    app.state.gate = gate
    errors.install(app)
    max_body = int(s.max_body_mb * 2**20)
    max_upload = int(s.max_upload_mb * 2**20)
    app.include_router(v2.router(plane, max_body))
    app.include_router(v1.router(plane, max_body))
    app.include_router(embeddings.router(plane, max_body))
    app.include_router(management.router(registry, manager, keys, max_upload))
    app.include_router(monitoring.router(monitor, metrics))
    app.state.metrics = metrics
    app.state.predlog = predlog
    limits = Limits(
        max_body=max_body,
        max_upload=max_upload,
        max_json_depth=s.max_json_depth,
        timeout_s=s.request_timeout_s,
    )
    return Front(app, plane, gate, registry.audit, limits, metrics.http)


def _no_native_telemetry() -> dict[str, Any]:
    """FastAPI >= 0.165 looks up OpenTelemetry providers in os.environ on every request
    (about a fifth of a 1-row inference here); modelbay keeps its own metrics."""
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters:
        return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    return {}


def create_app_from_env() -> Front:
    """The factory uvicorn's workers call (``modelbay serve``): settings from MODELBAY_*.

    A worker imports the model libraries (ONNX Runtime; skops, which brings scikit-learn)
    before it takes requests: `import modelbay` leaves them out so that the CLI starts fast,
    and the first request for a model, or the first upload, should not pay for them."""
    import onnxruntime  # noqa: F401
    import skops.io  # noqa: F401

    return create_app(Settings())
