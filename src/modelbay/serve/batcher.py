"""Adaptive batching: concurrent requests for one deployment share one model call.

The first waiting request opens a batch; others join until ``max_batch`` rows are
in it, or as many requests as shared the previous call (the concurrency seen
lately), or ``max_wait_ms`` has passed since it opened, whichever comes first.
When the previous call served a single request and nothing else is queued, there
is no one to wait for: the request goes at once (no added latency at low load). The
model runs in a worker thread; up to ``concurrency`` calls run at once (the model
threads release the GIL), so large requests do not queue behind each other. Where a
thread buys no parallelism (``inline_max_ms``: a server process with one CPU of its own)
a call expected to take less than that runs on the event loop itself: a hop to a model
thread and back costs more than such a call (a wake-up, two context switches and a GIL
hand-over each way). There a request of 256 rows or more that finds the batcher idle is
called by its own task, without the queue. The expectation is learnt from the calls made,
each timed where it runs (a call in a model thread, without the hop back to the loop); one
call that stalls (the OS preempted it) moves the expectation by 60% at most. A batch
forms when a call can start, so it holds everything that queued during the last
call; when several slots are free it takes its share of the queue, not all of it.
Results are split back in order. If a merged call fails, each request is retried
alone so that one bad request cannot fail its neighbours.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import pandas as pd

from modelbay.data.tensors import Feeds
from modelbay.serve.runtimes import Outputs, Rows
from modelbay.tasks import cancel

__all__ = ["BatchInfo", "Batcher"]

ModelCall = Callable[[Rows, bool], Outputs]
_ROWS_FLOOR = 64  # the expected time of a call is learnt per row of at least this many
# A request of at least this many rows, on an idle batcher with calls inline, is called at
# once by its own task: merged with others it would gain little (its rows cost the time)
_DIRECT_ROWS = 256


@dataclass(slots=True)  # not frozen: a frozen dataclass takes 0.4 us more to make
class BatchInfo:
    rows: int  # rows in the model call this request was part of
    requests: int  # requests merged into it
    queue_s: float  # time this request waited before the call
    model_s: float  # duration of the call


@dataclass
class _Item:
    rows: Rows
    proba: bool
    future: asyncio.Future[tuple[Outputs, BatchInfo]]
    enqueued: float = field(default_factory=time.perf_counter)


class Batcher:
    def __init__(
        self,
        call: ModelCall,
        *,
        max_batch: int,
        max_wait_ms: float,
        executor: Executor | None = None,
        concurrency: int = 1,
        on_call: Callable[[Outputs, int, int, float], None] | None = None,
        inline_max_ms: float = 0.0,
    ) -> None:
        self.call = call
        self.on_call = on_call  # (outputs, rows, requests, seconds) after each model call
        self.max_batch = max(1, int(max_batch))
        self.max_wait = max(0.0, float(max_wait_ms)) / 1000.0
        self.executor = executor
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._pending_rows = 0
        self._arrived = asyncio.Event()  # set by every submit
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._last_requests = 0  # requests in the previous call: is anyone else around?
        self._concurrency = max(1, int(concurrency))
        self._slots = asyncio.Semaphore(self._concurrency)  # model calls in flight
        self._inflight: set[asyncio.Task[None]] = set()
        self._calls = 0  # batches being called (a task may linger in _inflight after)
        self.inline_max = max(0.0, float(inline_max_ms)) / 1000.0
        self._row_s: float | None = None  # learnt seconds a row of a call (EWMA)

    def start(self) -> Batcher:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def submit(self, rows: Rows, *, proba: bool = False) -> tuple[Outputs, BatchInfo]:
        n = len(rows)
        if (
            n >= min(self.max_batch, _DIRECT_ROWS)
            and not self._calls
            and self._queue.empty()
            and not self._closing
            and self._inline(n)
        ):
            # Idle, a large request, and a call short enough for the loop: make it here,
            # without the queue, the batch task and the future (18 us of a 1,000-row request
            # in process). Merging it would save little: its rows, not the call, cost the time.
            return self._call_now(rows, proba)
        loop = asyncio.get_running_loop()
        item = _Item(rows, proba, loop.create_future())
        if self._closing or self._task is None or self._task.done():
            await self._execute([item])  # a drained batcher still answers stragglers
        else:
            self._queue.put_nowait(item)
            self._pending_rows += len(rows)
            self._arrived.set()
        return await item.future

    async def close(self) -> None:
        """Finish what is queued, then stop."""
        self._closing = True
        self._arrived.set()
        if self._task is not None:
            await self._queue.join()
            await cancel(self._task)

    async def _run(self) -> None:
        while True:
            # A batch forms once a call can start, so it takes what queued meanwhile. With
            # other slots free too it takes its share of the queue, so that they all work
            # (one greedy batch of everything would leave the others idle).
            await self._slots.acquire()
            first = await self._queue.get()
            free = self._concurrency - len(self._inflight)  # this slot included
            cap = (
                self.max_batch if free <= 1 else min(self.max_batch, -(-self._pending_rows // free))
            )
            batch = [first]
            rows = len(first.rows)
            # How many requests to wait for: as many as shared the previous call (the
            # concurrency seen lately), never past max_wait. A lone caller goes at once.
            target = self._last_requests
            wait = self.max_wait if target > 1 or not self._queue.empty() else 0.0
            deadline = first.enqueued + wait
            while rows < cap:
                rows += self._drain(batch, rows, cap)
                remaining = deadline - time.perf_counter()
                if (
                    rows >= cap
                    or remaining <= 0
                    or self._closing
                    or (len(batch) >= target and self._queue.empty())
                ):
                    break
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), remaining)
                except TimeoutError:
                    rows += self._drain(batch, rows, cap)
                    break
            self._pending_rows -= rows
            self._last_requests = len(batch)
            task = asyncio.get_running_loop().create_task(self._dispatch(batch))
            self._inflight.add(task)  # the loop keeps only weak references to tasks
            task.add_done_callback(self._inflight.discard)

    async def _dispatch(self, batch: list[_Item]) -> None:
        self._calls += 1
        try:
            await self._execute(batch)
        finally:
            self._calls -= 1
            self._slots.release()
            for _ in batch:
                self._queue.task_done()

    def _inline(self, rows: int) -> bool:
        """Whether a call of ``rows`` is expected to be short enough to run on the loop."""
        if self._row_s is None or self.inline_max <= 0:
            return False  # nothing learnt yet: the first calls go to a thread
        return self._row_s * max(rows, _ROWS_FLOOR) < self.inline_max

    def _learn(self, rows: int, seconds: float) -> None:
        # per row of at least _ROWS_FLOOR, so that the fixed cost of a small call does not
        # promise cheap large ones (it errs towards the thread)
        row_s = seconds / max(rows, _ROWS_FLOOR)
        if self._row_s is None:
            self._row_s = row_s
        elif row_s >= self._row_s:
            # a call the OS preempted (a busy machine) took longer than its work: one such
            # call moves the expectation by 60% at most, where it used to send the calls that
            # followed to a thread, their hop and GIL hand-overs, until it decayed
            self._row_s = 0.8 * self._row_s + 0.2 * min(row_s, 4.0 * self._row_s)
        else:
            # a busy machine only ever adds time, so a shorter call is the better witness: it
            # halves the distance (a cold or preempted first call is forgotten in a few calls)
            self._row_s = 0.5 * (self._row_s + row_s)

    def _drain(self, batch: list[_Item], rows: int, cap: int) -> int:
        added = 0
        while rows + added < cap and not self._queue.empty():
            nxt = self._queue.get_nowait()
            batch.append(nxt)
            added += len(nxt.rows)
        return added

    def _call_now(self, rows: Rows, proba: bool) -> tuple[Outputs, BatchInfo]:
        outputs, model_s = self._timed(rows, proba)  # a failure is this request's alone
        self._last_requests = 1
        self._called(outputs, len(rows), 1, model_s)
        return outputs, BatchInfo(len(rows), 1, 0.0, model_s)

    def _timed(self, rows: Rows, proba: bool) -> tuple[Outputs, float]:
        started = time.perf_counter()
        outputs = self.call(rows, proba)
        return outputs, time.perf_counter() - started

    def _called(self, outputs: Outputs, rows: int, requests: int, model_s: float) -> None:
        self._learn(rows, model_s)
        if self.on_call is not None:
            try:
                self.on_call(outputs, rows, requests, model_s)
            except Exception:  # an observer's failure must not fail the requests
                logging.getLogger("modelbay.serve").exception("batch observer failed")

    async def _execute(self, batch: list[_Item]) -> None:
        loop = asyncio.get_running_loop()
        proba = any(i.proba for i in batch)
        started = time.perf_counter()
        try:
            # inside the try: an imported graph's feeds may not merge (a fixed batch, other
            # dynamic dimensions that differ), and then each request is called alone
            frame = batch[0].rows if len(batch) == 1 else _concat([i.rows for i in batch])
            if self._inline(len(frame)):
                outputs, model_s = self._timed(frame, proba)
            else:
                # timed in the model thread: the hop back to the loop is not the call's
                # (counted in, it taught a busy server that short calls were long)
                outputs, model_s = await loop.run_in_executor(
                    self.executor, self._timed, frame, proba
                )
        except Exception as exc:
            if len(batch) == 1:
                _fail(batch[0], exc)
                return
            for item in batch:  # isolate the request that broke the merged call
                await self._execute([item])
            return
        self._called(outputs, len(frame), len(batch), model_s)
        offset = 0
        for item in batch:
            n = len(item.rows)
            info = BatchInfo(len(frame), len(batch), started - item.enqueued, model_s)
            if not item.future.done():
                item.future.set_result((outputs.slice(offset, offset + n), info))
            offset += n


def _fail(item: _Item, exc: BaseException) -> None:
    if not item.future.done():
        item.future.set_exception(exc)


def _concat(parts: list[Rows]) -> Rows:
    if all(isinstance(p, np.ndarray) for p in parts):
        return np.concatenate(cast(list[np.ndarray], parts))
    if isinstance(parts[0], Feeds):
        return Feeds.concat(cast(list[Feeds], parts))  # one deployment: all feeds
    frames = [
        p if isinstance(p, pd.DataFrame) else pd.DataFrame(cast(np.ndarray, p)) for p in parts
    ]
    return pd.concat(frames, ignore_index=True)
