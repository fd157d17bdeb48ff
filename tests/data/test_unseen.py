"""Values training never saw, counted the way the model's own preprocessing reads them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelbay.data.unseen import VECTOR_ROWS, Novelty, canon, known_categories


@pytest.mark.parametrize("rows", [1, VECTOR_ROWS + 1])  # the loop and the vectorised path
def test_unseen_categories_and_unparsable_dates_are_counted_per_column(rows: int) -> None:
    novelty = Novelty({"plan": frozenset({"basic", "pro", "1", "true"})}, ["signup"])
    plans = ["basic", " pro ", 1.0, True, None, "enterprise", "gold"]  # 2 never seen
    signups = ["2024-01-05", "2024-01-05T10:00:00Z", "01/02/2024", None, "soon", "2024-13-45", "x"]
    frame = pd.DataFrame({"plan": plans * rows, "signup": signups * rows})
    found = novelty.count(frame)
    assert found["unseen_categories"] == {"plan": 2 * rows}
    assert found["unparsable_dates"] == {"signup": 3 * rows}


def test_nothing_new_says_nothing() -> None:
    novelty = Novelty({"plan": frozenset({"a"})}, ["d"])
    assert novelty.count(pd.DataFrame({"plan": ["a", None], "d": ["2024-01-01", np.nan]})) == {}
    assert not Novelty({}, []).active


def test_known_categories_are_canonical_like_the_encoders() -> None:
    assert known_categories(pd.Series([True, 2.0, " x ", None, "x"])) == ["2", "true", "x"]
    assert canon(3.0) == "3" and canon(np.bool_(False)) == "false"
