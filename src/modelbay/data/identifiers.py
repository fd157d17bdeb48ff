"""Columns that identify rows rather than describe them, left out of training by default.

A model that learns from ``customer_id`` learns the rows it was shown, not a rule: at
best the column is noise, at worst a leak (ids issued in time order track the target's
drift), and its drift is meaningless. The rule, kept narrow so that a real feature is
never left out silently:

- a column whose **name** reads as an identifier (``id``, ``uuid``, ``guid``, ``key``,
  ``*_id``, ``*-id``, ``* id``, ``*Id``, ``*_uuid``, ``*_key`` ...) and whose values are
  integers or strings, at least 95% of them distinct (a few repeats: the same customer
  twice, duplicated rows); or
- under **any** name, integers that are all distinct and fill a range with no gap
  (0..n-1, 1..n, 1001..1000+n: a row number, e.g. pandas' ``Unnamed: 0``).

Both need at least ``MIN_ROWS`` values: on a handful of rows every column is unique.
The trainer warns for each column it leaves out and records it on the version
(``lineage["excluded_columns"]``); ``Preprocessing(keep_columns=[...])`` (CLI
``--keep-column``) or naming it in ``features`` keeps one.
"""

from __future__ import annotations

import re

import pandas as pd

__all__ = ["MIN_ROWS", "id_reason"]

MIN_ROWS = 20
UNIQUE_SHARE = 0.95
_WORDS = r"(id|uuid|guid|key)"
_ID_NAME = re.compile(rf"^{_WORDS}$|[_\-\s.]{_WORDS}$|^{_WORDS}[_\-\s.]", re.IGNORECASE)
_CAMEL_ID = re.compile(r"[a-z0-9](Id|ID|Uuid|UUID|Key)$")


def looks_like_id_name(name: str) -> bool:
    """``id``, ``customer_id``, ``customerId``, ``ID``, ``uuid``: not ``paid``, ``valid``, ``idle``."""
    return bool(_ID_NAME.search(name) or _CAMEL_ID.search(name))


def id_reason(name: str, values: pd.Series) -> str | None:
    """Why ``values`` (a column called ``name``) identifies rows, or None when it may be a feature."""
    present = values.dropna()
    n = len(present)
    if n < MIN_ROWS:
        return None
    named = looks_like_id_name(name)
    integers = _integers(present)
    if integers is None and not (named and _strings(present)):
        return None  # floats, booleans, dates: measurements, whatever the name says
    distinct = int(present.nunique())
    if named and distinct >= UNIQUE_SHARE * n:
        share = "all" if distinct == n else f"{distinct} of"
        return f"its name reads as an identifier and {share} {n} values are distinct"
    if integers is not None and distinct == n and int(integers.max() - integers.min()) == n - 1:
        return (
            f"its {n} values are the distinct integers {int(integers.min())} to "
            f"{int(integers.max())}: a row number"
        )
    return None


def _integers(values: pd.Series) -> pd.Series | None:
    """The values as int64 when every one is a whole number (ints, or floats like 3.0)."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return None
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.astype("int64")
    if pd.api.types.is_float_dtype(values.dtype) and bool(((values % 1) == 0).all()):
        return values.astype("int64")
    return None


def _strings(values: pd.Series) -> bool:
    if values.dtype == object:
        return all(type(v) is str for v in values)
    return bool(pd.api.types.is_string_dtype(values.dtype))
