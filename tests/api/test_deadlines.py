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
