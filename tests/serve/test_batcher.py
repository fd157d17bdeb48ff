"""The adaptive batcher: merging, order, the wait bound, isolation of a failing request."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from modelbay.data.tensors import Feeds
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


class Where:
    """A model call that records which thread ran it, after ``seconds`` of work."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.threads: list[int] = []

    def __call__(self, rows: pd.DataFrame, proba: bool) -> Outputs:
        self.threads.append(threading.get_ident())
        if self.seconds:
            time.sleep(self.seconds)
        return Outputs(rows["x"].to_numpy() * 2)


def _calls_one_by_one(call: Where, inline_max_ms: float, n: int = 5) -> int:
    """Run ``n`` lone requests; returns the loop's thread id."""

    async def main() -> int:
        b = Batcher(call, max_batch=64, max_wait_ms=1, inline_max_ms=inline_max_ms).start()
        for i in range(n):
            out, _ = await b.submit(frame(i))
            assert out.predict.tolist() == [2 * i]
        await b.close()
        return threading.get_ident()

    return run(main())


def test_short_calls_run_on_the_loop_once_they_are_known_to_be_short() -> None:
    """With one CPU a process gains nothing from a model thread: a call known to be short
    runs on the event loop. The first call, of unknown length, goes to a thread. (On a busy
    machine that first call may take a millisecond or more: the next few go to a thread too,
    until the shorter ones have taught the batcher better, hence the calls at the end.)"""
    call = Where()
    loop_thread = _calls_one_by_one(call, inline_max_ms=1.0, n=12)
    assert call.threads[0] != loop_thread
    assert call.threads[-6:] == [loop_thread] * 6


def test_long_calls_and_a_zero_bound_keep_to_model_threads() -> None:
    slow = Where(seconds=0.005)  # 5 ms a call: over a 1 ms bound
    loop_thread = _calls_one_by_one(slow, inline_max_ms=1.0)
    assert loop_thread not in slow.threads
    fast = Where()
    loop_thread = _calls_one_by_one(fast, inline_max_ms=0.0)  # several CPUs: threads
    assert loop_thread not in fast.threads


def test_a_large_call_is_expected_to_take_longer_than_the_small_ones_before_it() -> None:
    """The expectation is per row: after short 1-row calls, a 100,000-row request still goes
    to a thread (on the loop it would hold up every other request)."""
    call = Where()  # a model of no work: a call costs its overhead, some 20 us

    async def main() -> int:
        b = Batcher(call, max_batch=200_000, max_wait_ms=1, inline_max_ms=1.0).start()
        for i in range(12):  # a busy machine may stretch the first calls: the estimate settles
            await b.submit(frame(i))
        await b.submit(frame(*np.zeros(100_000)))
        await b.close()
        return threading.get_ident()

    loop_thread = run(main())
    assert call.threads[9:12] == [loop_thread] * 3  # short
    assert call.threads[12] != loop_thread  # 100,000 rows at 20 us / 64 rows: 30 ms expected


class Stalls(Where):
    """A model call of no work whose calls take ``stalls[i]`` seconds (a call the OS preempted,
    or a model that really is slow); the calls past the list take nothing."""

    def __init__(self, stalls: list[float]) -> None:
        super().__init__()
        self.stalls = stalls

    def __call__(self, rows: pd.DataFrame, proba: bool) -> Outputs:
        n = len(self.threads)
        self.seconds = self.stalls[n] if n < len(self.stalls) else 0.0
        return super().__call__(rows, proba)


def test_one_stalled_call_does_not_send_the_short_ones_after_it_to_a_thread() -> None:
    """A busy machine preempts a call now and then: the expectation learnt from it moves
    little, and the calls after it stay on the loop; a model slow on every call is still
    learnt as slow, and its calls go to a thread."""
    stalled = Stalls([0.0] * 8 + [0.03])  # a 30 ms stall after eight short calls
    loop_thread = _calls_one_by_one(stalled, inline_max_ms=1.0, n=16)
    assert stalled.threads[5:9] == [loop_thread] * 4  # learnt as short before the stall
    assert stalled.threads[9:] == [loop_thread] * 7, "a short call went to a thread"
    slow = Stalls([0.0] * 5 + [0.005] * 40)  # from the sixth call on, 5 ms every call
    loop_thread = _calls_one_by_one(slow, inline_max_ms=1.0, n=45)
    assert loop_thread not in slow.threads[-10:]


def test_a_slow_first_call_is_forgotten_within_a_few_calls() -> None:
    """A first call that was cold or preempted (20 ms here, for no work) sends the next ones to
    a thread, but each shorter call halves the expectation: the calls end up on the loop."""
    cold = Stalls([0.02])
    loop_thread = _calls_one_by_one(cold, inline_max_ms=1.0, n=12)
    assert cold.threads[1] != loop_thread  # right after 20 ms, a thread is the safe guess
    assert cold.threads[-4:] == [loop_thread] * 4


def column(*xs: float) -> np.ndarray:
    return np.asarray(xs, dtype=float).reshape(-1, 1)


class Tasks:
    """A model call that records the asyncio task that made it and its rows."""

    def __init__(self) -> None:
        self.calls: list[tuple[asyncio.Task[object] | None, int]] = []

    def __call__(self, rows: np.ndarray, proba: bool) -> Outputs:
        try:
            task = asyncio.current_task()
        except RuntimeError:  # a model thread
            task = None
        self.calls.append((task, len(rows)))
        return Outputs(rows[:, 0] * 2)


@pytest.mark.parametrize("inline_max_ms", [1.0, 0.0])
def test_a_large_request_on_an_idle_batcher_is_called_by_its_own_task(
    inline_max_ms: float,
) -> None:
    """With calls inline, a request of 256 rows or more finding the batcher idle is called
    by its own task, not through the queue and a batch task (merging it would save little);
    small concurrent requests still merge. Without inline calls nothing changes."""
    call = Tasks()

    async def main() -> None:
        b = Batcher(call, max_batch=4096, max_wait_ms=50, inline_max_ms=inline_max_ms).start()
        for _ in range(30):  # the first calls teach the batcher how long a row takes
            await b.submit(column(1.0))
        me = asyncio.current_task()
        for n in (256, 1000):
            out, info = await b.submit(column(*range(n)))
            assert out.predict.tolist() == [2.0 * i for i in range(n)]
            assert info.rows == n and info.requests == 1
            assert call.calls[-1][1] == n
            assert (call.calls[-1][0] is me) == (inline_max_ms > 0)
        results = await asyncio.gather(*[b.submit(column(i)) for i in range(10)])
        assert call.calls[-1][1] == 10 and call.calls[-1][0] is not me  # merged, as before
        assert [out.predict.tolist() for out, _ in results] == [[2.0 * i] for i in range(10)]
        small = await b.submit(column(*[1] * 255))  # under 256 rows: through the queue
        assert call.calls[-1][0] is not me and small[0].predict.tolist() == [2.0] * 255
        await b.close()

    run(main())


def test_a_call_in_a_model_thread_is_timed_there_not_with_the_hop_back() -> None:
    """What a call in a model thread is learnt to cost is its own time: a loop busy with
    other work when the call ends must not make short calls look long (they would stay on
    threads, which cost more than the call, for as long as the loop stays busy)."""

    class HoldingUp(Where):
        """As its first call ends, it holds the loop up for 50 ms (in a call that lets go
        of the GIL, as a model call does)."""

        loop: asyncio.AbstractEventLoop

        def __call__(self, rows: pd.DataFrame, proba: bool) -> Outputs:
            out = super().__call__(rows, proba)
            if len(self.threads) == 1:
                busy = threading.Event()

                def hog() -> None:
                    busy.set()
                    time.sleep(0.05)

                self.loop.call_soon_threadsafe(hog)
                busy.wait(5)
            return out

    call = HoldingUp()

    async def main() -> int:
        call.loop = asyncio.get_running_loop()
        # a bound of 10 ms: far above the call itself, far below the 50 ms hold-up
        b = Batcher(call, max_batch=64, max_wait_ms=1, inline_max_ms=10.0).start()
        out, info = await b.submit(frame(1.0))  # nothing learnt yet: a thread
        assert out.predict.tolist() == [2.0] and info.model_s < 0.05
        await b.submit(frame(2.0))
        await b.close()
        return threading.get_ident()

    loop_thread = run(main())
    assert call.threads[0] != loop_thread and call.threads[1] == loop_thread


def test_feeds_that_cannot_merge_are_called_one_request_at_a_time() -> None:
    """An imported graph's requests merge along the batch; where their other dynamic
    dimensions differ (or the graph fixes its batch) the merge fails and each is called
    alone, not the whole batch failed (the merge used to be outside the isolation)."""
    seen: list[tuple[int, ...]] = []

    def call(rows: Feeds, proba: bool) -> Outputs:
        seq = rows.arrays["ids"]
        seen.append(seq.shape)
        return Outputs(seq.sum(axis=1))

    def ids(rows: int, seq: int) -> Feeds:
        return Feeds({"ids": np.ones((rows, seq), dtype=np.int64)}, rows)

    async def main() -> None:
        b = Batcher(call, max_batch=64, max_wait_ms=50).start()  # type: ignore[arg-type]
        same = await asyncio.gather(b.submit(ids(2, 3)), b.submit(ids(1, 3)))
        assert [o.predict.tolist() for o, _ in same] == [[3, 3], [3]]
        assert seen == [(3, 3)]  # one merged call
        seen.clear()
        mixed = await asyncio.gather(b.submit(ids(2, 3)), b.submit(ids(1, 5)))
        assert [o.predict.tolist() for o, _ in mixed] == [[3, 3], [5]]
        assert seen == [(2, 3), (1, 5)]
        seen.clear()
        fixed = [Feeds({"ids": np.ones((1, 3), dtype=np.int64)}, 1, batched=False)] * 2
        alone = await asyncio.gather(*(b.submit(f) for f in fixed))
        assert [o.predict.tolist() for o, _ in alone] == [[3], [3]] and seen == [(1, 3), (1, 3)]
        await b.close()

    run(main())
