"""Values a model never saw in training, counted per request: unseen categories, unparsable dates.

The pipeline takes both without a word: an unseen category is encoded as all zeros (or
as the infrequent bucket), an unparsable date becomes a missing one and is imputed. So a
request full of surprises still gets a confident answer. Serving counts them per column
(:meth:`Novelty.count`) and says so in the response's parameters and in Prometheus.

The known categories are the training rows' values after :func:`canon`, the very
canonicalisation the model's ``CategoricalCleaner`` applies, kept in the signature
(``extra["categories"]``); a version registered without them gets no category check.
A date is unparsable when the model's own parse (pandas, ``format="mixed"``) gives
nothing for a value that is there. The common case costs little: a set lookup per
categorical value, ``datetime.fromisoformat`` per date (a vectorised ISO-8601 parse from
``VECTOR_ROWS`` rows on); only the values these miss take the slow canonical paths.
"""

from __future__ import annotations

import warnings
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["UNPARSABLE_DATES", "UNSEEN_CATEGORIES", "Novelty", "canon", "known_categories"]

UNSEEN_CATEGORIES = "unseen_categories"
UNPARSABLE_DATES = "unparsable_dates"
MAX_CATEGORIES = 10_000  # a column with more known values is not checked (nor stored)
VECTOR_ROWS = 64  # from this many rows on, a column is checked with pandas, not a loop

Counts = dict[str, dict[str, int]]


def canon(value: Any) -> str:
    """A categorical value as the model's encoder sees it (``CategoricalCleaner``)."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def known_categories(values: pd.Series) -> list[str] | None:
    """The distinct canonical values of a training column, or None when there are too many."""
    distinct = values.dropna().unique()
    if len(distinct) > MAX_CATEGORIES:
        return None
    return sorted({canon(v) for v in distinct})


class Novelty:
    """The checks of one signature's columns, built once per version.

    ``categories``: column -> the values it was trained on; ``dates``: the datetime columns.
    """

    def __init__(self, categories: dict[str, frozenset[str]], dates: list[str]) -> None:
        self.categories = categories
        self.dates = dates

    @property
    def active(self) -> bool:
        return bool(self.categories or self.dates)

    def count(self, frame: pd.DataFrame) -> Counts:
        """Per kind, the columns of ``frame`` with surprising values and how many (none: {})."""
        found: Counts = {}
        for name, known in self.categories.items():
            n = _unseen(frame[name], known)
            if n:
                found.setdefault(UNSEEN_CATEGORIES, {})[name] = n
        for name in self.dates:
            n = _unparsable(frame[name])
            if n:
                found.setdefault(UNPARSABLE_DATES, {})[name] = n
        return found


def _missing(value: Any) -> bool:
    return (
        value is None
        or value is pd.NA
        or value is pd.NaT
        or (isinstance(value, float) and value != value)
    )


def _unseen(col: pd.Series, known: frozenset[str]) -> int:
    if len(col) >= VECTOR_ROWS:
        hit = col.isin(known).to_numpy() | col.isna().to_numpy()
        if hit.all():
            return 0
        values = col.to_numpy(dtype=object)[~hit]  # not known as they are: try them canonical
    else:
        values = col.to_numpy(dtype=object)
    n = 0
    for v in values:
        if _missing(v):
            continue
        try:
            if v in known:
                continue
        except TypeError:  # unhashable (a list in a JSON row): its string is what the model sees
            pass
        if canon(v) not in known:
            n += 1
    return n


def _unparsable(col: pd.Series) -> int:
    if col.dtype.kind == "M":  # datetimes already
        return 0
    values = col.to_numpy(dtype=object)
    if len(values) >= VECTOR_ROWS:
        strings = np.fromiter((type(v) is str for v in values), bool, len(values))
        parsed = pd.to_datetime(
            pd.Series(values[strings], dtype=object), errors="coerce", utc=True, format="ISO8601"
        )
        rest = [*values[~strings], *values[strings][parsed.isna().to_numpy()]]
    else:
        rest = []
        for v in values:
            if type(v) is str:
                try:
                    datetime.fromisoformat(v)
                    continue
                except ValueError:
                    pass
            rest.append(v)
    rest = [v for v in rest if not _missing(v)]
    if not rest:
        return 0
    with warnings.catch_warnings():  # pandas warns of formats it will read otherwise one day
        warnings.simplefilter("ignore")
        again = pd.to_datetime(
            pd.Series(rest, dtype=object), errors="coerce", utc=True, format="mixed"
        )
    return int(again.isna().sum())
