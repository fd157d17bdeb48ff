"""Alert rules evaluated in the background by one process per machine."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from pathlib import Path

from modelbay.monitor.metrics import Metrics
from modelbay.monitor.service import Monitor
from modelbay.tasks import cancel

__all__ = ["AlertRunner"]

log = logging.getLogger("modelbay.monitor")


class AlertRunner:
    """Every ``interval_s``, evaluate the rules; only the worker holding ``lock_path`` does.

    The lock is an ``flock`` taken without waiting: among a server's worker processes
    exactly one evaluates (and sends webhooks); if it exits, another takes over at its
    next attempt.
    """

    def __init__(
        self, monitor: Monitor, metrics: Metrics, lock_path: Path, interval_s: float
    ) -> None:
        self.monitor = monitor
        self.metrics = metrics
        self.lock_path = Path(lock_path)
        self.interval_s = interval_s
        self._fd: int | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.interval_s > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _leader(self) -> bool:
        if self._fd is not None:
            return True
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            if not self._leader():
                continue
            try:
                for event in await asyncio.to_thread(self.monitor.evaluate_alerts):
                    self.metrics.alerts.labels(event["rule"], event["state"]).inc()
            except Exception:
                log.exception("evaluating alert rules failed")
