"""A JSON nesting limit checked on the raw bytes, before anything is parsed.

A body with fewer opening brackets than the limit cannot be nested deeper than it,
so the common case costs two ``bytes.count`` calls. Otherwise the depth is computed
with numpy over the brackets outside strings.
"""

from __future__ import annotations

import numpy as np

from modelbay.errors import LimitExceeded

__all__ = ["check_json_depth", "json_depth"]

_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_OPEN_SQUARE, _OPEN_CURLY = ord("["), ord("{")
_COUNT_WITH_NUMPY = 4096  # bytes: smaller bodies count their brackets with bytes.count
# +1 for an opening bracket, -1 for a closing one, 0 for every other byte
_STEP = np.zeros(256, dtype=np.int8)
_STEP[[_OPEN_SQUARE, _OPEN_CURLY]] = 1
_STEP[[ord("]"), ord("}")]] = -1


def _unescaped(a: np.ndarray, quotes: np.ndarray) -> np.ndarray:
    """The quotes that are not escaped: those after an even run of backslashes."""
    run = np.zeros(quotes.size, dtype=np.int64)
    live = np.ones(quotes.size, dtype=bool)
    k = 1
    while True:
        before = quotes - k
        live &= before >= 0
        if not live.any():
            break
        hit = np.zeros(quotes.size, dtype=bool)
        hit[live] = a[before[live]] == _BACKSLASH
        live &= hit
        run += live
        k += 1
    return quotes[run % 2 == 0]


def json_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text (brackets in strings ignored).

    Only the brackets' positions are looked at: a bracket is inside a string when an odd
    number of (unescaped) quotes come before it. A 1,000-row body (240 kB) takes about a
    quarter of the time the byte-wise running sum took (1.2 ms against 4.6 here)."""
    a = np.frombuffer(data, dtype=np.uint8)
    steps = _STEP[a]
    where = np.flatnonzero(steps)
    if where.size == 0:
        return 0
    step = steps[where].astype(np.int32)
    if b'"' in data:
        quotes = np.flatnonzero(a == _QUOTE)
        if b"\\" in data:
            quotes = _unescaped(a, quotes)
        step[np.searchsorted(quotes, where) % 2 == 1] = 0
    return int(np.cumsum(step).max(initial=0))


def check_json_depth(data: bytes, limit: int) -> None:
    """413 when a JSON body nests arrays and objects deeper than ``limit``."""
    if len(data) < _COUNT_WITH_NUMPY:
        if data.count(b"[") + data.count(b"{") <= limit:
            return
    else:  # two bytes.count calls read a 240 kB body in 260 us; numpy's compares in 50
        a = np.frombuffer(data, dtype=np.uint8)
        if np.count_nonzero(a == _OPEN_SQUARE) + np.count_nonzero(a == _OPEN_CURLY) <= limit:
            return
    depth = json_depth(data)
    if depth > limit:
        raise LimitExceeded(
            f"the JSON body nests {depth} levels deep, over the limit of {limit} "
            "(MODELBAY_MAX_JSON_DEPTH)"
        )
