"""The deployment manager: lazy loading, the LRU bounds, live swaps."""

from __future__ import annotations

import asyncio

import pandas as pd
import pytest

from modelbay import Bay
from modelbay.serve.manager import INLINE_MAX_MS, DeploymentManager


def manager(bay: Bay, **kw: object) -> DeploymentManager:
    return DeploymentManager(bay.db, bay.models, bay.deployments, poll_s=0, **kw)  # type: ignore[arg-type]


def test_models_load_lazily_and_the_least_recently_used_goes_first(serve_bay: Bay) -> None:
    async def main() -> None:
        m = manager(serve_bay, max_loaded=2)
        await m.start()
        assert m.loaded() == []
        await m.get("bc-logistic")
        await m.get("iris-svm")
        await m.get("bc-logistic")  # now the most recent
        await m.get("diabetes-ridge")  # evicts iris-svm, the least recently used
        assert [s.name for s in m.loaded()] == ["bc-logistic", "diabetes-ridge"]
        again = await m.get("iris-svm")  # comes back transparently
        assert again.runtime.loaded and len(m.loaded()) == 2
        await m.stop()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("workers", "cpus", "runtime_inline", "inline"),
    [(2, 2, True, INLINE_MAX_MS), (1, 2, True, 0.0), (2, 2, False, 0.0)],
)
def test_short_calls_run_on_the_loop_only_in_a_process_with_one_cpu(
    serve_bay: Bay,
    monkeypatch: pytest.MonkeyPatch,
    workers: int,
    cpus: int,
    runtime_inline: bool,
    inline: float,
) -> None:
    """A process of a server with a worker per CPU runs short model calls on its event loop;
    one with several CPUs keeps them in model threads, which then run in parallel; so does a
    runtime whose calls do not grow with their rows (text models)."""
    from modelbay.serve.runtimes import OnnxRuntime, TextRuntime

    assert TextRuntime.inline is False
    monkeypatch.setattr(OnnxRuntime, "inline", runtime_inline)
    from modelbay.settings import worker_cpus

    monkeypatch.setattr("modelbay.settings.usable_cpus", lambda: cpus)

    async def main() -> None:
        m = manager(serve_bay, cpus=worker_cpus(workers))
        await m.start()
        served = await m.get("bc-logistic")
        assert served.batcher.inline_max == inline / 1000
        await m.stop()

    asyncio.run(main())


def test_the_memory_bound_counts_artifact_bytes(serve_bay: Bay) -> None:
    async def main() -> None:
        forest = serve_bay.models.get("bc-forest").artifacts["onnx"].size
        m = manager(serve_bay, max_bytes=forest + 1)
        await m.start()
        await m.get("bc-forest")
        await m.get("bc-logistic")  # together they exceed the bound: the forest goes
        assert [s.name for s in m.loaded()] == ["bc-logistic"]
        await m.stop()

    asyncio.run(main())


def test_a_deployment_edit_is_picked_up_by_refresh(tmp_path: object, iris: pd.DataFrame) -> None:
    async def main() -> None:
        with Bay(home=tmp_path) as bay:  # type: ignore[arg-type]
            bay.train(iris, "species", name="f", algorithm="logistic_regression", trials=1, cv=2)
            bay.train(iris, "species", name="f", algorithm="random_forest", trials=1, cv=2)
            bay.deployments.put("prod", "f:1", max_batch=4)
            m = manager(bay)
            await m.start()
            first = await m.get("prod")
            assert first.version.version == 1 and first.batcher.max_batch == 4
            assert await m.refresh() == 0  # nothing changed
            bay.deployments.put("prod", "f:2", max_batch=16)
            assert await m.refresh() == 1
            second = await m.get("prod")
            assert second.version.version == 2 and second.batcher.max_batch == 16
            assert not first.runtime.loaded  # the old one was drained and unloaded
            x = bay.models.get("f:2").signature.validate(iris.drop(columns="species").head(3))
            out, _ = await second.batcher.submit(x)
            assert len(out) == 3
            bay.deployments.delete("prod")
            await m.refresh()
            assert m.loaded() == []
            await m.stop()

    asyncio.run(main())
