"""``Server``: the serving core of one modelbay server, whatever face it is reached by.

It holds the serving policies (API keys are required unless the server binds to a
loopback address with auth explicitly off; TLS takes both files; the first start
with keys creates the admin key) and builds and owns, per server process, the parts
that serve: the deployment manager, the data plane, the key gate and the one
admission step, the metrics, the prediction log and its monitor, and the alert
runner. The faces only adapt it: ``modelbay.api.create_app(server)`` for HTTP (and
gRPC beside it), and ``modelbay.api.host.serve(server)`` runs it in worker processes,
as ``modelbay serve`` does, so a server started from Python behaves exactly like one
started from the command line.

It sits above ``serve``, ``security``, ``monitor`` and ``optimize`` (it wires serving
together), below :class:`modelbay.Bay` (whose ``serve`` builds one) and the faces.

>>> server = Bay(home="/tmp/bay").serve(port=8000, workers=2)  # or Server(Settings(...))
>>> token = server.bootstrap()      # the admin key, made on the first start with keys
>>> modelbay.api.host.serve(server)  # blocks; what `modelbay serve` runs
"""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import shutil
from functools import cached_property
from typing import Any

from modelbay.errors import ValidationError
from modelbay.monitor.alerts_runner import AlertRunner
from modelbay.monitor.hooks import ServingMonitor
from modelbay.monitor.metrics import Metrics
from modelbay.monitor.predlog import PredictionLog
from modelbay.monitor.service import Monitor
from modelbay.registry.home import Registry
from modelbay.registry.records import ModelVersion
from modelbay.security.admission import Admission
from modelbay.security.gate import Gate
from modelbay.security.keys import KeyCatalog
from modelbay.security.limits import SharedLimits
from modelbay.serve.dataplane import DataPlane
from modelbay.serve.manager import DeploymentManager
from modelbay.settings import Settings, auto_workers, worker_cpus

__all__ = ["Server", "check_policy", "is_loopback"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (127.0.0.0/8, ::1) or ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_policy(settings: Settings) -> None:
    """The serving policies, checked before anything starts; a clear error says what to fix."""
    if not settings.auth and not is_loopback(settings.host):
        raise ValidationError(
            f"serving without API keys (--no-auth, MODELBAY_AUTH=false) serves every model to "
            f"anyone who can reach {settings.host}; it is allowed only on a loopback address "
            "(127.0.0.1, ::1, localhost)"
        )
    if (settings.ssl_certfile is None) != (settings.ssl_keyfile is None):
        raise ValidationError("TLS needs both --ssl-certfile and --ssl-keyfile")
    if settings.workers < 0:
        raise ValidationError(
            f"{settings.workers} workers (--workers or MODELBAY_WORKERS): give a number of "
            "processes, or 0 for one per CPU"
        )
    if not 0 < settings.port < 65536:
        raise ValidationError(f"port {settings.port} is not a TCP port (1 to 65535)")


class Server:
    """``Server(settings)`` (or ``Bay.serve(...)``): the parts of one serving process.

    Nothing is built until it is used, and nothing runs until :meth:`start`; a process
    that supervises workers uses only the policies and :meth:`bootstrap`.
    """

    def __init__(
        self, settings: Settings | None = None, *, registry: Registry | None = None
    ) -> None:
        self.settings = settings or (registry.settings if registry is not None else Settings())
        check_policy(self.settings)
        self._given = registry

    # -- policies -------------------------------------------------------------------------
    @property
    def workers(self) -> int:
        """Server processes: the setting, or one per usable CPU (at most 8)."""
        return self.settings.workers or auto_workers()

    def bootstrap(self) -> str | None:
        """With API keys on, make sure an admin key exists: register ``MODELBAY_ADMIN_KEY``,
        or create one on the first start. Returns a created key (shown once), else None."""
        if not self.settings.auth:
            return None
        admin = self.settings.admin_key
        return self.keys.ensure_admin(admin.get_secret_value() if admin else None)

    def for_workers(self) -> Settings:
        """The settings each worker process gets, given to it explicitly: the worker count
        resolved, and a fresh folder where the workers publish their metrics (so /metrics
        adds up every worker). Call once, in the supervising process, before they start."""
        s = self.settings
        folder = s.home / "run" / f"metrics-{s.port}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        return s.model_copy(update={"workers": self.workers, "metrics_dir": folder})

    # -- the parts, built on first use -------------------------------------------------------
    @cached_property
    def registry(self) -> Registry:
        return self._given if self._given is not None else Registry(self.settings)

    def import_model(
        self,
        data: bytes,
        name: str,
        *,
        aliases: tuple[str, ...] = (),
        description: str = "",
        task: str | None = None,
        classes: list[str] | None = None,
    ) -> ModelVersion:
        """Register an uploaded skops or ONNX file: the same import as ``Bay.import_model``."""
        from modelbay.optimize.importer import import_model

        return import_model(
            self.registry,
            data,
            name,
            aliases=aliases,
            description=description,
            task=task,
            classes=classes,
        )

    @cached_property
    def keys(self) -> KeyCatalog:
        return KeyCatalog.of(self.registry)

    @cached_property
    def metrics(self) -> Metrics:
        return Metrics(self.settings.metrics_dir)

    @cached_property
    def predlog(self) -> PredictionLog:
        s = self.settings
        return PredictionLog(
            self.registry.db,
            self.metrics,
            sample=s.log_sample,
            capacity=s.log_queue,
            retention_days=s.log_retention_days,
            max_rows=s.log_max_rows,
        )

    @cached_property
    def observer(self) -> ServingMonitor:
        s = self.settings
        return ServingMonitor(
            self.metrics,
            self.predlog if s.log_sample > 0 else None,
            max_rows=s.log_rows_per_request,
            rows_per_s=s.log_rows_per_s,
        )

    @cached_property
    def monitor(self) -> Monitor:
        metrics = self.metrics
        return Monitor(
            self.registry,
            on_drift=metrics.drift_result,
            on_quality=metrics.quality_result,
            flush_log=self.predlog.flush,
        )

    @cached_property
    def alerts(self) -> AlertRunner:
        s = self.settings
        return AlertRunner(
            self.monitor, self.metrics, s.home / "run" / "alerts.lock", s.alert_interval_s
        )

    @cached_property
    def manager(self) -> DeploymentManager:
        s, registry, observer = self.settings, self.registry, self.observer
        return DeploymentManager(
            registry.db,
            registry.models,
            registry.deployments,
            max_loaded=s.max_loaded_models,
            max_bytes=int(s.max_model_memory_mb * 2**20),
            poll_s=s.poll_interval_s,
            threads=s.model_threads,
            cpus=worker_cpus(max(1, s.workers)),
            on_call=observer.model_call,
            on_load=observer.loaded,
        )

    @cached_property
    def plane(self) -> DataPlane:
        s = self.settings
        return DataPlane(
            self.manager,
            max_rows=s.max_rows,
            max_elements=s.max_tensor_elements,
            max_text_inputs=s.max_text_inputs,
            max_text_chars=s.max_text_chars,
            hooks=self.observer,
        )

    @cached_property
    def gate(self) -> Gate:
        s = self.settings
        return Gate(
            self.keys,
            self.registry.db,
            enabled=s.auth,
            limits=SharedLimits(s.home / "run" / "limits.bin") if s.auth else None,
            poll_s=s.key_poll_interval_s,
        )

    @cached_property
    def admission(self) -> Admission:
        return Admission(self.gate, self.registry.audit, self.manager.model_of)

    # -- life cycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Start serving in this process: deployments, keys, the log, alerts, metrics."""
        await self.manager.start()
        await self.gate.start()
        self.plane  # noqa: B018  # built before the first request, not by it
        self.admission  # noqa: B018
        self.predlog.start()
        self.alerts.start()
        self.metrics.start()

    def settle(self) -> None:
        """Everything alive now (libraries, the registry) lives as long as the server: keep
        it out of the collector's way, so a collection does not stall requests."""
        gc.collect()
        gc.freeze()

    async def stop(self) -> None:
        """Stop what :meth:`start` started; the registry closes if this server opened it."""
        await self.manager.stop()
        await self.gate.stop()
        await self.alerts.stop()
        await asyncio.to_thread(self.predlog.stop)
        await self.metrics.stop()
        self.close()

    def close(self) -> None:
        if self._given is None and "registry" in self.__dict__:
            self.registry.close()

    def describe(self) -> dict[str, Any]:
        """What the server is set to, for a start-up line."""
        s = self.settings
        return {
            "url": f"{'https' if s.ssl_certfile else 'http'}://{s.host}:{s.port}",
            "auth": s.auth,
            "workers": self.workers,
            "grpc_port": s.grpc_port,
        }
