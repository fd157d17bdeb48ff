"""A JSON nesting limit checked on the raw bytes, before anything is parsed.

A body with fewer opening brackets than the limit cannot be nested deeper than it,
so the common case costs two ``bytes.count`` calls. Otherwise the depth is computed
with numpy over the bytes outside strings.
"""

from __future__ import annotations

import numpy as np

from modelbay.errors import LimitExceeded

__all__ = ["check_json_depth", "json_depth"]

_OPEN = (ord("["), ord("{"))
_CLOSE = (ord("]"), ord("}"))
_QUOTE, _BACKSLASH = ord('"'), ord("\\")


def json_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text (brackets in strings ignored)."""
    a = np.frombuffer(data, dtype=np.uint8)
    quote = a == _QUOTE
    if quote.any():
        # a quote preceded by an odd run of backslashes is escaped; runs of two or more
        # backslashes before a quote are rare enough to treat by pairs
        escaped = np.zeros_like(quote)
        escaped[1:] = (a[:-1] == _BACKSLASH) & quote[1:]
        if escaped.any():
            double = np.zeros_like(quote)
            double[2:] = escaped[2:] & (a[:-2] == _BACKSLASH)
            escaped &= ~double
        quote &= ~escaped
        inside = (np.cumsum(quote) % 2).astype(
            bool
        )  # a quote toggles; its own byte counts as inside
    else:
        inside = np.zeros(a.shape, dtype=bool)
    step = np.isin(a, _OPEN).astype(np.int32) - np.isin(a, _CLOSE).astype(np.int32)
    step[inside] = 0
    return int(np.cumsum(step).max(initial=0))


def check_json_depth(data: bytes, limit: int) -> None:
    """413 when a JSON body nests arrays and objects deeper than ``limit``."""
    if data.count(b"[") + data.count(b"{") <= limit:
        return
    depth = json_depth(data)
    if depth > limit:
        raise LimitExceeded(
            f"the JSON body nests {depth} levels deep, over the limit of {limit} "
            "(MODELBAY_MAX_JSON_DEPTH)"
        )
