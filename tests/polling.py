"""Waiting in tests: poll a condition until it holds or a deadline passes, never a fixed sleep.

A fixed sleep is too short on a loaded machine and too long on an idle one; a poll returns as
soon as the condition holds and fails, naming what it waited for, when it never does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_for"]

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T | None],
    timeout: float = 30.0,
    interval: float = 0.1,
    message: str | Callable[[], str] = "",
    *,
    ignore: tuple[type[Exception], ...] = (),
) -> T:
    """Call ``condition`` every ``interval`` s until it returns a truthy value, and return it.

    After ``timeout`` s an ``AssertionError`` says what was awaited (``message``, or a
    callable that builds it then, say from a log) and what the condition last returned.
    Exceptions of the ``ignore`` types count as "not yet" (a server not listening yet).
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            last = value = condition()
        except ignore as exc:
            last = exc
        else:
            if value:
                return value
        left = deadline - time.monotonic()
        if left <= 0:
            said = message() if callable(message) else message
            raise AssertionError(
                f"waited {timeout:g} s for {said or 'a condition'}; it last gave {last!r}"
            )
        time.sleep(min(interval, left))
