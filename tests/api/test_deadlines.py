"""Request time limits kept by one sweeping timer: late tasks are cancelled and said to
be late; tasks that end in time, or are cancelled for another reason, are not."""

from __future__ import annotations

import asyncio

import pytest

from modelbay.api.deadlines import Deadlines


async def _timed(deadlines: Deadlines, seconds: float) -> str:
    task = asyncio.current_task()
    assert task is not None
    deadlines.enter(task)
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        if not deadlines.leave(task) or task.uncancel() > 0:
            raise
        return "late"
    finally:
        deadlines.leave(task)
    return "in time"


def test_a_task_past_its_limit_is_stopped_within_a_tick_and_the_others_finish() -> None:
    async def main() -> None:
        d = Deadlines(0.1)
        assert d.tick == pytest.approx(0.01)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        slow = asyncio.create_task(_timed(d, 5.0))
        fast = [asyncio.create_task(_timed(d, 0.02)) for _ in range(20)]
        assert await asyncio.gather(*fast) == ["in time"] * 20
        assert await slow == "late"
        assert 0.1 <= loop.time() - t0 < 0.1 + 0.01 + 0.2  # the limit, a tick, slack
        assert not d._running and not d._expired  # nothing kept of finished requests
        await asyncio.sleep(0.05)
        assert d._timer is None  # no requests: the sweep stops

    asyncio.run(main())


def test_a_cancel_from_elsewhere_is_not_taken_for_a_timeout() -> None:
    async def main() -> None:
        d = Deadlines(10.0)
        task = asyncio.create_task(_timed(d, 5.0))
        await asyncio.sleep(0.01)
        task.cancel()  # a shutdown, say: it must propagate
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_a_new_event_loop_starts_afresh() -> None:
    d = Deadlines(0.05)
    assert asyncio.run(_timed(d, 1.0)) == "late"
    assert asyncio.run(_timed(d, 0.0)) == "in time"  # the first loop's timer is gone
    assert asyncio.run(_timed(d, 1.0)) == "late"


def test_watched_keys_are_called_once_late_and_unwatched_ones_never() -> None:
    """What is not a task yet (a request whose body is arriving) is kept to the limit too."""

    async def main() -> None:
        d = Deadlines(0.1)
        loop = asyncio.get_running_loop()
        called: list[str] = []
        d.watch("slow", lambda: called.append("slow"), loop)
        d.watch("done", lambda: called.append("done"), loop)
        await asyncio.sleep(0.03)
        d.unwatch("done")  # its body arrived in time
        await asyncio.sleep(0.2)
        assert called == ["slow"]
        await asyncio.sleep(0.1)
        assert called == ["slow"]  # once

    asyncio.run(main())


def test_a_request_begun_outside_a_task_keeps_its_deadline_in_the_task_that_adopts_it() -> None:
    """The HTTP protocol runs a request's first step outside any task: if it ends there,
    nothing is kept; if it goes on in a task, that task is timed from the request's start."""

    async def main() -> None:
        d = Deadlines(0.2)
        loop = asyncio.get_running_loop()
        d.enter(None)  # begun and ended in one step
        assert d.leave(None) is False
        assert d._untasked is None and not d._running

        t0 = loop.time()
        done = loop.create_future()

        def first_step() -> None:  # a callback, as the protocol's read is: no task
            assert asyncio.current_task() is None
            d.enter(None)
            task = loop.create_task(asyncio.sleep(5.0))
            d.adopt(task)  # it had to wait: the task carries it on
            done.set_result(task)

        loop.call_soon(first_step)
        task = await done
        assert d._untasked is None and task in d._running
        assert d._running[task] == pytest.approx(t0 + 0.2, abs=0.05)
        with pytest.raises(asyncio.CancelledError):
            await task
        assert 0.2 <= loop.time() - t0 < 0.2 + d.tick + 0.2
        assert task in d._expired  # said to be late when it leaves

        async def late_leave() -> bool:  # leave(None) from the adopting task finds it
            d.enter(None)
            me = asyncio.current_task()
            assert me is not None
            d.adopt(me)
            return d.leave(None)

        assert await loop.create_task(late_leave()) is False
        assert not d._running

    asyncio.run(main())
