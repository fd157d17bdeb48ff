"""Deployments in a running server: resolved lazily, kept in an LRU, swapped live.

A name is an explicit deployment (``modelbay deploy``) or, failing that, a model,
served at its ``champion`` (else latest) version with default batching. A poll of
the registry's change counter notices alias moves and deployment edits; the new
version is loaded and warmed up beside the old one, swapped in with one
assignment, and the old one drains its queue before it is unloaded. No request
fails for a swap.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from modelbay.errors import ModelbayError, NotFoundError
from modelbay.registry.db import Database
from modelbay.registry.deployments import DeploymentCatalog
from modelbay.registry.models import ModelCatalog
from modelbay.registry.records import Deployment, ModelVersion
from modelbay.registry.refs import ModelRef, check_name
from modelbay.serve.batcher import Batcher
from modelbay.serve.runtimes import Outputs, Rows, Runtime, runtime_for
from modelbay.settings import usable_cpus
from modelbay.tasks import cancel

__all__ = ["DeploymentManager", "Served"]

log = logging.getLogger("modelbay.serve")
# A process with one CPU runs model calls expected to be shorter than this on its event loop
# (see Batcher): a 1,000-row call of the logistic pipeline takes about 0.11 ms on one thread
# here, a 1-row call of either bench model about 0.01 ms, a 1,000-row forest call over 1 ms.
INLINE_MAX_MS = 1.0


@dataclass
class Served:
    """One loaded endpoint: what it serves, the runtime, and its batcher."""

    name: str
    deployment: Deployment
    version: ModelVersion
    runtime: Runtime
    batcher: Batcher
    load_s: float
    warmup_s: float
    pinned: bool = False  # a /versions/{v} endpoint: follows no alias

    @property
    def key(self) -> tuple[str, int | None]:
        return (self.name, self.version.version if self.pinned else None)


class DeploymentManager:
    def __init__(
        self,
        db: Database,
        models: ModelCatalog,
        deployments: DeploymentCatalog,
        *,
        max_loaded: int = 16,
        max_bytes: int = 2 << 30,
        poll_s: float = 1.0,
        threads: int = 2,
        cpus: int | None = None,
        on_call: Callable[[Served, Outputs, int, int, float], None] | None = None,
        on_load: Callable[[Served], None] | None = None,
    ) -> None:
        self.on_call = on_call  # after each model call: (served, outputs, rows, requests, s)
        self.on_load = on_load  # after a version is loaded and warmed up
        self.db = db
        self.models = models
        self.deployments = deployments
        self.max_loaded = max_loaded
        self.max_bytes = max_bytes
        self.poll_s = poll_s
        self.threads = max(1, threads)
        self.cpus = cpus or usable_cpus()  # this process's share of the machine's CPUs
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="modelbay-model")
        self._served: OrderedDict[tuple[str, int | None], Served] = OrderedDict()
        self._loading: dict[tuple[str, int | None], asyncio.Task[Served]] = {}
        self._generation = -1
        self._model_names: dict[str, str] = {}
        self._poller: asyncio.Task[None] | None = None

    # -- life cycle --------------------------------------------------------------------
    async def start(self) -> None:
        self._generation = await asyncio.to_thread(self.db.generation)
        if self.poll_s > 0:
            self._poller = asyncio.get_running_loop().create_task(self._poll())

    async def stop(self) -> None:
        await cancel(self._poller)
        for served in list(self._served.values()):
            await self._retire(served)
        self._served.clear()
        self.executor.shutdown(wait=False, cancel_futures=True)

    # -- lookups ---------------------------------------------------------------------------
    def resolve(self, name: str) -> Deployment:
        """The deployment a name means: explicit, or the model of that name."""
        check_name(name, "model name")
        found = self.deployments.find(name)
        if found is not None:
            return found
        try:
            self.models.get(name)
        except NotFoundError:
            raise NotFoundError(
                f"model {name!r} is not deployed and no model of that name exists"
            ) from None
        return Deployment(name=name, model=name, explicit=False)

    async def model_of(self, name: str) -> str:
        """The model a served name stands for (a deployment's model, or the name itself)."""
        found = self._model_names.get(name)
        if found is None:
            deployment = await asyncio.to_thread(self.resolve, name)
            found = ModelRef.parse(deployment.model).name
            if len(self._model_names) > 10_000:
                self._model_names.clear()
            self._model_names[name] = found
        return found

    def loaded(self) -> list[Served]:
        return list(self._served.values())

    async def get(self, name: str, version: int | None = None) -> Served:
        key = (name, version)
        served = self._served.get(key)
        if served is not None:
            self._served.move_to_end(key)
            return served
        # One load per endpoint, shielded: a caller that gives up (a request timeout) does
        # not cancel the load, so a slow model still comes up for the next caller.
        task = self._loading.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._load_and_keep(key))
            self._loading[key] = task
            task.add_done_callback(lambda _: self._loading.pop(key, None))
        return await asyncio.shield(task)

    async def _load_and_keep(self, key: tuple[str, int | None]) -> Served:
        served = self._served.get(key)
        if served is None:
            served = await self._load(*key)
            self._served[key] = served
            await self._evict()
        return served

    async def _load(self, name: str, version: int | None) -> Served:
        deployment = await asyncio.to_thread(self.resolve, name)
        model_name = deployment.model.split("@")[0].split(":")[0]
        ref = f"{model_name}:{version}" if version is not None else deployment.model
        mv = await asyncio.to_thread(self.models.servable, ref)  # never an archived one
        return await self._build(name, deployment, mv, pinned=version is not None)

    async def _build(
        self, name: str, deployment: Deployment, mv: ModelVersion, *, pinned: bool
    ) -> Served:
        runtime = runtime_for(mv, deployment.config.get("runtime"), cpus=self.cpus)
        t0 = time.perf_counter()
        await asyncio.to_thread(runtime.load, self.models)
        t1 = time.perf_counter()
        await asyncio.to_thread(runtime.warmup)
        t2 = time.perf_counter()

        def call(rows: Rows, proba: bool) -> Outputs:
            return runtime.predict(rows, proba=proba)

        served: Served | None = None

        def observed(outputs: Outputs, rows: int, requests: int, seconds: float) -> None:
            if self.on_call is not None and served is not None:
                self.on_call(served, outputs, rows, requests, seconds)

        batcher = Batcher(
            call,
            max_batch=deployment.max_batch,
            max_wait_ms=deployment.max_wait_ms,
            executor=self.executor,
            concurrency=min(self.threads, runtime.concurrency),
            on_call=observed,
            inline_max_ms=INLINE_MAX_MS if self.cpus == 1 and runtime.inline else 0.0,
        ).start()
        gc.collect()  # a loaded model lives long: keep it out of later collections' way
        gc.freeze()
        log.info("serving %s: %s on %s", name, mv.ref, runtime.name)
        served = Served(name, deployment, mv, runtime, batcher, t1 - t0, t2 - t1, pinned)
        if self.on_load is not None:
            self.on_load(served)
        return served

    async def _evict(self) -> None:
        while len(self._served) > 1 and (
            len(self._served) > self.max_loaded
            or sum(s.runtime.size_bytes for s in self._served.values()) > self.max_bytes
        ):
            _, oldest = self._served.popitem(last=False)
            log.info("unloading %s (%s): memory bound", oldest.name, oldest.version.ref)
            await self._retire(oldest)

    async def _retire(self, served: Served) -> None:
        await served.batcher.close()
        served.runtime.unload()

    # -- live updates ----------------------------------------------------------------------
    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                await self.refresh()
            except Exception:  # a failed poll must not stop the server; the next one retries
                log.exception("refreshing deployments failed")

    async def refresh(self, force: bool = False) -> int:
        """Re-resolve every loaded endpoint if the registry changed; returns the swaps made."""
        generation = await asyncio.to_thread(self.db.generation)
        if generation == self._generation and not force:
            return 0
        self._generation = generation
        self._model_names.clear()
        swaps = 0
        for key, served in list(self._served.items()):
            if served.pinned:
                continue
            try:
                deployment = await asyncio.to_thread(self.resolve, served.name)
                mv = await asyncio.to_thread(self.models.servable, deployment.model)
            except ModelbayError:
                self._served.pop(key, None)  # undeployed or deleted: the next request says so
                await self._retire(served)
                continue
            if mv.id == served.version.id and deployment == served.deployment:
                continue
            fresh = await self._build(served.name, deployment, mv, pinned=False)
            self._served[key] = fresh  # the swap: later requests see the new one
            swaps += 1
            await self._retire(served)  # drains what was queued on the old one
        return swaps
