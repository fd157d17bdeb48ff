"""Per-class prediction counts of model calls, whichever way a call's labels are counted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelbay.monitor.metrics import Metrics


def _counts(m: Metrics) -> dict[str, float]:
    families = {f.name: f for f in text_string_to_metric_families(m.render().decode())}
    return {
        s.labels["label"]: s.value
        for s in families["modelbay_predictions"].samples
        if s.name.endswith("_total")
    }


@pytest.mark.parametrize(
    "labels",
    [
        np.array([1]),
        np.array([0, 1, 1, 2]),  # a small call: counted one by one
        np.random.default_rng(0).integers(0, 3, 1000),  # class ids: bincount
        np.random.default_rng(1).integers(0, 5000, 300),  # large ids: np.unique
        np.random.default_rng(2).integers(-1, 2, 200),  # a negative id (-1, 1): np.unique
        np.full(100, 7),  # one class only: bincount
        np.array(["setosa", "virginica", "setosa"] * 40, dtype=object),  # names: np.unique
        np.array([True, False, True]),
    ],
    ids=[
        "one",
        "small",
        "class-ids",
        "large-ids",
        "negative-ids",
        "one-class",
        "names",
        "booleans",
    ],
)
def test_every_way_of_counting_gives_the_same_counts(labels: np.ndarray) -> None:
    m = Metrics()
    m.model_call("d", "1", labels, len(labels), 1, 0.001, "classification")
    m.model_call("d", "1", labels[:1], 1, 1, 0.001, "classification")  # one more of the first
    values, counts = np.unique(labels, return_counts=True)
    expected = {str(v): float(n) for v, n in zip(values.tolist(), counts.tolist(), strict=True)}
    expected[str(labels[:1].tolist()[0])] += 1
    assert _counts(m) == expected


def test_large_calls_are_counted_together_and_every_read_sees_them(tmp_path: Path) -> None:
    """Labels of large calls wait to be counted in one pass: past PENDING_ROWS on their
    own, and before any read (/metrics, or the file another worker reads)."""
    import orjson

    from modelbay.monitor.metrics import PENDING_ROWS

    rng = np.random.default_rng(3)
    m = Metrics(tmp_path)
    calls = [rng.integers(0, 3, 1000) for _ in range(PENDING_ROWS // 1000 + 5)]
    for labels in calls:
        m.model_call("d", "1", labels, len(labels), 1, 0.001, "classification")
    assert m._pending_rows < PENDING_ROWS  # counted on the way, not all held
    m.model_call(
        "e", "2", np.array(["a", "b"] * 100, dtype=object), 200, 1, 0.001, "classification"
    )
    m.publish()  # what the other workers read includes what waited
    snap = orjson.loads(next(tmp_path.glob("*.json")).read_bytes())["modelbay_predictions"]
    published = {tuple(key): value for key, value, _ in snap}
    every = np.concatenate(calls)
    for label in range(3):
        assert published[("d", "1", str(label))] == float((every == label).sum())
    assert published[("e", "2", "a")] == 100.0
    more = rng.integers(0, 3, 500)
    m.model_call("d", "1", more, 500, 1, 0.001, "classification")
    got = _counts(m)  # a scrape counts what waits too
    assert got["0"] == float((every == 0).sum() + (more == 0).sum())


def test_classes_seen_before_are_counted_by_comparison_and_a_new_one_still_counts() -> None:
    """Once a deployment's classes are known, a large call's labels are counted one class at
    a time; a label never seen before sends the call to the general count, which is exact."""
    rng = np.random.default_rng(7)
    m = Metrics()
    first = rng.integers(0, 2, 5000)
    m.model_call("d", "1", first, len(first), 1, 0.001, "classification")
    assert _counts(m) == {"0": float((first == 0).sum()), "1": float((first == 1).sum())}
    known = rng.integers(0, 2, 3000)  # the same two classes: counted by comparison
    m.model_call("d", "1", known, len(known), 1, 0.001, "classification")
    got = _counts(m)
    assert got == {
        "0": float((first == 0).sum() + (known == 0).sum()),
        "1": float((first == 1).sum() + (known == 1).sum()),
    }
    new = np.concatenate([rng.integers(0, 2, 999), [2]])  # class 2 appears once
    m.model_call("d", "1", new, len(new), 1, 0.001, "classification")
    got = _counts(m)
    assert got["2"] == 1.0
    assert got["0"] + got["1"] + got["2"] == float(len(first) + len(known) + len(new))
