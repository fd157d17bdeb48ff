"""Per-class prediction counts of model calls, whichever way a call's labels are counted."""

from __future__ import annotations

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
        np.array(["setosa", "virginica", "setosa"] * 40, dtype=object),  # names: np.unique
        np.array([True, False, True]),
    ],
    ids=["one", "small", "class-ids", "large-ids", "names", "booleans"],
)
def test_every_way_of_counting_gives_the_same_counts(labels: np.ndarray) -> None:
    m = Metrics()
    m.model_call("d", "1", labels, len(labels), 1, 0.001, "classification")
    m.model_call("d", "1", labels[:1], 1, 1, 0.001, "classification")  # one more of the first
    values, counts = np.unique(labels, return_counts=True)
    expected = {str(v): float(n) for v, n in zip(values.tolist(), counts.tolist(), strict=True)}
    expected[str(labels[:1].tolist()[0])] += 1
    assert _counts(m) == expected
