import numpy as np
import pandas as pd
import pytest

from modelbay import TrainingError
from modelbay.train.tasks import check_target, infer_task


@pytest.mark.parametrize(
    ("values", "task"),
    [
        (["a", "b", "a"], "classification"),
        ([True, False, True], "classification"),
        ([0, 1, 2, 1, 0], "classification"),
        ([0.0, 1.0, 1.0], "classification"),
        (list(np.linspace(0, 1, 50)), "regression"),
        (list(range(100)), "regression"),
    ],
)
def test_task_is_inferred_from_the_target(values: list[object], task: str) -> None:
    assert infer_task(pd.Series(values)) == task


def test_no_target_means_clustering() -> None:
    assert infer_task(None) == "clustering"


@pytest.mark.parametrize(
    ("values", "task", "message"),
    [
        (["a", "b", "c", "a"], "regression", "is not numeric"),
        ([1.0, 1.0, 1.0], "regression", "single value"),
        (["a", "a", "a"], "classification", "single class"),
        ([0.5, 1.5, 2.25, 0.5], "classification", "fractional"),
        (["a", "a", "b"], "classification", "class 'b' .* only one row"),
        ([None, None], "classification", "has no values"),
    ],
)
def test_unusable_targets(values: list[object], task: str, message: str) -> None:
    with pytest.raises(TrainingError, match=message):
        check_target(pd.Series(values, name="y"), task)
