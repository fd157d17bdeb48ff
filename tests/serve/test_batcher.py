"""The adaptive batcher: merging, order, the wait bound, isolation of a failing request."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from modelbay.serve.batcher import Batcher
from modelbay.serve.runtimes import Outputs


class Recorder:
    """A model call that doubles column x and records the batch sizes it saw."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, rows: pd.DataFrame, proba: bool) -> Outputs:
        if (rows["x"] < 0).any():
            raise ValueError("negative x")
        self.calls.append(len(rows))
        p = np.column_stack([rows["x"], -rows["x"]]) if proba else None
        return Outputs(rows["x"].to_numpy() * 2, p)


def frame(*xs: float) -> pd.DataFrame:
    return pd.DataFrame({"x": list(xs)})


def run(coro):
    return asyncio.run(coro)


def test_concurrent_requests_share_one_call_and_keep_their_order() -> None:
    async def main() -> None:
        rec = Recorder()
        b = Batcher(rec, max_batch=64, max_wait_ms=50).start()
        results = await asyncio.gather(*[b.submit(frame(i, i + 0.5)) for i in range(10)])
        for i, (out, info) in enumerate(results):
            assert out.predict.tolist() == [2 * i, 2 * i + 1]
            assert info.requests == 10 and info.rows == 20
        assert rec.calls == [20]
        await b.close()

    run(main())


def test_a_full_batch_goes_at_once_and_the_rest_waits_for_the_next() -> None:
    async def main() -> None:
        rec = Recorder()
        b = Batcher(rec, max_batch=4, max_wait_ms=5_000).start()
        results = await asyncio.gather(*[b.submit(frame(i)) for i in range(8)])
        assert rec.calls == [4, 4]
        assert all(info.queue_s < 5.0 for _, info in results)  # nobody waited the full 5 s
        await b.close()

    run(main())


def test_a_lone_request_waits_at_most_the_max_wait_and_only_under_load() -> None:
    async def main() -> None:
        b = Batcher(Recorder(), max_batch=64, max_wait_ms=40).start()
        _, quiet = await b.submit(frame(1))
        assert quiet.queue_s < 0.03  # nobody else around: it went at once
        await asyncio.gather(b.submit(frame(1)), b.submit(frame(2)))  # now there is company
        _, busy = await b.submit(frame(1))
        assert 0.03 <= busy.queue_s < 2.0  # it waited for others, but not past the max wait
        _, after = await b.submit(frame(1))
        assert after.queue_s < 0.03  # the last call was alone: back to going at once
        await b.close()

    run(main())


def test_probabilities_are_split_like_labels() -> None:
    async def main() -> None:
        b = Batcher(Recorder(), max_batch=64, max_wait_ms=20).start()
        (a, _), (c, _) = await asyncio.gather(b.submit(frame(1, 2), proba=True), b.submit(frame(3)))
        assert a.proba is not None and a.proba.tolist() == [[1, -1], [2, -2]]
        assert c.predict.tolist() == [6]
        await b.close()

    run(main())


def test_one_bad_request_does_not_fail_its_neighbours() -> None:
    async def main() -> None:
        b = Batcher(Recorder(), max_batch=64, max_wait_ms=20).start()
        results = await asyncio.gather(
            b.submit(frame(1)), b.submit(frame(-1)), b.submit(frame(3)), return_exceptions=True
        )
        assert results[0][0].predict.tolist() == [2]
        assert isinstance(results[1], ValueError)
        assert results[2][0].predict.tolist() == [6]
        await b.close()

    run(main())


def test_a_closed_batcher_drains_then_still_answers() -> None:
    async def main() -> None:
        rec = Recorder()
        b = Batcher(rec, max_batch=64, max_wait_ms=30).start()
        pending = [asyncio.ensure_future(b.submit(frame(i))) for i in range(3)]
        await asyncio.sleep(0)
        await b.close()
        assert [p.result()[0].predict.tolist() for p in pending] == [[0], [2], [4]]
        out, info = await b.submit(frame(5))
        assert out.predict.tolist() == [10] and info.requests == 1

    run(main())


@pytest.mark.parametrize("rows", [1, 100, 5000])
def test_a_request_bigger_than_max_batch_goes_alone(rows: int) -> None:
    async def main() -> None:
        rec = Recorder()
        b = Batcher(rec, max_batch=50, max_wait_ms=1).start()
        out, _ = await b.submit(frame(*range(rows)))
        assert len(out) == rows
        await b.close()

    run(main())


@pytest.mark.parametrize("concurrency", [1, 2])
def test_full_batches_run_side_by_side_up_to_the_concurrency(concurrency: int) -> None:
    """Two batches that are each full are called at once when two slots are free."""
    in_flight, peak = 0, 0
    lock = threading.Lock()

    def slow(rows: pd.DataFrame, proba: bool) -> Outputs:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.15)
        with lock:
            in_flight -= 1
        return Outputs(rows["x"].to_numpy() * 2)

    async def main() -> None:
        pool = ThreadPoolExecutor(max_workers=2)
        b = Batcher(slow, max_batch=2, max_wait_ms=1, executor=pool, concurrency=concurrency)
        b.start()
        results = await asyncio.gather(*[b.submit(frame(i, i)) for i in range(4)])
        assert [r[0].predict.tolist() for r in results] == [[2 * i, 2 * i] for i in range(4)]
        await b.close()
        pool.shutdown()

    run(main())
    assert peak == concurrency


def test_by_default_large_requests_merge_too() -> None:
    """A deployment's default cap holds several 1,000-row requests in one call (a call per
    request cost the event loop more than the rows did)."""
    from modelbay.registry.records import DEFAULT_MAX_BATCH, Deployment

    assert Deployment("d", "m").max_batch == DEFAULT_MAX_BATCH

    async def main() -> None:
        rec = Recorder()
        b = Batcher(rec, max_batch=DEFAULT_MAX_BATCH, max_wait_ms=50).start()
        big = [frame(*np.full(1000, float(i))) for i in range(4)]
        results = await asyncio.gather(*[b.submit(f) for f in big])
        assert rec.calls == [4000]
        for i, (out, info) in enumerate(results):
            assert out.predict.tolist() == [2.0 * i] * 1000 and info.requests == 4
        await b.close()

    run(main())
